package org.llavapack.convert;

import org.llavapack.tensor.TensorInfo;

/**
 * A change applied to source weights while they stream into an export, one row at a time, so an adapter can be merged
 * on the fly without writing an intermediate folder (issue 6: {@code export gguf --adapter}). Rows are PyTorch rows:
 * for a {@code Linear.weight [out, in]} row {@code i} is output feature {@code i} ({@code in} values); a 1-D tensor is
 * one row. Row indices are in the source layout, before any export-specific reordering (the GGUF Q/K permutation is
 * applied after the transform, which equals "merge, then permute").
 *
 * <p>The default is {@link #IDENTITY}. A LoRA merge implements {@link #forTensor} by returning, for each targeted
 * weight, {@code W[i,:] += s · Σ_k B[i,k] · A[k,:]} in f32.
 */
@FunctionalInterface
public interface WeightTransform {

    WeightTransform IDENTITY = (name, info) -> null;

    /** The transformation for source tensor {@code name}, or null to leave it unchanged. */
    RowTransform forTensor(String name, TensorInfo info);

    /** Transforms rows in place; must be thread-safe (rows of one tensor are processed in parallel). */
    @FunctionalInterface
    interface RowTransform {
        /** {@code values[offset … offset+length)} hold source row {@code row} widened to f32. */
        void apply(long row, float[] values, int offset, int length);

        /**
         * Rows {@code [firstRow, firstRow+rowCount)}, stored one after another from {@code values[offset]}. A transform
         * that works faster on blocks of rows (a LoRA merge's matrix product) overrides this; results must not depend
         * on how rows are grouped.
         */
        default void applyRows(long firstRow, int rowCount, float[] values, int offset, int rowLength) {
            for (int r = 0; r < rowCount; r++) apply(firstRow + r, values, offset + r * rowLength, rowLength);
        }
    }
}
