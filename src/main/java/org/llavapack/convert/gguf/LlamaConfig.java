package org.llavapack.convert.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;

/** The hyper-parameters of an HF Llama {@code config.json} that the GGUF export needs. */
public record LlamaConfig(Path file, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim,
                          boolean headDimInConfig, int vocab, double ropeTheta, double rmsEps, int contextLength,
                          JsonNode ropeScaling, boolean tiedEmbeddings) {

    public static LlamaConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new BadInputException(modelDir, "no config.json (expected a Hugging Face Llama model folder)");
        JsonNode c = HfFolder.readJson(file);
        String modelType = c.path("model_type").asText("");
        boolean llamaArch = false;
        for (JsonNode a : c.path("architectures")) llamaArch |= a.asText().equals("LlamaForCausalLM");
        if (!modelType.equals("llama") && !llamaArch) {
            throw new BadInputException(file, "model_type '" + modelType + "' is not a Llama model (export gguf supports LlamaForCausalLM)");
        }
        int hidden = positive(c, "hidden_size", file);
        int heads = positive(c, "num_attention_heads", file);
        int kv = c.hasNonNull("num_key_value_heads") ? positive(c, "num_key_value_heads", file) : heads;
        boolean hdIn = c.hasNonNull("head_dim");
        int headDim = hdIn ? positive(c, "head_dim", file) : hidden / heads;
        if (!hdIn && hidden % heads != 0) throw new BadInputException(file, "hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        if (heads % kv != 0) throw new BadInputException(file, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
        if (headDim % 2 != 0) throw new BadInputException(file, "head_dim " + headDim + " is odd; RoPE needs pairs");
        JsonNode rs = c.get("rope_scaling");
        return new LlamaConfig(file, hidden, positive(c, "intermediate_size", file), positive(c, "num_hidden_layers", file), heads, kv,
                headDim, hdIn, positive(c, "vocab_size", file), c.path("rope_theta").asDouble(10000.0), c.path("rms_norm_eps").asDouble(1e-6),
                c.hasNonNull("max_position_embeddings") ? positive(c, "max_position_embeddings", file) : 2048,
                rs == null || rs.isNull() ? null : rs, c.path("tie_word_embeddings").asBoolean(false));
    }

    private static int positive(JsonNode c, String key, Path file) {
        JsonNode n = c.get(key);
        if (n == null || !n.canConvertToInt() || n.asInt() <= 0 || !n.isIntegralNumber()) {
            throw new BadInputException(file, key + " must be a positive integer, found " + n);
        }
        return n.asInt();
    }

    /** The RoPE scaling type ("llama3", "linear", "yarn", …) or null. */
    public String ropeType() {
        if (ropeScaling == null) return null;
        String t = ropeScaling.path("rope_type").asText(null);
        if (t == null) t = ropeScaling.path("type").asText(null);
        return t == null ? null : t.toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * {@code rope_freqs.weight} for rope type llama3 (convert_hf_to_gguf.py {@code generate_extra_tensors}): per
     * frequency pair, 1 for short wavelengths, {@code factor} for long ones and a smooth blend between; llama.cpp
     * divides the rotation frequency by it. Computed in double and rounded once (the converter uses float32 torch ops,
     * so the blend band can differ from it in the last bit).
     */
    public float[] llama3RopeFreqs() {
        double factor = ropeScaling.path("factor").asDouble(8.0);
        double low = ropeScaling.path("low_freq_factor").asDouble(1.0);
        double high = ropeScaling.path("high_freq_factor").asDouble(4.0);
        double oldCtx = ropeScaling.path("original_max_position_embeddings").asDouble(8192);
        double lowWavelen = oldCtx / low, highWavelen = oldCtx / high;
        float[] out = new float[headDim / 2];
        for (int i = 0; i < out.length; i++) {
            double freq = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
            double wavelen = 2 * Math.PI / freq;
            double v;
            if (wavelen < highWavelen) v = 1;
            else if (wavelen > lowWavelen) v = factor;
            else {
                double smooth = (oldCtx / wavelen - low) / (high - low);
                v = 1 / ((1 - smooth) / factor + smooth);
            }
            out[i] = (float) v;
        }
        return out;
    }
}
