package org.llavapack.parity;

import java.util.Locale;
import java.util.Optional;
import org.llavapack.model.Weights;
import org.llavapack.tensor.DType;

/**
 * Pass criteria for one comparison. Chosen by the less precise side of the pair, because the expected error is the
 * rounding of the narrower weights: fp32 ≈ 1e-5 relative (summation order only); fp16 and bf16 at their machine epsilon
 * (2⁻¹⁰, 2⁻⁷) of relative L2 error; Q8_0 by NMSE ≤ 1e-3. For the LLM, next-token top-1 agreement must also hold
 * ({@code minTop1}, counted over decisive positions: see {@link LlmMetrics#decisiveTop1}), and for fp32 the KL
 * divergence and the greedy continuation too. NaN / −1 mean "not checked".
 *
 * <p>Calibration on the tiny fixtures (PyTorch, see the report): the bf16 merge of the main LoRA adapter against the
 * unmerged fp32 forward gives logits relative L2 3.2e-3 (passes 7.8e-3); scaling layer 0's q_proj by 1.05 gives 1.35e-2
 * (fails). Rounding the Q-Former's fp32 weights to fp16 gives 4.2e-4 (passes 9.8e-4).
 */
public record Tolerance(String name, double maxRelL2, double minCosine, double minTop1, double maxKlMean, int minGreedy) {

    public static final Tolerance FP32 = new Tolerance("fp32", 1e-5, 0.99999, 1.0, 1e-6, Integer.MAX_VALUE);
    public static final Tolerance FP16 = new Tolerance("fp16", Math.scalb(1.0, -10), 0.9999, 0.98, Double.NaN, -1);
    public static final Tolerance BF16 = new Tolerance("bf16", Math.scalb(1.0, -7), 0.999, 0.98, Double.NaN, -1);
    public static final Tolerance FP8 = new Tolerance("fp8", Math.scalb(1.0, -3), 0.99, 0.90, Double.NaN, -1);
    public static final Tolerance Q8_0 = new Tolerance("q8_0", Math.sqrt(1e-3), 0.999, 0.98, Double.NaN, -1);
    /**
     * 4–6-bit block quantizations (GGUF q4_0, q4_k, q5_0, q6_k; ONNX MatMulNBits int4): llama.cpp's own figures put their weight NMSE near 1e-2, so
     * logits are checked for direction (cosine) and decisive top-1 agreement, not closeness.
     */
    public static final Tolerance Q4 = new Tolerance("q4", 0.15, 0.99, 0.90, Double.NaN, -1);

    /** The tolerance for weights that went through a block quantization, by ggml type name. */
    public static Tolerance forQuantization(String ggmlType) {
        return ggmlType.equals("q8_0") ? Q8_0 : Q4;
    }

    public static Optional<Tolerance> named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "fp32", "f32" -> Optional.of(FP32);
            case "fp16", "f16" -> Optional.of(FP16);
            case "bf16" -> Optional.of(BF16);
            case "fp8", "f8" -> Optional.of(FP8);
            case "q8_0" -> Optional.of(Q8_0);
            case "q4", "q4_0", "q4_k", "q5_0", "q6_k", "int4" -> Optional.of(Q4);
            default -> Optional.empty();
        };
    }

    public static Tolerance of(DType t) {
        return switch (t) {
            case F32, F64 -> FP32;
            case F16 -> FP16;
            case BF16 -> BF16;
            default -> FP8;
        };
    }

    /** The tolerance of the less precise of the two dtypes. */
    public static Tolerance forPair(DType reference, DType candidate) {
        return Tolerance.of(Weights.precisionBits(reference) <= Weights.precisionBits(candidate) ? reference : candidate);
    }

    /** "bf16/f32" style label of a pair. */
    public static String pairLabel(DType reference, DType candidate) {
        return reference.torchName() + " vs " + candidate.torchName();
    }

    /** User overrides from the command line; null fields keep the default. */
    public record Overrides(String name, Double maxRelL2, Double minCosine, Double minTop1, Double maxKlMean, Integer minGreedy) {
        public static final Overrides NONE = new Overrides(null, null, null, null, null, null);

        public Tolerance apply(Tolerance t) {
            Tolerance base = name == null ? t : named(name).orElseThrow(() -> new IllegalArgumentException("unknown tolerance class " + name));
            boolean any = maxRelL2 != null || minCosine != null || minTop1 != null || maxKlMean != null || minGreedy != null;
            return new Tolerance(base.name() + (any ? "+overrides" : ""), maxRelL2 != null ? maxRelL2 : base.maxRelL2(),
                    minCosine != null ? minCosine : base.minCosine(), minTop1 != null ? minTop1 : base.minTop1(),
                    maxKlMean != null ? maxKlMean : base.maxKlMean(), minGreedy != null ? minGreedy : base.minGreedy());
        }
    }
}
