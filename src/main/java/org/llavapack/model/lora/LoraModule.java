package org.llavapack.model.lora;

import java.util.Optional;

/**
 * One base layer that the adapter changes with a low-rank update, after validation against the base model.
 *
 * @param module the module key, e.g. {@code model.layers.0.self_attn.q_proj} (what patterns and targets match)
 * @param weight the base tensor the update is added to, {@code <module>.weight}
 * @param kind how the product lines up with the stored weight
 * @param loraA adapter tensor A [r, in] (for embeddings: [r, num_embeddings])
 * @param loraB adapter tensor B [out, r] (for embeddings: [embedding_dim, r])
 * @param rank r, checked against A, B and the config
 * @param scale s, from alpha and r (see {@link LoraConfig#rankFor})
 * @param magnitude DoRA's {@code lora_magnitude_vector} [out], when the adapter uses DoRA
 * @param loraBias newer peft's {@code lora_B.bias} [out], added (times s) to the base bias {@code <module>.bias}
 * @param rows rows of the stored weight
 * @param cols columns of the stored weight
 */
public record LoraModule(String module, String weight, Kind kind, String loraA, String loraB, int rank, float scale,
                         Optional<String> magnitude, Optional<String> loraBias, long rows, long cols) {

    /**
     * The layer types peft wraps, a closed set. What matters for the merge is whether the stored weight is [out, in]
     * (ΔW = B·A) or [in, out] (ΔW = (B·A)ᵀ = Aᵀ·Bᵀ): GPT-2's Conv1D (fan_in_fan_out) and nn.Embedding store it
     * transposed relative to the product.
     */
    public enum Kind {
        LINEAR(false),
        CONV1D(true),
        EMBEDDING(true);

        private final boolean transposed;

        Kind(boolean transposed) {
            this.transposed = transposed;
        }

        /** True when the stored weight's rows are the product's columns. */
        public boolean transposed() {
            return transposed;
        }
    }

    /** The base bias this module's lora_B.bias is added to. */
    public String bias() {
        return module + ".bias";
    }
}
