package org.llavapack.parity;

import java.util.Map;
import org.llavapack.model.llama.LlamaConfig;

/**
 * The exported LLM under parity: prompt tokens through {@code embed_tokens.onnx}, image rows spliced at the
 * placeholder, logits from one decoder prefill; the greedy continuation uses the KV cache (one prefill, then one step
 * per token), so it also checks the cache against the reference's full-sequence decoding.
 */
final class OnnxLlm implements LlmRunner {
    private final OnnxModels models;
    private final LlamaConfig c;
    private final OnnxDecoder decoder;

    OnnxLlm(OnnxModels models, LlamaConfig c) {
        this.models = models;
        this.c = c;
        this.decoder = new OnnxDecoder(models, c.layers(), c.kvHeads(), c.headDim(), c.hiddenSize(), c.vocabSize());
    }

    float[] embedTokens(int[] ids) {
        if (ids.length == 0) return new float[0];
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= c.vocabSize()) throw new IllegalArgumentException("token id " + ids[i] + " is outside the vocabulary (" + c.vocabSize() + ")");
            l[i] = ids[i];
        }
        return models.run("embed_tokens.onnx", Map.of("input_ids", new OnnxModels.Input.Longs(l, 1, l.length)), "inputs_embeds");
    }

    float[] embed(LlamaForward.Sequence seq) {
        int h = c.hiddenSize();
        float[] out = new float[seq.length() * h];
        int pos = 0;
        for (int t : seq.tokens()) {
            if (t == LlamaForward.IMAGE_TOKEN) {
                System.arraycopy(seq.imageRows(), 0, out, pos * h, seq.imageTokens() * h);
                pos += seq.imageTokens();
            } else {
                System.arraycopy(embedTokens(new int[] {t}), 0, out, pos * h, h);
                pos++;
            }
        }
        return out;
    }

    @Override
    public LlamaForward.Output forward(LlamaForward.Sequence seq) {
        decoder.reset();
        float[] logits = decoder.step(embed(seq), seq.length());
        decoder.reset();
        return new LlamaForward.Output(seq.length(), c.vocabSize(), logits, new java.util.LinkedHashMap<>());
    }

    @Override
    public int[] greedy(LlamaForward.Sequence prompt, int steps) {
        return decoder.greedy(embed(prompt), prompt.length(), steps, t -> embedTokens(new int[] {t}));
    }

    @Override
    public void close() {
        decoder.close();
    }
}
