package org.llavapack.formats.deepspeed;

import java.io.IOException;
import java.util.List;
import org.llavapack.formats.safetensors.TensorOutput;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;

/**
 * Where one reconstructed tensor's values come from. Nothing is read until {@link #readFloats} or {@link #writeTo} is
 * called, and then only the ranges the tensor covers: a parameter that straddles rank boundaries reads a piece of
 * each rank's slice and never the concatenated group (spec §4.7).
 *
 * <p>Sealed because consolidation produces exactly these three kinds and writers switch over them.
 */
public sealed interface TensorSource permits TensorSource.MasterPieces, TensorSource.Stored, TensorSource.Concat {

    /** Element count of the tensor. */
    long numel();

    /** The element type the values have at the source (F32 for masters; the stored dtype otherwise). */
    DType dtype();

    /** Elements {@code [from, from+count)} (row-major) widened to float into {@code dst[dstIndex…]}. */
    void readFloats(long from, float[] dst, int dstIndex, int count);

    /**
     * Writes the whole tensor into {@code out}, converting to {@code out.info().dtype()}: stored bytes are copied as
     * they are when the dtype is unchanged; otherwise values pass through float in chunks, and narrowing rounds to
     * nearest even once (TensorOutput's rule).
     */
    default void writeTo(TensorOutput out) throws IOException {
        DType target = out.info().dtype();
        if (out.info().numel() != numel()) {
            throw new IllegalStateException(out.info() + ": source has " + numel() + " elements");
        }
        if (target == dtype() && writeRaw(out)) return;
        if (!(target == DType.F32 || target == DType.BF16 || target == DType.F16)) {
            throw new IllegalStateException("cannot convert " + dtype() + " to " + target + " for " + out.info().name());
        }
        float[] buf = new float[(int) Math.min(CHUNK, Math.max(1, numel()))];
        for (long i = 0; i < numel(); i += buf.length) {
            int k = (int) Math.min(buf.length, numel() - i);
            readFloats(i, buf, 0, k);
            out.writeFloats(buf, 0, k);
        }
    }

    /** Copies stored bytes unchanged when this source has them; false when values must be produced as floats. */
    boolean writeRaw(TensorOutput out) throws IOException;

    /** The whole tensor as floats (tests and small tensors). */
    default float[] toFloatArray() {
        if (numel() > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor too large for one array");
        float[] out = new float[(int) numel()];
        readFloats(0, out, 0, out.length);
        return out;
    }

    int CHUNK = 1 << 16;

    /** A contiguous range of one rank's saved slice. */
    record Piece(FlatPartition partition, long from, long count) {}

    /**
     * fp32 master values assembled from ranges of rank slices, in order. {@code offsets[i]} is where piece i starts
     * inside the tensor; the last entry is the tensor's numel.
     */
    record MasterPieces(List<Piece> pieces, long[] offsets) implements TensorSource {
        public MasterPieces {
            pieces = List.copyOf(pieces);
            offsets = offsets.clone();
            if (offsets.length != pieces.size() + 1) throw new IllegalArgumentException("offsets/pieces mismatch");
        }

        static MasterPieces of(List<Piece> pieces) {
            long[] off = new long[pieces.size() + 1];
            for (int i = 0; i < pieces.size(); i++) off[i + 1] = Math.addExact(off[i], pieces.get(i).count());
            return new MasterPieces(pieces, off);
        }

        @Override
        public long numel() {
            return offsets[offsets.length - 1];
        }

        @Override
        public DType dtype() {
            return DType.F32;
        }

        @Override
        public void readFloats(long from, float[] dst, int dstIndex, int count) {
            if (from < 0 || count < 0 || from + count > numel()) {
                throw new IndexOutOfBoundsException("range [" + from + ", " + (from + count) + ") of " + numel());
            }
            int i = java.util.Arrays.binarySearch(offsets, from);
            if (i < 0) i = -i - 2;
            // skip zero-length pieces that share a start offset
            while (i < pieces.size() - 1 && offsets[i + 1] <= from) i++;
            long pos = from;
            int d = dstIndex;
            int left = count;
            while (left > 0) {
                Piece p = pieces.get(i);
                long within = pos - offsets[i];
                int n = (int) Math.min(left, p.count() - within);
                if (n > 0) {
                    p.partition().readFloats(p.from() + within, dst, d, n);
                    pos += n;
                    d += n;
                    left -= n;
                }
                i++;
            }
        }

        @Override
        public boolean writeRaw(TensorOutput out) {
            return false;
        }
    }

    /** A tensor stored whole in a model-states file: a buffer, a ZeRO-2 frozen param, or a 16-bit module copy. */
    record Stored(Tensor tensor) implements TensorSource {
        @Override
        public long numel() {
            return tensor.numel();
        }

        @Override
        public DType dtype() {
            return tensor.dtype();
        }

        @Override
        public void readFloats(long from, float[] dst, int dstIndex, int count) {
            tensor.readFloats(from, dst, dstIndex, count);
        }

        @Override
        public boolean writeRaw(TensorOutput out) throws IOException {
            out.write(tensor.data());
            return true;
        }
    }

    /** The first {@code numel} elements of 1-D parts concatenated in order: a ZeRO-3 frozen param (spec §4.3). */
    record Concat(List<Tensor> parts, long numel) implements TensorSource {
        public Concat {
            parts = List.copyOf(parts);
            if (parts.isEmpty()) throw new IllegalArgumentException("no parts");
            long total = 0;
            for (Tensor t : parts) {
                if (t.dtype() != parts.getFirst().dtype()) throw new IllegalArgumentException("parts differ in dtype");
                total = Math.addExact(total, t.numel());
            }
            if (total < numel) throw new IllegalArgumentException("parts hold " + total + " of " + numel + " elements");
        }

        @Override
        public DType dtype() {
            return parts.getFirst().dtype();
        }

        @Override
        public void readFloats(long from, float[] dst, int dstIndex, int count) {
            if (from < 0 || count < 0 || from + count > numel) throw new IndexOutOfBoundsException();
            long base = 0;
            for (Tensor t : parts) {
                long end = base + t.numel();
                if (count > 0 && from < end) {
                    int n = (int) Math.min(count, end - from);
                    t.readFloats(from - base, dst, dstIndex, n);
                    from += n;
                    dstIndex += n;
                    count -= n;
                }
                base = end;
            }
        }

        @Override
        public boolean writeRaw(TensorOutput out) throws IOException {
            long left = numel;
            int size = dtype().size();
            for (Tensor t : parts) {
                if (left == 0) break;
                long n = Math.min(left, t.numel());
                out.write(t.data().asSlice(0, n * size));
                left -= n;
            }
            return true;
        }
    }
}
