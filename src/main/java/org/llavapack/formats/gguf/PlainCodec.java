package org.llavapack.formats.gguf;

/**
 * The unblocked types. F16 and BF16 round to nearest even exactly as ggml does ({@code ggml_compute_fp32_to_fp16},
 * {@code ggml_compute_fp32_to_bf16}), including its NaN encodings; integer types decode by value.
 */
final class PlainCodec implements BlockCodec {
    private final GgmlType type;

    PlainCodec(GgmlType type) {
        this.type = type;
    }

    @Override
    public GgmlType type() {
        return type;
    }

    /** ggml's fp32 → fp16: IEEE round-to-nearest-even, overflow to ±inf, NaN → sign | 0x7E00. */
    static short toHalf(float v) {
        if (Float.isNaN(v)) return (short) (((Float.floatToRawIntBits(v) >>> 16) & 0x8000) | 0x7E00);
        return Float.floatToFloat16(v);
    }

    /** ggml's fp32 → bf16: NaN → (u >> 16) | 64; otherwise round to nearest even. */
    static short toBf16(float v) {
        int u = Float.floatToRawIntBits(v);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 64);
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, byte[] dst, int dstOff) {
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) LE.putInt(dst, dstOff + 4 * i, Float.floatToRawIntBits(src[srcOff + i]));
            }
            case F16 -> {
                for (int i = 0; i < n; i++) LE.putShort(dst, dstOff + 2 * i, toHalf(src[srcOff + i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) LE.putShort(dst, dstOff + 2 * i, toBf16(src[srcOff + i]));
            }
            default -> throw new UnsupportedOperationException("llavapack does not write " + type + " tensors");
        }
    }

    @Override
    public void dequantize(byte[] src, int srcOff, int n, float[] dst, int dstOff) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = switch (type) {
                case F32 -> Float.intBitsToFloat(LE.getInt(src, srcOff + 4 * i));
                case F16 -> Float.float16ToFloat(LE.getShort(src, srcOff + 2 * i));
                case BF16 -> Float.intBitsToFloat((LE.getShort(src, srcOff + 2 * i) & 0xFFFF) << 16);
                case F64 -> (float) Double.longBitsToDouble(LE.getLong(src, srcOff + 8 * i));
                case I8 -> src[srcOff + i];
                case I16 -> LE.getShort(src, srcOff + 2 * i);
                case I32 -> LE.getInt(src, srcOff + 4 * i);
                case I64 -> LE.getLong(src, srcOff + 8 * i);
                default -> throw new IllegalStateException(type.toString());
            };
        }
    }
}
