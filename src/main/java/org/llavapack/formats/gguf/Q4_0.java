package org.llavapack.formats.gguf;

/**
 * Q4_0: blocks of 32 as {@code f16 d; u8 qs[16]} (byte j: low nibble element j, high nibble element j+16, stored
 * q+8), x = d·(q−8). The quantizer is {@code quantize_row_q4_0_ref}: the signed value of largest magnitude (first on
 * ties) gives d = max/−8, q = min(15, (int)(x·id + 8.5f)). Java evaluates x·id and + 8.5f as two roundings, like a
 * llama.cpp build without FMA contraction (ggml-base is compiled without -mfma on x86-64).
 */
public final class Q4_0 implements BlockCodec {
    public static final Q4_0 INSTANCE = new Q4_0();
    public static final int QK = 32;
    public static final int BLOCK_BYTES = 18;

    private Q4_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public void quantize(float[] x, int xOff, int n, byte[] y, int yOff) {
        for (int b = 0; b < n / QK; b++) {
            int xi = xOff + b * QK, yi = yOff + b * BLOCK_BYTES;
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK; j++) {
                float v = x[xi + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            LE.putHalf(y, yi, d);
            for (int j = 0; j < QK / 2; j++) {
                float x0 = x[xi + j] * id;
                float x1 = x[xi + QK / 2 + j] * id;
                int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f));
                int xi1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                y[yi + 2 + j] = (byte) ((xi0 & 0xFF) | (xi1 << 4));
            }
        }
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        for (int b = 0; b < n / QK; b++) {
            int yi = yOff + b * BLOCK_BYTES, xi = xOff + b * QK;
            float d = LE.getHalf(y, yi);
            for (int j = 0; j < QK / 2; j++) {
                int q = y[yi + 2 + j] & 0xFF;
                x[xi + j] = ((q & 0x0F) - 8) * d;
                x[xi + j + QK / 2] = ((q >> 4) - 8) * d;
            }
        }
    }
}
