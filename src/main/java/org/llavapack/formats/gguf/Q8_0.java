package org.llavapack.formats.gguf;

/**
 * Q8_0: blocks of 32 as {@code f16 d; i8 qs[32]}, x = d·q. The quantizer is {@code quantize_row_q8_0_ref}:
 * d = amax/127, id = 1/d from the unrounded d, q = roundf(x·id) (half away from zero). Nothing in it depends on
 * operation order or FMA, so the bytes equal llama.cpp's on every platform.
 */
public final class Q8_0 implements BlockCodec {
    public static final Q8_0 INSTANCE = new Q8_0();
    public static final int QK = 32;
    public static final int BLOCK_BYTES = 34;

    private Q8_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public void quantize(float[] x, int xOff, int n, byte[] y, int yOff) {
        quantizeScalar(x, xOff, n, y, yOff);
    }

    static void quantizeScalar(float[] x, int xOff, int n, byte[] y, int yOff) {
        for (int b = 0; b < n / QK; b++) {
            int xi = xOff + b * QK, yi = yOff + b * BLOCK_BYTES;
            float amax = 0.0f;
            for (int j = 0; j < QK; j++) {
                float a = Math.abs(x[xi + j]);
                amax = amax > a ? amax : a; // ggml's MAX(amax, fabsf(v)), NaN behaviour included
            }
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            LE.putHalf(y, yi, d);
            for (int j = 0; j < QK; j++) {
                // roundf without branches: truncate |v|, add 1 if the (exact) fraction is at least 0.5, restore the sign
                float v = x[xi + j] * id;
                float a = Math.abs(v);
                int r = (int) a;
                r += (a - r >= 0.5f) ? 1 : 0;
                int sign = Float.floatToRawIntBits(v) >> 31;
                y[yi + 2 + j] = (byte) ((r ^ sign) - sign);
            }
        }
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        for (int b = 0; b < n / QK; b++) {
            int yi = yOff + b * BLOCK_BYTES, xi = xOff + b * QK;
            float d = LE.getHalf(y, yi);
            for (int j = 0; j < QK; j++) x[xi + j] = y[yi + 2 + j] * d;
        }
    }
}
