package org.llavapack.convert.onnx;

import java.util.Optional;

/**
 * Weight precision of an export. Activations, norms, softmax, residual sums and graph I/O stay fp32 in every
 * variant: CPU kernels have no bf16 MatMul, GroupQueryAttention on CPU takes fp32 only, and fp16 activations overflow
 * into NaN rows (spec §6). fp16 weights are stored as FLOAT16 initializers followed by a Cast. INT4 quantizes the
 * decoder's matrices (QKV, o, gate, up, down, lm_head) to {@code com.microsoft:MatMulNBits} blocks of 32; the
 * embedding, norms, vision tower and connector stay fp32.
 */
public enum Precision {
    FP32("fp32"), FP16("fp16"), INT4("int4"), INT4_ASYMMETRIC("int4 (asymmetric)");

    public final String label;

    Precision(String label) {
        this.label = label;
    }

    public boolean isInt4() {
        return this == INT4 || this == INT4_ASYMMETRIC;
    }

    /** {@code fp32}, {@code fp16}, {@code int4}; {@code asymmetric} picks zero points for int4. */
    public static Optional<Precision> parse(String s, boolean asymmetric) {
        return switch (s) {
            case "fp32" -> Optional.of(FP32);
            case "fp16" -> Optional.of(FP16);
            case "int4" -> Optional.of(asymmetric ? INT4_ASYMMETRIC : INT4);
            default -> Optional.empty();
        };
    }
}
