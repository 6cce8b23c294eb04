package org.llavapack.convert.onnx;

import java.util.List;
import org.llavapack.model.Weights;

/**
 * A weight matrix quantized for onnxruntime's {@code com.microsoft:MatMulNBits} (bits 4, block 32), from HF's
 * {@code [out, in]} rows without transposing: {@code B} is uint8 {@code [N, ceil(K/32), 16]}, element 2j of a block
 * in the low nibble and 2j+1 in the high nibble; {@code scales} fp32 {@code [N · blocks]}; for the asymmetric scheme
 * packed uint8 zero points {@code [N · ceil(blocks/2)]} (block 2j low nibble), else the kernel's default zero point 8.
 * Dequantized value: {@code (q − zp) · scale}. Round to nearest (ties to even), per block:
 * symmetric {@code scale = max|w|/7}, {@code q = clamp(rint(w/scale) + 8, 0, 15)};
 * asymmetric over {@code [min(w,0), max(w,0)]}: {@code scale = (max − min)/15}, {@code zp = clamp(rint(−min/scale), 0, 15)}.
 * Quantization is one pass over the rows; the packed result (1/8 of fp32) is held until written.
 */
public record Int4Matrix(int n, int k, byte[] packed, float[] scales, byte[] zeroPoints) {
    public static final int BLOCK = 32;
    public static final int BLOB = BLOCK / 2;

    public int blocks() {
        return (k + BLOCK - 1) / BLOCK;
    }

    public boolean asymmetric() {
        return zeroPoints != null;
    }

    /** Quantizes the rows of {@code names} stacked along the output dimension (packed Q|K|V). */
    public static Int4Matrix quantize(Weights w, List<String> names, boolean asymmetric) {
        long rowsTotal = 0;
        int k = -1;
        for (String name : names) {
            long[] s = w.shape(name);
            if (s.length != 2) throw new IllegalArgumentException(name + " is not a matrix");
            if (k >= 0 && s[1] != k) throw new IllegalArgumentException(name + " does not stack with " + names.getFirst());
            k = (int) s[1];
            rowsTotal += s[0];
        }
        int n = Math.toIntExact(rowsTotal), blocks = (k + BLOCK - 1) / BLOCK;
        byte[] packed = new byte[Math.toIntExact((long) n * blocks * BLOB)];
        float[] scales = new float[Math.toIntExact((long) n * blocks)];
        int zpPerRow = (blocks + 1) / 2;
        byte[] zps = asymmetric ? new byte[Math.toIntExact((long) n * zpPerRow)] : null;
        int row = 0;
        float[] blockVals = new float[BLOCK];
        for (String name : names) {
            long rows = w.shape(name)[0];
            int per = (int) Math.max(1, Math.min(rows, MatrixPayload.BLOCK_FLOATS / k));
            float[] src = new float[per * k];
            try (Weights.RowReader reader = w.reader(name)) {
                for (long r = 0; r < rows; r += per) {
                    int cnt = (int) Math.min(per, rows - r);
                    reader.read(r, cnt, src);
                    for (int i = 0; i < cnt; i++, row++) {
                        for (int b = 0; b < blocks; b++) {
                            int len = Math.min(BLOCK, k - b * BLOCK);
                            java.util.Arrays.fill(blockVals, 0f);
                            System.arraycopy(src, i * k + b * BLOCK, blockVals, 0, len);
                            int zp;
                            float scale;
                            if (asymmetric) {
                                float mn = 0f, mx = 0f;
                                for (int e = 0; e < len; e++) {
                                    mn = Math.min(mn, blockVals[e]);
                                    mx = Math.max(mx, blockVals[e]);
                                }
                                scale = (mx - mn) / 15f;
                                zp = scale == 0f ? 8 : (int) Math.max(0, Math.min(15, Math.rint(-mn / scale)));
                            } else {
                                float amax = 0f;
                                for (int e = 0; e < len; e++) amax = Math.max(amax, Math.abs(blockVals[e]));
                                scale = amax / 7f;
                                zp = 8;
                            }
                            float inv = scale == 0f ? 0f : 1f / scale;
                            int base = (row * blocks + b) * BLOB;
                            for (int e = 0; e < BLOCK; e += 2) {
                                int q0 = e < len ? quant(blockVals[e], inv, zp) : zp;
                                int q1 = e + 1 < len ? quant(blockVals[e + 1], inv, zp) : zp;
                                packed[base + e / 2] = (byte) (q0 | (q1 << 4));
                            }
                            scales[row * blocks + b] = scale;
                            if (zps != null) {
                                int idx = row * zpPerRow + b / 2;
                                zps[idx] = (byte) ((b % 2 == 0) ? (zps[idx] & 0xF0) | zp : (zps[idx] & 0x0F) | (zp << 4));
                            }
                        }
                    }
                }
            }
        }
        return new Int4Matrix(n, k, packed, scales, zps);
    }

    private static int quant(float v, float inv, int zp) {
        return (int) Math.max(0, Math.min(15, Math.rint(v * inv) + zp));
    }

    /** Rows {@code [from, from+count)} dequantized, {@code [count, K]}: the weights the kernel actually multiplies by. */
    public float[] dequantizeRows(int from, int count) {
        int blocks = blocks(), zpPerRow = (blocks + 1) / 2;
        float[] out = new float[count * k];
        for (int r = 0; r < count; r++) {
            int row = from + r;
            for (int c = 0; c < k; c++) {
                int b = c / BLOCK, e = c % BLOCK;
                int byt = packed[(row * blocks + b) * BLOB + e / 2] & 0xFF;
                int q = e % 2 == 0 ? byt & 0x0F : byt >>> 4;
                int zp = 8;
                if (zeroPoints != null) {
                    int z = zeroPoints[row * zpPerRow + b / 2] & 0xFF;
                    zp = b % 2 == 0 ? z & 0x0F : z >>> 4;
                }
                out[r * k + c] = (q - zp) * scales[row * blocks + b];
            }
        }
        return out;
    }
}
