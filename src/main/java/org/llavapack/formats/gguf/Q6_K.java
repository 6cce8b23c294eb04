package org.llavapack.formats.gguf;

import static org.llavapack.formats.gguf.QuantMath.nearestInt;

/**
 * Q6_K: super-blocks of 256 as {@code u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: sixteen groups of 16 with an
 * 8-bit scale each, x = d·scale·(q−32). The quantizer is a line-by-line port of {@code quantize_row_q6_K_ref} and
 * {@code make_qx_quants(16, 32, …, rmse_type 1, weights NULL)} with ggml's float operation order and no FMA.
 */
public final class Q6_K implements BlockCodec {
    public static final Q6_K INSTANCE = new Q6_K();
    public static final int QK_K = 256;
    public static final int BLOCK_BYTES = 210;
    private static final float GROUP_MAX_EPS = 1e-15f;

    private Q6_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public void quantize(float[] x, int xOff, int n, byte[] y, int yOff) {
        quantize(x, xOff, n, y, yOff, KQuantLanes.ENABLED);
    }

    /** The sixteen groups' searches, eight per vector pass (bit-identical to the scalar port). */
    private static void searchLanes(float[] x, int xb, int[] L, float[] scales, KQuantLanes.Work k) {
        for (int half = 0; half < 2; half++) {
            for (int g = 0; g < 8; g++) for (int i = 0; i < 16; i++) k.x[i * 8 + g] = x[xb + 16 * (8 * half + g) + i];
            KQuantLanes.makeQx(16, 32, k);
            System.arraycopy(k.scale, 0, scales, 8 * half, 8);
            for (int g = 0; g < 8; g++) for (int i = 0; i < 16; i++) L[16 * (8 * half + g) + i] = k.l[i * 8 + g];
        }
    }

    void quantize(float[] x, int xOff, int n, byte[] y, int yOff, boolean lanes) {
        KQuantLanes.Work work = lanes ? new KQuantLanes.Work() : null;
        int[] L = new int[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int b = 0; b < n / QK_K; b++) {
            int xb = xOff + b * QK_K, yb = yOff + b * BLOCK_BYTES;
            float maxScale = 0, maxAbsScale = 0;
            if (lanes) {
                searchLanes(x, xb, L, scales, work);
            } else {
                for (int ib = 0; ib < QK_K / 16; ib++) scales[ib] = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib);
            }
            for (int ib = 0; ib < QK_K / 16; ib++) {
                float scale = scales[ib];
                float absScale = Math.abs(scale);
                if (absScale > maxAbsScale) {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }
            if (maxAbsScale < GROUP_MAX_EPS) {
                java.util.Arrays.fill(y, yb, yb + BLOCK_BYTES, (byte) 0);
                LE.putHalf(y, yb + 208, 0.f);
                continue;
            }
            float iscale = -128.f / maxScale;
            LE.putHalf(y, yb + 208, 1 / iscale);
            for (int ib = 0; ib < QK_K / 16; ib++) {
                y[yb + 192 + ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
            }
            float dAll = LE.getHalf(y, yb + 208);
            for (int j = 0; j < QK_K / 16; j++) {
                float d = dAll * y[yb + 192 + j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt(x[xb + 16 * j + ii] / d);
                    l = Math.max(-32, Math.min(31, l));
                    L[16 * j + ii] = l + 32;
                }
            }
            int ql = yb, qh = yb + 128;
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; l++) {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    y[ql + l] = (byte) (q1 | (q3 << 4));
                    y[ql + l + 32] = (byte) (q2 | (q4 << 4));
                    y[qh + l] = (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
                }
                ql += 64;
                qh += 32;
            }
        }
    }

    /** {@code make_qx_quants} with rmse_type 1 and no importance weights (w = x²); L holds l + nmax. */
    static float makeQxQuants(int n, int nmax, float[] x, int xo, int[] L, int lo) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xo + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lo + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * x[xo + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lo + i] = l + nmax;
            float w = x[xo + i] * x[xo + i];
            sumlx += w * x[xo + i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * x[xo + i]);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = x[xo + i] * x[xo + i];
                sumlx += w * x[xo + i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xo + i]);
                    L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        for (int b = 0; b < n / QK_K; b++) {
            int yb = yOff + b * BLOCK_BYTES, xo = xOff + b * QK_K;
            float d = LE.getHalf(y, yb + 208);
            int ql = yb, qh = yb + 128, sc = yb + 192;
            for (int nn = 0; nn < QK_K; nn += 128) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int h = y[qh + l] & 0xFF;
                    int q1 = (byte) ((y[ql + l] & 0xF) | (((h >> 0) & 3) << 4)) - 32;
                    int q2 = (byte) ((y[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                    int q3 = (byte) (((y[ql + l] & 0xFF) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                    int q4 = (byte) (((y[ql + l + 32] & 0xFF) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                    x[xo + l] = d * y[sc + is] * q1;
                    x[xo + l + 32] = d * y[sc + is + 2] * q2;
                    x[xo + l + 64] = d * y[sc + is + 4] * q3;
                    x[xo + l + 96] = d * y[sc + is + 6] * q4;
                }
                xo += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
        }
    }
}
