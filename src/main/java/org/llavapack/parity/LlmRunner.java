package org.llavapack.parity;

/** What parity asks of an LLM: a full-sequence forward and a greedy continuation. DJL ({@link LlamaForward}) or onnxruntime ({@link OnnxLlm}). */
public interface LlmRunner extends AutoCloseable {
    LlamaForward.Output forward(LlamaForward.Sequence seq);

    int[] greedy(LlamaForward.Sequence prompt, int steps);

    @Override
    void close();
}
