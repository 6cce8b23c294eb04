package org.llavapack.model.llama;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.convert.names.NameMap;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufTensorInfo;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.formats.gguf.QkPermutation;
import org.llavapack.model.Weights;
import org.llavapack.tensor.TensorInfo;

/**
 * A llama.cpp GGUF file seen as an HF Llama: the config from the {@code llama.*} metadata, the weights under HF names
 * (found by running the HF→GGUF name map of {@code converters/} forwards over the names the config implies),
 * dequantized, with the Q/K row permutation undone. This is how parity runs a GGUF export with the same forward pass
 * as the checkpoint, so the comparison measures what the export changed and nothing else.
 */
public final class GgufLlama {
    private GgufLlama() {}

    public static final String NAME_MAP = "hf-llama-to-gguf.json";

    public static Llama open(GgufFile g, String description) {
        String arch = g.getString("general.architecture").orElse("");
        if (!arch.equals("llama")) throw new BadInputException(g.source(), "GGUF architecture is '" + arch + "', parity runs 'llama' models");
        if (g.getString("general.type").orElse("model").equals("adapter")) {
            throw new BadInputException(g.source(), "a LoRA adapter GGUF has no model to run: export with --adapter, or compare the merged GGUF");
        }
        LlamaConfig cfg = config(g);
        return new Llama(cfg, new GgufWeights(g, cfg), Optional.empty(), Optional.empty(), description);
    }

