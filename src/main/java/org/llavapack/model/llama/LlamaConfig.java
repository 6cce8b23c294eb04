package org.llavapack.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;

/** The parts of an HF Llama {@code config.json} the forward pass needs. Read from the file, never hard-coded. */
public record LlamaConfig(int hiddenSize, int intermediateSize, int layers, int heads, int kvHeads, int headDim,
                          int vocabSize, double ropeTheta, double rmsNormEps, boolean tieWordEmbeddings,
                          Optional<RopeScaling> ropeScaling, int bosTokenId, List<Integer> eosTokenIds) {

    public LlamaConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        if (hiddenSize <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0 || vocabSize <= 0 || intermediateSize <= 0) {
            throw new IllegalArgumentException("non-positive Llama dimension");
        }
        if (heads % kvHeads != 0) throw new IllegalArgumentException(heads + " heads are not a multiple of " + kvHeads + " KV heads");
        if (headDim % 2 != 0) throw new IllegalArgumentException("RoPE needs an even head_dim, got " + headDim);
    }

    public static LlamaConfig read(Path configJson) {
        return fromJson(HfFolder.readJson(configJson), configJson);
    }

    public static LlamaConfig fromJson(JsonNode c, Path file) {
        String type = c.path("model_type").asText("");
        if (!type.equals("llama")) throw new BadInputException(file, "model_type is '" + type + "', not 'llama'");
        try {
            int hidden = need(c, "hidden_size", file);
            int heads = need(c, "num_attention_heads", file);
            int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
            List<Integer> eos = new ArrayList<>();
            JsonNode e = c.path("eos_token_id");
            if (e.isArray()) e.forEach(x -> eos.add(x.asInt()));
            else if (e.isNumber()) eos.add(e.asInt());
            return new LlamaConfig(hidden, need(c, "intermediate_size", file), need(c, "num_hidden_layers", file), heads,
                    c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asInt() : heads, headDim,
                    need(c, "vocab_size", file), c.path("rope_theta").asDouble(10000.0), c.path("rms_norm_eps").asDouble(1e-6),
                    c.path("tie_word_embeddings").asBoolean(false), RopeScaling.fromJson(c.get("rope_scaling"), file),
                    c.path("bos_token_id").asInt(-1), eos);
        } catch (IllegalArgumentException ex) {
            throw new BadInputException(file, ex.getMessage());
        }
    }

    private static int need(JsonNode c, String key, Path file) {
        if (!c.path(key).canConvertToInt()) throw new BadInputException(file, "config.json has no integer " + key);
        return c.get(key).asInt();
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    public int queryDim() {
        return heads * headDim;
    }

    /** {@code 1 / theta^(2i/d)} in fp32 (computed as transformers does: fp32 exponent, division), then rope_scaling. */
    public float[] inverseFrequencies() {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / headDim;
            inv[i] = (float) (1.0 / (float) Math.pow(ropeTheta, exponent));
        }
        return ropeScaling.map(s -> s.apply(inv)).orElse(inv);
    }

    /** fp32 bytes of one decoder layer, for deciding whether to keep the model resident. */
    public long layerParameters() {
        return (long) hiddenSize * queryDim() * 2 + 2L * hiddenSize * kvDim() + 3L * hiddenSize * intermediateSize + 2L * hiddenSize;
    }
}
