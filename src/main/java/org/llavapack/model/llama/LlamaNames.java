package org.llavapack.model.llama;

/** HF {@code LlamaForCausalLM} tensor names ([out, in] weights). */
public final class LlamaNames {
    private LlamaNames() {}

    public static final String EMBED = "model.embed_tokens.weight";
    public static final String NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    /** The seven projections LoRA targets in Llama, in PEFT's registration order. */
    public enum Projection {
        Q("self_attn.q_proj"), K("self_attn.k_proj"), V("self_attn.v_proj"), O("self_attn.o_proj"),
        GATE("mlp.gate_proj"), UP("mlp.up_proj"), DOWN("mlp.down_proj");

        private final String path;

        Projection(String path) {
            this.path = path;
        }

        /** Module path, e.g. {@code model.layers.3.self_attn.q_proj}: the key PEFT and LoRA maps use. */
        public String module(int layer) {
            return "model.layers." + layer + "." + path;
        }

        public String weight(int layer) {
            return module(layer) + ".weight";
        }

        /** The leaf name ({@code q_proj}) that target_modules lists. */
        public String leaf() {
            return path.substring(path.indexOf('.') + 1);
        }
    }

    public static String inputNorm(int layer) {
        return "model.layers." + layer + ".input_layernorm.weight";
    }

    public static String postAttentionNorm(int layer) {
        return "model.layers." + layer + ".post_attention_layernorm.weight";
    }

    /** lm_head, or the embedding matrix when the config ties them. */
    public static String lmHead(LlamaConfig config) {
        return config.tieWordEmbeddings() ? EMBED : LM_HEAD;
    }
}
