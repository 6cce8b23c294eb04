package org.llavapack.model.lora;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fp32 matrix product of a LoRA merge, fused with the add into the weights:
 * {@code C[i][j] = C[i][j] + s · Σ_p L[i][p]·R[p][j]} for a row tile C of the widened weight, L the tile's rows of B
 * (or of Aᵀ for transposed layouts) and R = A (or Bᵀ). All matrices are row-major float arrays with explicit leading
 * dimensions.
 *
 * <p>Rounding is fixed by contract, not by the code path: each sum is accumulated in fp32 with fused multiply-adds in
 * the order p = 0 … k−1 starting from +0, then multiplied by s, then added to C (three IEEE operations, as PyTorch does
 * {@code W + (B @ A) * s}). Every element is computed the same way whether it falls in a vector micro-kernel, a
 * remainder loop, the scalar fallback, or a different tile, so results do not depend on tiling or threads.
 *
 * <p>Speed comes from register blocking: a micro-kernel keeps a block of {@link #MR} rows × two vectors of C in 12
 * accumulators (AVX2 has 16 registers) while it streams over p, loading two vectors of R and broadcasting six L values
 * per step. Column strips run outermost, so a strip of R (k × 2 vectors) stays in L1 while every row block of the tile
 * passes over it. The kernels are small static methods whose vectors never leave them, so C2 intrinsifies the Vector
 * API and allocates nothing.
 */
public final class DeltaGemm {
    private DeltaGemm() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = F.length();
    /** Rows per micro-kernel block. */
    public static final int MR = 6;
    private static final boolean VECTORIZE = LANES >= 4 && !Boolean.getBoolean("llavapack.noVector");

    /**
     * Elements of a row tile of the widened weight: 256 KiB of fp32, so the tile that widening just wrote is still in
     * a 512 KiB L2 when the kernels read and update it.
     */
    private static final int TILE_ELEMS = 1 << 16;

    /**
     * Rows per tile for a weight with {@code cols} columns: about {@link #TILE_ELEMS} elements, a multiple of
     * {@link #MR}, and at least four row blocks so each strip of R is reused a few times.
     */
    public static int tileRows(long cols) {
        long rows = TILE_ELEMS / Math.max(1, cols);
        rows -= rows % MR;
        return (int) Math.max(4 * MR, rows);
    }

    /** Whether the vector kernels are in use (false with {@code -Dllavapack.noVector=true} or without SIMD). */
    public static boolean vectorized() {
        return VECTORIZE;
    }

    /**
     * R (k × n) rearranged once per module: each strip two vectors wide is stored contiguously over p, so the
     * micro-kernel walks one small linear block (a few pages, prefetch-friendly) instead of k rows n floats apart.
     * Columns past the last full strip stay row-major in {@code tail}. {@code r}, {@code rOff} and {@code ldr} keep the
     * original for the scalar fallback.
     */
    public record Right(float[] strips, float[] tail, int k, int n, float[] r, int rOff, int ldr) {
        static int stripWidth() {
            return 2 * LANES;
        }

        int fullStrips() {
            return n / stripWidth();
        }

        int tailCols() {
            return n - fullStrips() * stripWidth();
        }
    }

    /** Packs R = {@code r[rOff + p*ldr + j]} (k × n) for {@link #addScaledProduct}. */
    public static Right pack(float[] r, int rOff, int ldr, int k, int n) {
        checkBounds(r, rOff, ldr, k, n, "R");
        int w = Right.stripWidth();
        int nStrips = n / w;
        float[] strips = new float[Math.multiplyExact(nStrips * w, k)];
        for (int st = 0; st < nStrips; st++) {
            for (int p = 0; p < k; p++) System.arraycopy(r, rOff + p * ldr + st * w, strips, (st * k + p) * w, w);
        }
        int tc = n - nStrips * w;
        float[] tail = new float[k * tc];
        for (int p = 0; p < k; p++) System.arraycopy(r, rOff + p * ldr + nStrips * w, tail, p * tc, tc);
        return new Right(strips, tail, k, n, r, rOff, ldr);
    }

    /** {@code C += s·(L@R)} over m rows and R's n columns, inner dimension R's k; rounding as in the class comment. */
    public static void addScaledProduct(float[] c, int cOff, int ldc, float[] l, int lOff, int ldl, Right rp, int m, float s) {
        int k = rp.k(), n = rp.n();
        checkBounds(c, cOff, ldc, m, n, "C");
        checkBounds(l, lOff, ldl, m, k, "L");
        if (!VECTORIZE) {
            scalar(c, cOff, ldc, l, lOff, ldl, rp.r(), rp.rOff(), rp.ldr(), m, 0, n, k, s);
            return;
        }
        int w = Right.stripWidth();
        int mBlocks = m - m % MR;
        float[] strips = rp.strips();
        for (int st = 0; st < rp.fullStrips(); st++) {
            int j = st * w;
            int ro = st * k * w;
            int i = 0;
            for (; i < mBlocks; i += MR) kernel6x2(c, cOff + i * ldc + j, ldc, l, lOff + i * ldl, ldl, strips, ro, w, k, s);
            for (; i < m; i++) kernel1x2(c, cOff + i * ldc + j, l, lOff + i * ldl, strips, ro, w, k, s);
        }
        int tc = rp.tailCols();
        int cTail = cOff + rp.fullStrips() * w;
        int done = 0;
        if (tc >= LANES) {
            for (int i = 0; i < m; i++) kernel1x1(c, cTail + i * ldc, l, lOff + i * ldl, rp.tail(), 0, tc, k, s);
            done = LANES;
        }
        if (done < tc) scalar(c, cTail, ldc, l, lOff, ldl, rp.tail(), 0, tc, m, done, tc, k, s);
    }

    /** The reference formulation (and the fallback without SIMD): one element at a time, same operation order. */
    public static void addScaledProductScalar(float[] c, int cOff, int ldc, float[] l, int lOff, int ldl,
                                              float[] r, int rOff, int ldr, int m, int n, int k, float s) {
        checkBounds(c, cOff, ldc, m, n, "C");
        checkBounds(l, lOff, ldl, m, k, "L");
        checkBounds(r, rOff, ldr, k, n, "R");
        scalar(c, cOff, ldc, l, lOff, ldl, r, rOff, ldr, m, 0, n, k, s);
    }

    private static void checkBounds(float[] a, int off, int ld, int rows, int cols, String what) {
        if (rows < 0 || cols < 0 || off < 0 || (rows > 1 && ld < cols)) {
            throw new IllegalArgumentException(what + ": bad layout " + rows + "x" + cols + " ld " + ld + " offset " + off);
        }
        if (rows > 0 && cols > 0 && (long) off + (long) (rows - 1) * ld + cols > a.length) {
            throw new IndexOutOfBoundsException(what + ": " + rows + "x" + cols + " ld " + ld + " at " + off + " exceeds " + a.length);
        }
    }

    private static void scalar(float[] c, int cOff, int ldc, float[] l, int lOff, int ldl, float[] r, int rOff, int ldr,
                               int m, int j0, int j1, int k, float s) {
        for (int i = 0; i < m; i++) {
            for (int j = j0; j < j1; j++) {
                float acc = 0f;
                for (int p = 0; p < k; p++) acc = Math.fma(l[lOff + i * ldl + p], r[rOff + p * ldr + j], acc);
                int ci = cOff + i * ldc + j;
                c[ci] = c[ci] + acc * s;
            }
        }
    }

    /** Six rows × two vectors: 12 accumulators, 2 loads and 6 broadcasts per step of p. */
    private static void kernel6x2(float[] c, int cOff, int ldc, float[] l, int lOff, int ldl,
                                  float[] r, int rOff, int ldr, int k, float s) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        FloatVector a40 = FloatVector.zero(F), a41 = FloatVector.zero(F);
        FloatVector a50 = FloatVector.zero(F), a51 = FloatVector.zero(F);
        int l0 = lOff, l1 = l0 + ldl, l2 = l1 + ldl, l3 = l2 + ldl, l4 = l3 + ldl, l5 = l4 + ldl;
        // Every index is affine in p, so C2 hoists the bounds checks out of the loop.
        for (int p = 0; p < k; p++) {
            int ro = rOff + p * ldr;
            FloatVector r0 = FloatVector.fromArray(F, r, ro);
            FloatVector r1 = FloatVector.fromArray(F, r, ro + LANES);
            FloatVector b = FloatVector.broadcast(F, l[l0 + p]);
            a00 = b.fma(r0, a00);
            a01 = b.fma(r1, a01);
            b = FloatVector.broadcast(F, l[l1 + p]);
            a10 = b.fma(r0, a10);
            a11 = b.fma(r1, a11);
            b = FloatVector.broadcast(F, l[l2 + p]);
            a20 = b.fma(r0, a20);
            a21 = b.fma(r1, a21);
            b = FloatVector.broadcast(F, l[l3 + p]);
            a30 = b.fma(r0, a30);
            a31 = b.fma(r1, a31);
            b = FloatVector.broadcast(F, l[l4 + p]);
            a40 = b.fma(r0, a40);
            a41 = b.fma(r1, a41);
            b = FloatVector.broadcast(F, l[l5 + p]);
            a50 = b.fma(r0, a50);
            a51 = b.fma(r1, a51);
        }
        // The epilogue is written out rather than calling a helper: a vector passed to a method that C2 does not
        // inline gets boxed, which costs more than the whole k loop (measured: 10 vs 60 GFLOP/s).
        FloatVector sv = FloatVector.broadcast(F, s);
        int c0 = cOff;
        FloatVector.fromArray(F, c, c0).add(a00.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a01.mul(sv)).intoArray(c, c0 + LANES);
        c0 += ldc;
        FloatVector.fromArray(F, c, c0).add(a10.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a11.mul(sv)).intoArray(c, c0 + LANES);
        c0 += ldc;
        FloatVector.fromArray(F, c, c0).add(a20.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a21.mul(sv)).intoArray(c, c0 + LANES);
        c0 += ldc;
        FloatVector.fromArray(F, c, c0).add(a30.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a31.mul(sv)).intoArray(c, c0 + LANES);
        c0 += ldc;
        FloatVector.fromArray(F, c, c0).add(a40.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a41.mul(sv)).intoArray(c, c0 + LANES);
        c0 += ldc;
        FloatVector.fromArray(F, c, c0).add(a50.mul(sv)).intoArray(c, c0);
        FloatVector.fromArray(F, c, c0 + LANES).add(a51.mul(sv)).intoArray(c, c0 + LANES);
    }

    private static void kernel1x2(float[] c, int cOff, float[] l, int lOff, float[] r, int rOff, int ldr, int k, float s) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        for (int p = 0; p < k; p++) {
            int ro = rOff + p * ldr;
            FloatVector b = FloatVector.broadcast(F, l[lOff + p]);
            a0 = b.fma(FloatVector.fromArray(F, r, ro), a0);
            a1 = b.fma(FloatVector.fromArray(F, r, ro + LANES), a1);
        }
        FloatVector sv = FloatVector.broadcast(F, s);
        FloatVector.fromArray(F, c, cOff).add(a0.mul(sv)).intoArray(c, cOff);
        FloatVector.fromArray(F, c, cOff + LANES).add(a1.mul(sv)).intoArray(c, cOff + LANES);
    }

    private static void kernel1x1(float[] c, int cOff, float[] l, int lOff, float[] r, int rOff, int ldr, int k, float s) {
        FloatVector a0 = FloatVector.zero(F);
        for (int p = 0; p < k; p++) {
            a0 = FloatVector.broadcast(F, l[lOff + p]).fma(FloatVector.fromArray(F, r, rOff + p * ldr), a0);
        }
        FloatVector.fromArray(F, c, cOff).add(a0.mul(FloatVector.broadcast(F, s))).intoArray(c, cOff);
    }
}
