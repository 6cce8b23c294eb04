package org.llavapack.formats.deepspeed;

import java.util.Objects;
import org.llavapack.tensor.Tensor;

/**
 * A 1-D vector of floats that one rank saved for one param group: a ZeRO-1/2 {@code single_partition_of_fp32_groups[g]}
 * slice or a ZeRO-3 {@code fp32_flat_groups[k]}. Consolidation only ever asks for ranges of it, so an implementation
 * can stay on disk (a mapped tensor view) or open its file lazily; nothing forces a rank file into memory.
 *
 * <p>This is an interface rather than a sealed type on purpose: the torch reader supplies its own lazy views.
 */
public interface FlatPartition {

    /** Number of elements this rank saved (the tensor's size, never its storage's). */
    long length();

    /**
     * Copies elements {@code [from, from+count)} widened to float into {@code dst[dstIndex…]}. Callers stay within
     * {@code [0, length())}.
     */
    void readFloats(long from, float[] dst, int dstIndex, int count);

    /** A view over a 1-D floating-point tensor (F32 for masters; any float dtype is widened exactly). */
    static FlatPartition of(Tensor tensor) {
        Objects.requireNonNull(tensor);
        if (tensor.info().rank() != 1) {
            throw new IllegalArgumentException(tensor.info() + ": a flat partition must be 1-D");
        }
        if (!tensor.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(tensor.info() + ": a flat partition must hold floating-point values");
        }
        return new TensorPartition(tensor);
    }

    /** An in-memory partition (tests, and tiny groups). The array is not copied. */
    static FlatPartition of(float... values) {
        return new ArrayPartition(values);
    }

    record TensorPartition(Tensor tensor) implements FlatPartition {
        @Override
        public long length() {
            return tensor.numel();
        }

        @Override
        public void readFloats(long from, float[] dst, int dstIndex, int count) {
            tensor.readFloats(from, dst, dstIndex, count);
            // Each range is read once per conversion: release its pages so resident memory follows the tensor being
            // written rather than growing to every rank's masters (pages stay in the page cache).
            var data = tensor.data();
            if (data.isMapped() && count > 0) {
                int size = tensor.dtype().size();
                data.asSlice(from * size, (long) count * size).unload();
            }
        }
    }

    record ArrayPartition(float[] values) implements FlatPartition {
        @Override
        public long length() {
            return values.length;
        }

        @Override
        public void readFloats(long from, float[] dst, int dstIndex, int count) {
            System.arraycopy(values, Math.toIntExact(from), dst, dstIndex, count);
        }
    }
}
