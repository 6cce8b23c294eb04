package org.llavapack.convert.onnx;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.llavapack.model.llama.LlamaConfig;

/**
 * {@code genai_config.json} in onnxruntime-genai 0.9's shape ({@code model.decoder} with input/output names,
 * {@code search}). The decoder takes {@code inputs_embeds}; genai's plain {@code llama} type feeds {@code input_ids},
 * so the file also names {@code embed_tokens.onnx} under {@code model.embedding} (the section genai's vision-language
 * types use). {@code past_present_share_buffer} is false: llavapack's graphs use growing caches
 * (onnxruntime-genai#1112).
 */
final class GenaiConfig {
    private GenaiConfig() {}

    static ObjectNode of(LlamaConfig c, int maxPositions, boolean withEmbedding) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode m = root.putObject("model");
        m.put("bos_token_id", c.bosTokenId());
        m.put("context_length", maxPositions);
        ObjectNode d = m.putObject("decoder");
        d.put("filename", Component.LLM.fileName);
        d.put("head_size", c.headDim());
        d.put("hidden_size", c.hiddenSize());
        ObjectNode in = d.putObject("inputs");
        in.put("inputs_embeds", DecoderGraph.INPUTS_EMBEDS);
        in.put("attention_mask", DecoderGraph.ATTENTION_MASK);
        in.put("past_key_names", "past_key_values.%d.key");
        in.put("past_value_names", "past_key_values.%d.value");
        ObjectNode out = d.putObject("outputs");
        out.put("logits", DecoderGraph.LOGITS);
        out.put("present_key_names", "present.%d.key");
        out.put("present_value_names", "present.%d.value");
        d.put("num_attention_heads", c.heads());
        d.put("num_hidden_layers", c.layers());
        d.put("num_key_value_heads", c.kvHeads());
        ObjectNode so = d.putObject("session_options");
        so.put("log_id", "onnxruntime-genai");
        so.putArray("provider_options");
        if (withEmbedding) {
            ObjectNode e = m.putObject("embedding");
            e.put("filename", Component.EMBED.fileName);
            e.putObject("inputs").put("input_ids", EmbedGraph.INPUT);
            e.putObject("outputs").put("inputs_embeds", EmbedGraph.OUTPUT);
        }
        var eos = c.eosTokenIds();
        if (eos.size() == 1) m.put("eos_token_id", eos.getFirst());
        else {
            var arr = m.putArray("eos_token_id");
            eos.forEach(arr::add);
        }
        m.put("pad_token_id", eos.isEmpty() ? 0 : eos.getFirst());
        m.put("type", "llama");
        m.put("vocab_size", c.vocabSize());
        ObjectNode s = root.putObject("search");
        s.put("diversity_penalty", 0.0);
        s.put("do_sample", false);
        s.put("early_stopping", true);
        s.put("length_penalty", 1.0);
        s.put("max_length", maxPositions);
        s.put("min_length", 0);
        s.put("no_repeat_ngram_size", 0);
        s.put("num_beams", 1);
        s.put("num_return_sequences", 1);
        s.put("past_present_share_buffer", false);
        s.put("repetition_penalty", 1.0);
        s.put("temperature", 1.0);
        s.put("top_k", 1);
        s.put("top_p", 1.0);
        return root;
    }
}