    static LlamaConfig config(GgufFile g) {
        int hidden = u32(g, "llama.embedding_length");
        int heads = u32(g, "llama.attention.head_count");
        int kvHeads = g.get("llama.attention.head_count_kv").isPresent() ? u32(g, "llama.attention.head_count_kv") : heads;
        int headDim = g.get("llama.attention.key_length").isPresent() ? u32(g, "llama.attention.key_length") : hidden / heads;
        int vocab = g.get("llama.vocab_size").isPresent() ? u32(g, "llama.vocab_size")
                : Math.toIntExact(g.tensorInfo("token_embd.weight").ne()[1]);
        Optional<RopeScaling> scaling = Optional.empty();
        if (g.info("rope_freqs.weight").isPresent()) scaling = Optional.of(RopeScaling.ofFreqFactors(g.dequantize("rope_freqs.weight")));
        int bos = g.get("tokenizer.ggml.bos_token_id").isPresent() ? u32(g, "tokenizer.ggml.bos_token_id") : -1;
        List<Integer> eos = g.get("tokenizer.ggml.eos_token_id").isPresent() ? List.of(u32(g, "tokenizer.ggml.eos_token_id")) : List.of();
        try {
            return new LlamaConfig(hidden, u32(g, "llama.feed_forward_length"), u32(g, "llama.block_count"), heads, kvHeads, headDim, vocab,
                    f32(g, "llama.rope.freq_base", 10000.0), f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5),
                    g.info("output.weight").isEmpty(), scaling, bos, eos);
        } catch (IllegalArgumentException e) {
            throw new BadInputException(g.source(), e.getMessage());
        }
    }

    private static int u32(GgufFile g, String key) {
        GgufValue v = g.get(key).orElseThrow(() -> new BadInputException(g.source(), "GGUF metadata has no " + key));
        if (v instanceof GgufValue.Int i) return Math.toIntExact(i.value());
        throw new BadInputException(g.source(), "GGUF metadata " + key + " is not an integer");
    }

    private static double f32(GgufFile g, String key, double fallback) {
        Optional<GgufValue> v = g.get(key);
        if (v.isEmpty()) return fallback;
        if (v.get() instanceof GgufValue.Float f) return f.value();
        throw new BadInputException(g.source(), "GGUF metadata " + key + " is not a float");
    }

    /** HF names → GGUF tensors, dequantized to fp32 on read. */
    static final class GgufWeights implements Weights {
        private final GgufFile g;
        private final Map<String, String> ggufName = new LinkedHashMap<>();
        private final Map<String, Integer> permuteHeads = new HashMap<>();

        GgufWeights(GgufFile g, LlamaConfig cfg) {
            this.g = g;
            NameMap map = NameMap.fromResource("converters/" + NAME_MAP);
            for (String hf : hfNames(cfg)) {
                if (!(map.apply(hf) instanceof NameMap.Mapped m) || g.info(m.target()).isEmpty()) continue;
                ggufName.put(hf, m.target());
                m.permute().ifPresent(p -> permuteHeads.put(hf, p.equals("n_head") ? cfg.heads() : cfg.kvHeads()));
            }
        }

        /** Every name an HF Llama of this config can have; those the file lacks are left out. */
        private static List<String> hfNames(LlamaConfig cfg) {
            List<String> n = new ArrayList<>();
            n.add("model.embed_tokens.weight");
            for (int l = 0; l < cfg.layers(); l++) {
                String p = "model.layers." + l + ".";
                n.add(p + "input_layernorm.weight");
                for (String proj : new String[] {"q", "k", "v", "o"}) {
                    n.add(p + "self_attn." + proj + "_proj.weight");
                    n.add(p + "self_attn." + proj + "_proj.bias");
                }
                n.add(p + "post_attention_layernorm.weight");
                for (String proj : new String[] {"gate", "up", "down"}) {
                    n.add(p + "mlp." + proj + "_proj.weight");
                    n.add(p + "mlp." + proj + "_proj.bias");
                }
            }
            n.add("model.norm.weight");
            n.add("lm_head.weight");
            return n;
        }

        @Override
        public List<String> names() {
            return List.copyOf(ggufName.keySet());
        }

        @Override
        public Optional<TensorInfo> info(String name) {
            String gn = ggufName.get(name);
            if (gn == null) return Optional.empty();
            // the store view reads quantized types as F32, which is what this tensor arrives as
            return g.info(gn).map(t -> t.withName(name));
        }

        @Override
        public float[] floats(String name) {
            String gn = ggufName.get(name);
            if (gn == null) throw new BadInputException(g.source(), "no GGUF tensor for " + name);
            float[] v = g.dequantize(gn);
            Integer heads = permuteHeads.get(name);
            return heads == null ? v : unpermute(v, g.tensorInfo(gn), heads);
        }

        @Override
        public float[] rows(String name, long from, int count) {
            if (permuteHeads.containsKey(name)) return Weights.super.rows(name, from, count);
            String gn = ggufName.get(name);
            GgufTensorInfo t = g.tensorInfo(gn);
            long cols = t.ne()[0];
            if (t.ne().length != 2 || from < 0 || count < 0 || from + count > t.ne()[1]) throw new IndexOutOfBoundsException(name + " rows " + from + "+" + count);
            float[] out = new float[Math.toIntExact(count * cols)];
            g.readRows(gn, from, count, out, 0);
            return out;
        }

        /** Puts each GGUF row p back at the HF row {@link QkPermutation#sourceRow} it came from (rotate-half layout). */
        static float[] unpermute(float[] v, GgufTensorInfo t, int heads) {
            boolean oneD = t.ne().length == 1;
            long rows = oneD ? t.ne()[0] : t.ne()[1];
            int rowLen = oneD ? 1 : Math.toIntExact(t.ne()[0]);
            if (rows % heads != 0 || (rows / heads) % 2 != 0) throw new IllegalStateException(t.name() + ": " + rows + " rows for " + heads + " heads");
            float[] out = new float[v.length];
            for (long p = 0; p < rows; p++) {
                long src = QkPermutation.sourceRow(p, rows, heads);
                System.arraycopy(v, Math.toIntExact(p * rowLen), out, Math.toIntExact(src * rowLen), rowLen);
            }
            return out;
        }

        /** The coarsest ggml type among the weights, lower-cased ("q8_0", "q4_k"), or empty when none is quantized. */
        @Override
        public Optional<String> quantization() {
            GgmlType worst = null;
            for (String gn : ggufName.values()) {
                GgmlType t = g.tensorInfo(gn).type();
                if (!t.isQuantized()) continue;
                if (worst == null || bits(t) < bits(worst)) worst = t;
            }
            return Optional.ofNullable(worst).map(t -> t.name().toLowerCase(java.util.Locale.ROOT));
        }

        private static double bits(GgmlType t) {
            return t.typeSize() * 8.0 / t.blockSize();
        }

        @Override
        public String describe() {
            return g.source() + " (GGUF)";
        }
    }
}
