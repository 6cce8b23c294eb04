package org.llavapack.formats.gguf;

/**
 * Q5_0: blocks of 32 as {@code f16 d; u8 qh[4]; u8 qs[16]}, x = d·(q−16). Written only as llama-quantize's fallback
 * for Q4_K on rows that are not a multiple of 256 ({@code tensor_type_fallback}). Quantizer:
 * {@code quantize_row_q5_0_ref} (d = max/−16, q = min(31, (int)(x·id + 16.5f)); same FMA remark as {@link Q4_0}).
 */
public final class Q5_0 implements BlockCodec {
    public static final Q5_0 INSTANCE = new Q5_0();
    public static final int QK = 32;
    public static final int BLOCK_BYTES = 22;

    private Q5_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q5_0;
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
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            LE.putHalf(y, yi, d);
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                float x0 = x[xi + j] * id;
                float x1 = x[xi + QK / 2 + j] * id;
                int xi0 = Math.min(31, (byte) (int) (x0 + 16.5f)) & 0xFF;
                int xi1 = Math.min(31, (byte) (int) (x1 + 16.5f)) & 0xFF;
                y[yi + 6 + j] = (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= ((xi0 & 0x10) >>> 4) << j;
                qh |= ((xi1 & 0x10) >>> 4) << (j + QK / 2);
            }
            LE.putInt(y, yi + 2, qh);
        }
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        for (int b = 0; b < n / QK; b++) {
            int yi = yOff + b * BLOCK_BYTES, xi = xOff + b * QK;
            float d = LE.getHalf(y, yi);
            int qh = LE.getInt(y, yi + 2);
            for (int j = 0; j < QK / 2; j++) {
                int q = y[yi + 6 + j] & 0xFF;
                int xh0 = ((qh >>> j) << 4) & 0x10;
                int xh1 = (qh >>> (j + 12)) & 0x10;
                x[xi + j] = (((q & 0x0F) | xh0) - 16) * d;
                x[xi + j + QK / 2] = (((q >> 4) | xh1) - 16) * d;
            }
        }
    }
}
