package org.llavapack.model.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The vectorized kernel against a naive double-precision product (accuracy), against the scalar formulation (bit
 * equality: the rounding contract) and against itself tiled differently (what makes merges deterministic).
 */
class DeltaGemmTest {

    /** Odd sizes exercise every path: 6-row blocks and leftover rows, two-vector strips, one-vector and scalar tails. */
    @ParameterizedTest
    @CsvSource({"1,1,1", "5,7,3", "6,16,8", "7,17,8", "13,33,17", "61,100,8", "25,15,64", "12,31,128", "3,47,5", "50,257,16"})
    void matchesDoublePrecisionReferenceAndScalarBitForBit(int m, int n, int k) {
        SplittableRandom rnd = new SplittableRandom(m * 1000L + n * 10L + k);
        // Embedded in larger arrays with offsets and leading dimensions, as tiles of real weights are.
        int ldc = n + 3, ldl = k + 2, ldr = n + 5, cOff = 7, lOff = 4, rOff = 9;
        float[] c = random(rnd, cOff + m * ldc, 1.0);
        float[] l = random(rnd, lOff + m * ldl, 0.5);
        float[] r = random(rnd, rOff + k * ldr, 0.3);
        float s = 5.656854f;

        double[] ref = new double[m * n];
        double[] mag = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double prod = (double) l[lOff + i * ldl + p] * r[rOff + p * ldr + j];
                    acc += prod;
                    abs += Math.abs(prod);
                }
                ref[i * n + j] = c[cOff + i * ldc + j] + s * acc;
                mag[i * n + j] = Math.abs(c[cOff + i * ldc + j]) + Math.abs(s) * abs;
            }
        }

        float[] vec = c.clone();
        DeltaGemm.addScaledProduct(vec, cOff, ldc, l, lOff, ldl, DeltaGemm.pack(r, rOff, ldr, k, n), m, s);
        float[] sca = c.clone();
        DeltaGemm.addScaledProductScalar(sca, cOff, ldc, l, lOff, ldl, r, rOff, ldr, m, n, k, s);
        assertArrayEquals(sca, vec, "vector and scalar paths round identically");

        double eps = Math.ulp(1.0f);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double got = vec[cOff + i * ldc + j];
                // fp32 FMA accumulation error bound: (k + 2) ulps of the magnitude sum.
                double bound = (k + 2) * eps * mag[i * n + j] + 1e-30;
                double err = Math.abs(got - ref[i * n + j]);
                int fi = i, fj = j;
                assertTrue(err <= bound, () -> "C[" + fi + "," + fj + "] = " + got + " vs " + ref[fi * n + fj] + " (error " + err + " > " + bound + ")");
            }
        }
        for (int i = 0; i < m; i++) {
            for (int j = n; j < ldc && cOff + i * ldc + j < c.length; j++) {
                assertTrue(vec[cOff + i * ldc + j] == c[cOff + i * ldc + j], "padding between rows is untouched");
            }
        }
        for (int i = 0; i < cOff; i++) assertTrue(vec[i] == c[i], "elements before the offset are untouched");
    }

    @Test
    void tilingDoesNotChangeAnyBit() {
        int m = 97, n = 203, k = 24;
        SplittableRandom rnd = new SplittableRandom(5);
        float[] c = random(rnd, m * n, 1.0);
        float[] l = random(rnd, m * k, 0.5);
        float[] r = random(rnd, k * n, 0.5);
        DeltaGemm.Right packed = DeltaGemm.pack(r, 0, n, k, n);
        float[] whole = c.clone();
        DeltaGemm.addScaledProduct(whole, 0, n, l, 0, k, packed, m, 2f);
        for (int tile : new int[] {1, 5, 6, 24, 50}) {
            float[] tiled = c.clone();
            for (int i = 0; i < m; i += tile) {
                int rows = Math.min(tile, m - i);
                float[] buf = Arrays.copyOfRange(c, i * n, (i + rows) * n);
                DeltaGemm.addScaledProduct(buf, 0, n, l, i * k, k, packed, rows, 2f);
                System.arraycopy(buf, 0, tiled, i * n, buf.length);
            }
            assertArrayEquals(whole, tiled, "tiles of " + tile + " rows");
        }
    }

    @Test
    void roundingOrderIsSumThenScaleThenAdd() {
        // x·y = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in fp32; adding −1 afterwards gives 2^-11, while one fused
        // multiply-add of the scale and the add would keep the 2^-24.
        float x = 1f + 0x1p-12f, y = 1f + 0x1p-12f;
        for (int n : new int[] {1, 8, 16, 40}) {
            float[] c = new float[n];
            float[] r = new float[n];
            Arrays.fill(c, -1f);
            Arrays.fill(r, x);
            DeltaGemm.addScaledProduct(c, 0, n, new float[] {1f}, 0, 1, DeltaGemm.pack(r, 0, n, 1, n), 1, y);
            for (float v : c) {
                assertTrue(v == 0x1p-11f, n + " columns: " + v);
                assertTrue(v != Math.fma(x, y, -1f));
            }
        }
    }

    @Test
    void rejectsLayoutsOutsideTheArrays() {
        float[] c = new float[10];
        DeltaGemm.Right r = DeltaGemm.pack(new float[8], 0, 4, 2, 4);
        assertThrows(IndexOutOfBoundsException.class, () -> DeltaGemm.addScaledProduct(c, 0, 4, new float[4], 0, 2, r, 3, 1f));
        assertThrows(IndexOutOfBoundsException.class, () -> DeltaGemm.addScaledProduct(c, 0, 4, new float[3], 0, 2, r, 2, 1f));
    }

    @Test
    void tileRowsAreWholeMicroKernelBlocks() {
        for (long cols : new long[] {1, 64, 160, 2048, 4096, 14336, 128256}) {
            int rows = DeltaGemm.tileRows(cols);
            assertTrue(rows % DeltaGemm.MR == 0 && rows >= 4 * DeltaGemm.MR, cols + " → " + rows);
        }
    }

    private static float[] random(SplittableRandom rnd, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * std);
        return a;
    }
}
