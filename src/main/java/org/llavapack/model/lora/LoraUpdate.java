package org.llavapack.model.lora;

import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorStore;

/**
 * One module's LoRA update, loaded and laid out for tile-by-tile merging into the stored weight (spec §7):
 * {@code W' = W + s·ΔW}, with ΔW = B·A for [out, in] weights and (B·A)ᵀ = Aᵀ·Bᵀ for [in, out] ones, followed for DoRA
 * by {@code W' = (m / ‖W'‖) ⊙ W'} with the norm over the input features of each output feature. Everything is fp32;
 * the caller widens W exactly and rounds the result once.
 *
 * <p>Both layouts become the same product {@code L[rows × r] · R[r × cols]} over the stored rows, so tiles of any
 * height can be computed independently, in any order, on any thread, with identical results. Instances are immutable
 * after loading and shared by the threads working on one tensor.
 */
public final class LoraUpdate {
    private final LoraModule module;
    private final float[] left;
    private final DeltaGemm.Right right;
    private final float[] magnitude;
    private final int rows, cols, rank;

    private LoraUpdate(LoraModule module, float[] left, DeltaGemm.Right right, float[] magnitude) {
        this.module = module;
        this.left = left;
        this.right = right;
        this.magnitude = magnitude;
        this.rows = Math.toIntExact(module.rows());
        this.cols = Math.toIntExact(module.cols());
        this.rank = module.rank();
    }

    /** Reads A, B (and m) from the adapter, widened to fp32 (exact for BF16/F16), in the layout of the stored weight. */
    public static LoraUpdate load(TensorStore adapter, LoraModule m) {
        float[] a = read(adapter, m.loraA());
        float[] b = read(adapter, m.loraB());
        int r = m.rank();
        int rows = Math.toIntExact(m.rows()), cols = Math.toIntExact(m.cols());
        float[] left;
        DeltaGemm.Right right;
        if (m.kind().transposed()) {
            // W [in, out] += (B·A)ᵀ = Aᵀ [in × r] · Bᵀ [r × out]
            left = transpose(a, r, rows);
            float[] bt = transpose(b, cols, r);
            right = DeltaGemm.pack(bt, 0, cols, r, cols);
        } else {
            // W [out, in] += B [out × r] · A [r × in]
            left = b;
            right = DeltaGemm.pack(a, 0, cols, r, cols);
        }
        float[] mag = m.magnitude().map(name -> read(adapter, name)).orElse(null);
        return new LoraUpdate(m, left, right, mag);
    }

    public LoraModule module() {
        return module;
    }

    public boolean dora() {
        return magnitude != null;
    }

    /**
     * DoRA's norm runs over the input features: within one stored row for [out, in] weights (so a tile is complete
     * on its own), down a stored column for [in, out] ones (which needs a first pass over the whole weight).
     */
    public boolean doraNeedsColumnPass() {
        return dora() && module.kind().transposed();
    }

    /** Floating-point operations of the product, for throughput figures. */
    public double flops() {
        return 2.0 * rows * cols * rank;
    }

    /** {@code tile} holds stored rows [row0, row0+n) of W widened to fp32, row-major; adds s·ΔW to them in place. */
    public void addDelta(float[] tile, int row0, int n) {
        addDelta(tile, 0, row0, n);
    }

    /** As {@link #addDelta(float[], int, int)}, with the tile starting at {@code tile[off]}. */
    public void addDelta(float[] tile, int off, int row0, int n) {
        checkTile(tile, off, row0, n);
        DeltaGemm.addScaledProduct(tile, off, cols, left, row0 * rank, rank, right, n, module.scale());
    }

    /** DoRA for [out, in] weights: each row of V (already W + s·ΔW) is scaled by m[row] / ‖row‖₂, in fp32. */
    public void applyDoraRows(float[] tile, int row0, int n) {
        applyDoraRows(tile, 0, row0, n);
    }

    /** As {@link #applyDoraRows(float[], int, int)}, with the tile starting at {@code tile[tileOff]}. */
    public void applyDoraRows(float[] tile, int tileOff, int row0, int n) {
        checkTile(tile, tileOff, row0, n);
        for (int i = 0; i < n; i++) {
            int off = tileOff + i * cols;
            float norm = (float) Math.sqrt(sumOfSquares(tile, off, cols));
            float factor = magnitude[row0 + i] / norm;
            scale(tile, off, cols, factor);
        }
    }

    /** First DoRA pass for [in, out] weights: adds each column's squares (in double) to {@code sums}. */
    public void accumulateColumnSquares(float[] tile, int n, double[] sums) {
        for (int i = 0; i < n; i++) {
            int off = i * cols;
            for (int j = 0; j < cols; j++) {
                double v = tile[off + j];
                sums[j] += v * v;
            }
        }
    }

    /** DoRA factors m[j] / ‖column j‖₂ (fp32, as torch divides fp32 tensors) from the first pass's sums. */
    public float[] columnFactors(double[] sums) {
        float[] f = new float[cols];
        for (int j = 0; j < cols; j++) f[j] = magnitude[j] / (float) Math.sqrt(sums[j]);
        return f;
    }

    /** Second DoRA pass for [in, out] weights: scales column j of every row by {@code factors[j]}. */
    public void scaleColumns(float[] tile, int n, float[] factors) {
        for (int i = 0; i < n; i++) {
            int off = i * cols;
            for (int j = 0; j < cols; j++) tile[off + j] = tile[off + j] * factors[j];
        }
    }

    /** newer peft's lora_B bias: {@code bias + lora_B.bias · s}, in fp32, into {@code bias} in place. */
    public static void addLoraBias(TensorStore adapter, LoraModule m, float[] bias) {
        float[] lb = read(adapter, m.loraBias().orElseThrow());
        for (int i = 0; i < bias.length; i++) bias[i] = bias[i] + lb[i] * m.scale();
    }

    private void checkTile(float[] tile, int off, int row0, int n) {
        if (row0 < 0 || n < 0 || off < 0 || row0 + n > rows || off + (long) n * cols > tile.length) {
            throw new IndexOutOfBoundsException(module.weight() + ": tile rows [" + row0 + ", " + (row0 + n) + ") of " + rows);
        }
    }

    private static double sumOfSquares(float[] a, int off, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) {
            double v = a[off + j];
            s += v * v;
        }
        return s;
    }

    private static void scale(float[] a, int off, int n, float f) {
        for (int j = 0; j < n; j++) a[off + j] = a[off + j] * f;
    }

    /** {@code a} is [r × c] row-major; returns [c × r]. */
    private static float[] transpose(float[] a, int r, int c) {
        float[] t = new float[a.length];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) t[j * r + i] = a[i * c + j];
        }
        return t;
    }

    /** A whole adapter tensor as fp32, through its own mapping, which is released at once. */
    static float[] read(TensorStore store, String name) {
        try (TensorHandle h = store.open(name)) {
            Tensor t = h.tensor();
            return t.toFloatArray();
        }
    }
}
