package org.llavapack.formats.gguf;

import static org.llavapack.formats.gguf.QuantMath.nearestInt;

/**
 * Q4_K: super-blocks of 256 as {@code f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: eight sub-blocks of 32 with
 * 6-bit scale and min, x = d·sc·q − dmin·m. The quantizer is a line-by-line port of {@code quantize_row_q4_K_ref}
 * and {@code make_qkx2_quants} (ggml-quants.c) with the same float operation order and no FMA, which is what
 * llama-quantize runs without an importance matrix on an x86-64 build.
 */
public final class Q4_K implements BlockCodec {
    public static final Q4_K INSTANCE = new Q4_K();
    public static final int QK_K = 256;
    public static final int BLOCK_BYTES = 144;

    private Q4_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public void quantize(float[] x, int xOff, int n, byte[] y, int yOff) {
        int[] L = new int[QK_K];
        int[] laux = new int[32];
        float[] weights = new float[32];
        float[] mins = new float[QK_K / 32];
        float[] scales = new float[QK_K / 32];
        float[] theMin = new float[1];
        byte[] sc12 = new byte[12];
        for (int b = 0; b < n / QK_K; b++) {
            int xb = xOff + b * QK_K, yb = yOff + b * BLOCK_BYTES;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < QK_K / 32; j++) {
                float sumX2 = 0;
                for (int l = 0; l < 32; l++) sumX2 += x[xb + 32 * j + l] * x[xb + 32 * j + l];
                float avX = (float) Math.sqrt(sumX2 / 32);
                for (int l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xb + 32 * j + l]);
                scales[j] = makeQkx2Quants(32, 15, x, xb + 32 * j, weights, L, 32 * j, theMin, laux, -1.f, 0.1f, 20);
                mins[j] = theMin[0];
            }
            for (int j = 0; j < QK_K / 32; j++) {
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
            float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
            java.util.Arrays.fill(sc12, (byte) 0);
            for (int j = 0; j < QK_K / 32; j++) {
                int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
                int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
                if (j < 4) {
                    sc12[j] = (byte) ls;
                    sc12[j + 4] = (byte) lm;
                } else {
                    sc12[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                    sc12[j - 4] |= (byte) ((ls >> 4) << 6);
                    sc12[j] |= (byte) ((lm >> 4) << 6);
                }
            }
            LE.putHalf(y, yb, maxScale / 63.f);
            LE.putHalf(y, yb + 2, maxMin / 63.f);
            System.arraycopy(sc12, 0, y, yb + 4, 12);
            float dAll = LE.getHalf(y, yb), dminAll = LE.getHalf(y, yb + 2);
            for (int j = 0; j < QK_K / 32; j++) {
                int sc = scale(sc12, j), m = min(sc12, j);
                float d = dAll * sc;
                if (d == 0) continue;
                float dm = dminAll * m;
                for (int ii = 0; ii < 32; ii++) {
                    int l = nearestInt((x[xb + 32 * j + ii] + dm) / d);
                    L[32 * j + ii] = Math.max(0, Math.min(15, l));
                }
            }
            int q = yb + 16;
            for (int j = 0; j < QK_K; j += 64) {
                for (int l = 0; l < 32; l++) y[q + l] = (byte) (L[j + l] | (L[j + l + 32] << 4));
                q += 32;
            }
        }
    }

    /** {@code make_qkx2_quants} with use_mad = false; L and Laux hold values 0…nmax. */
    static float makeQkx2Quants(int n, int nmax, float[] x, int xo, float[] weights, int[] L, int lo, float[] theMin,
                                int[] laux, float rmin, float rdelta, int nstep) {
        float min = x[xo], max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) min = x[xo + i];
            if (x[xo + i] > max) max = x[xo + i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[xo + i];
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) L[lo + i] = 0;
            theMin[0] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[xo + i] - min));
            L[lo + i] = Math.max(0, Math.min(nmax, l));
            float diff = scale * L[lo + i] + min - x[xo + i];
            diff = diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1) {
            theMin[0] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[xo + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[xo + i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[xo + i];
                    diff = diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError) {
                    for (int i = 0; i < n; i++) L[lo + i] = laux[i];
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[0] = -min;
        return scale;
    }

    /** {@code get_scale_min_k4}: the 6-bit scale of sub-block j. */
    static int scale(byte[] q, int j) {
        return j < 4 ? q[j] & 63 : (q[j + 4] & 0xF) | (((q[j - 4] & 0xFF) >> 6) << 4);
    }

    /** {@code get_scale_min_k4}: the 6-bit min of sub-block j. */
    static int min(byte[] q, int j) {
        return j < 4 ? q[j + 4] & 63 : ((q[j + 4] & 0xFF) >> 4) | (((q[j] & 0xFF) >> 6) << 4);
    }

    static int scaleAt(byte[] y, int off, int j) {
        return j < 4 ? y[off + j] & 63 : (y[off + j + 4] & 0xF) | (((y[off + j - 4] & 0xFF) >> 6) << 4);
    }

    static int minAt(byte[] y, int off, int j) {
        return j < 4 ? y[off + j + 4] & 63 : ((y[off + j + 4] & 0xFF) >> 4) | (((y[off + j] & 0xFF) >> 6) << 4);
    }

    @Override
    public void dequantize(byte[] y, int yOff, int n, float[] x, int xOff) {
        for (int b = 0; b < n / QK_K; b++) {
            int yb = yOff + b * BLOCK_BYTES, xo = xOff + b * QK_K;
            float d = LE.getHalf(y, yb), min = LE.getHalf(y, yb + 2);
            int q = yb + 16, is = 0;
            for (int j = 0; j < QK_K; j += 64) {
                float d1 = d * scaleAt(y, yb + 4, is), m1 = min * minAt(y, yb + 4, is);
                float d2 = d * scaleAt(y, yb + 4, is + 1), m2 = min * minAt(y, yb + 4, is + 1);
                for (int l = 0; l < 32; l++) x[xo++] = d1 * (y[q + l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) x[xo++] = d2 * ((y[q + l] & 0xFF) >> 4) - m2;
                q += 32;
                is += 2;
            }
        }
    }
}
