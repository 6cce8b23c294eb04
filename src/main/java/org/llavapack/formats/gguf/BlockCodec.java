package org.llavapack.formats.gguf;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Converts between f32 values and one ggml type's bytes, a row (a multiple of the block size) at a time. Instances
 * are stateless and thread-safe, so rows of one tensor can be encoded in parallel.
 */
public interface BlockCodec {

    GgmlType type();

    /** Encodes {@code n} values {@code src[srcOff…]} into {@code dst[dstOff…]} ({@code type().rowBytes(n)} bytes). */
    void quantize(float[] src, int srcOff, int n, byte[] dst, int dstOff);

    /** Decodes {@code n} values from {@code src[srcOff…]} into {@code dst[dstOff…]}. */
    void dequantize(byte[] src, int srcOff, int n, float[] dst, int dstOff);

    /** The codec for {@code type}; types the reader can only dequantize throw on {@link #quantize}. */
    static BlockCodec of(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, F64, I8, I16, I32, I64 -> new PlainCodec(type);
            case Q8_0 -> Q8_0.INSTANCE;
            case Q4_0 -> Q4_0.INSTANCE;
            case Q5_0 -> Q5_0.INSTANCE;
            case Q4_K -> Q4_K.INSTANCE;
            case Q6_K -> Q6_K.INSTANCE;
            case Q4_1, Q5_1, Q2_K, Q3_K, Q5_K -> new DequantOnly(type);
            default -> throw new UnsupportedOperationException("ggml type " + type + " is not supported");
        };
    }

    /** Little-endian access to byte arrays, shared by the codecs. */
    final class LE {
        private LE() {}

        private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
        private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
        private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

        public static short getShort(byte[] b, int off) {
            return (short) SHORT.get(b, off);
        }

        public static void putShort(byte[] b, int off, short v) {
            SHORT.set(b, off, v);
        }

        public static int getInt(byte[] b, int off) {
            return (int) INT.get(b, off);
        }

        public static void putInt(byte[] b, int off, int v) {
            INT.set(b, off, v);
        }

        public static long getLong(byte[] b, int off) {
            return (long) LONG.get(b, off);
        }

        public static void putLong(byte[] b, int off, long v) {
            LONG.set(b, off, v);
        }

        /** f16 at {@code off} widened to f32 (exact). */
        public static float getHalf(byte[] b, int off) {
            return Float.float16ToFloat(getShort(b, off));
        }

        /** {@code v} rounded to f16 (nearest even, as GGML_FP32_TO_FP16) and stored at {@code off}. */
        public static void putHalf(byte[] b, int off, float v) {
            putShort(b, off, Float.floatToFloat16(v));
        }
    }
}
