package org.llavapack.formats.gguf;

/**
 * Types llavapack reads (so {@code inspect} and {@code parity} can dequantize files made by other tools) but never
 * writes: Q4_1, Q5_1, Q2_K, Q3_K, Q5_K. Ports of ggml's {@code dequantize_row_*}.
 */
final class DequantOnly implements BlockCodec {
    private final GgmlType type;

    DequantOnly(GgmlType type) {
        this.type = type;
    }

    @Override
    public GgmlType type() {
        return type;
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, byte[] dst, int dstOff) {
        throw new UnsupportedOperationException("llavapack does not write " + type + " tensors");
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        int blocks = n / type.blockSize();
        for (int b = 0; b < blocks; b++) {
            int yb = yOff + b * type.typeSize(), xb = xOff + b * type.blockSize();
            switch (type) {
                case Q4_1 -> q4_1(y, yb, x, xb);
                case Q5_1 -> q5_1(y, yb, x, xb);
                case Q2_K -> q2_K(y, yb, x, xb);
                case Q3_K -> q3_K(y, yb, x, xb);
                case Q5_K -> q5_K(y, yb, x, xb);
                default -> throw new IllegalStateException(type.toString());
            }
        }
    }

    private static void q4_1(byte[] y, int yb, float[] x, int xb) {
        float d = LE.getHalf(y, yb), m = LE.getHalf(y, yb + 2);
        for (int j = 0; j < 16; j++) {
            int q = y[yb + 4 + j] & 0xFF;
            x[xb + j] = (q & 0x0F) * d + m;
            x[xb + j + 16] = (q >> 4) * d + m;
        }
    }

    private static void q5_1(byte[] y, int yb, float[] x, int xb) {
        float d = LE.getHalf(y, yb), m = LE.getHalf(y, yb + 2);
        int qh = LE.getInt(y, yb + 4);
        for (int j = 0; j < 16; j++) {
            int q = y[yb + 8 + j] & 0xFF;
            int xh0 = ((qh >>> j) << 4) & 0x10;
            int xh1 = (qh >>> (j + 12)) & 0x10;
            x[xb + j] = ((q & 0x0F) | xh0) * d + m;
            x[xb + j + 16] = ((q >> 4) | xh1) * d + m;
        }
    }

    private static void q2_K(byte[] y, int yb, float[] x, int xo) {
        float d = LE.getHalf(y, yb + 80), min = LE.getHalf(y, yb + 82);
        int q = yb + 16, is = 0;
        for (int n = 0; n < 256; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; j++) {
                int sc = y[yb + is++] & 0xFF;
                float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++) x[xo++] = dl * (((y[q + l] & 0xFF) >> shift) & 3) - ml;
                sc = y[yb + is++] & 0xFF;
                dl = d * (sc & 0xF);
                ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++) x[xo++] = dl * (((y[q + l + 16] & 0xFF) >> shift) & 3) - ml;
                shift += 2;
            }
            q += 32;
        }
    }

    private static void q3_K(byte[] y, int yb, float[] x, int xo) {
        final int kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        float dAll = LE.getHalf(y, yb + 108);
        int a0 = LE.getInt(y, yb + 96), a1 = LE.getInt(y, yb + 100), tmp = LE.getInt(y, yb + 104);
        int[] aux = new int[4];
        aux[2] = ((a0 >>> 4) & kmask2) | (((tmp >>> 4) & kmask1) << 4);
        aux[3] = ((a1 >>> 4) & kmask2) | (((tmp >>> 6) & kmask1) << 4);
        aux[0] = (a0 & kmask2) | (((tmp >>> 0) & kmask1) << 4);
        aux[1] = (a1 & kmask2) | (((tmp >>> 2) & kmask1) << 4);
        byte[] scales = new byte[16];
        for (int i = 0; i < 16; i++) scales[i] = (byte) (aux[i / 4] >>> (8 * (i % 4)));
        int q = yb + 32, hm = yb;
        int m = 1, is = 0;
        for (int n = 0; n < 256; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; j++) {
                float dl = dAll * (scales[is++] - 32);
                for (int l = 0; l < 16; l++) {
                    x[xo++] = dl * ((((y[q + l] & 0xFF) >> shift) & 3) - ((y[hm + l] & m) != 0 ? 0 : 4));
                }
                dl = dAll * (scales[is++] - 32);
                for (int l = 0; l < 16; l++) {
                    x[xo++] = dl * ((((y[q + l + 16] & 0xFF) >> shift) & 3) - ((y[hm + l + 16] & m) != 0 ? 0 : 4));
                }
                shift += 2;
                m <<= 1;
            }
            q += 32;
        }
    }

    private static void q5_K(byte[] y, int yb, float[] x, int xo) {
        float d = LE.getHalf(y, yb), min = LE.getHalf(y, yb + 2);
        int ql = yb + 48, qh = yb + 16, is = 0;
        int u1 = 1, u2 = 2;
        for (int j = 0; j < 256; j += 64) {
            float d1 = d * Q4_K.scaleAt(y, yb + 4, is), m1 = min * Q4_K.minAt(y, yb + 4, is);
            float d2 = d * Q4_K.scaleAt(y, yb + 4, is + 1), m2 = min * Q4_K.minAt(y, yb + 4, is + 1);
            for (int l = 0; l < 32; l++) x[xo++] = d1 * ((y[ql + l] & 0xF) + ((y[qh + l] & u1) != 0 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) x[xo++] = d2 * (((y[ql + l] & 0xFF) >> 4) + ((y[qh + l] & u2) != 0 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}
