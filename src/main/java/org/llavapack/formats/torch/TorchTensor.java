package org.llavapack.formats.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore.FileRegion;

/**
 * A tensor as torch pickles it: a view {@code (storage, storage_offset, size, stride)} of a {@link TorchStorage}
 * (spec §2.4). Only the reference is held; bytes are read when asked for. The geometry was checked when the tensor was
 * read (spec §2.3 rule 7: no negative sizes or strides, no int64 overflow, every reachable element inside the storage),
 * so any element index computed from it is safe.
 */
public final class TorchTensor {
    private final TorchStorage storage;
    private final long storageOffset;
    private final long[] size;
    private final long[] stride;
    private final long numel;

    private TorchTensor(TorchStorage storage, long storageOffset, long[] size, long[] stride, long numel) {
        this.storage = storage;
        this.storageOffset = storageOffset;
        this.size = size;
        this.stride = stride;
        this.numel = numel;
    }

    /** Validates the view against its storage; every violation is bad input naming the geometry. */
    static TorchTensor create(Path file, TorchStorage storage, long storageOffset, long[] size, long[] stride) {
        String geometry = "size " + tuple(size) + ", stride " + tuple(stride) + ", storage_offset " + storageOffset;
        if (size.length != stride.length) {
            throw new BadInputException(file, "tensor has " + size.length + " sizes but " + stride.length + " strides (" + geometry + ")");
        }
        for (long d : size) {
            if (d < 0) throw new BadInputException(file, "tensor has a negative size (" + geometry + ")");
        }
        for (long s : stride) {
            if (s < 0) throw new BadInputException(file, "tensor has a negative stride (" + geometry + ")");
        }
        if (storageOffset < 0) throw new BadInputException(file, "tensor has a negative storage_offset (" + geometry + ")");
        long numel = 1;
        try {
            for (long d : size) numel = Math.multiplyExact(numel, d);
        } catch (ArithmeticException e) {
            throw new BadInputException(file, "tensor numel overflows int64 (" + geometry + ")");
        }
        if (numel == 0) {
            if (storageOffset > storage.numel()) {
                throw new BadInputException(file, "empty tensor's storage_offset lies past the end of " + storage + " (" + geometry + ")");
            }
        } else {
            long last;
            try {
                last = storageOffset;
                for (int i = 0; i < size.length; i++) last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
            } catch (ArithmeticException e) {
                throw new BadInputException(file, "tensor geometry overflows int64: the stride reaches beyond any storage (" + geometry + ")");
            }
            if (last >= storage.numel()) {
                throw new BadInputException(file, "tensor reaches element " + last + " of " + storage
                        + ", which holds only " + storage.numel() + " elements (out of bounds; " + geometry + ")");
            }
        }
        return new TorchTensor(storage, storageOffset, size.clone(), stride.clone(), numel);
    }

    public TorchStorage storage() {
        return storage;
    }

    public DType dtype() {
        return storage.dtype();
    }

    /** Offset of element 0 in the storage, in elements. */
    public long storageOffset() {
        return storageOffset;
    }

    public long[] shape() {
        return size.clone();
    }

    public long[] stride() {
        return stride.clone();
    }

    public int rank() {
        return size.length;
    }

    public long numel() {
        return numel;
    }

    public long byteSize() {
        return numel * dtype().size();
    }

    /** Row-major contiguous: the strides are the C-order strides of the shape (dimensions of size 1 may have any). */
    public boolean isContiguous() {
        if (numel == 0) return true;
        long expected = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expected) return false;
            expected *= size[i];
        }
        return true;
    }

    public TensorInfo info(String name) {
        return new TensorInfo(name, dtype(), size);
    }

    /**
     * Where this tensor's bytes lie in the file, when they lie there contiguously, uncompressed and little-endian, so
     * they can be copied or mapped in windows (see {@code RegionChunks}) without passing through the heap.
     */
    public Optional<FileRegion> region() {
        if (!isContiguous() || storage.source().bigEndian()) return Optional.empty();
        return storage.region().map(r -> new FileRegion(r.file(), r.offset() + storageOffset * dtype().size(), byteSize()));
    }

    /**
     * The tensor's elements, row-major and little-endian. A contiguous little-endian view is a zero-copy slice of the
     * mapped file (or of the inflated member); any other view is gathered element by element into {@code arena}.
     */
    public MemorySegment data(Arena arena) {
        int item = dtype().size();
        if (numel == 0) return MemorySegment.ofArray(new byte[0]);
        MemorySegment src = storage.bytes();
        boolean swap = storage.source().bigEndian() && item > 1;
        if (isContiguous() && !swap) return src.asSlice(storageOffset * item, byteSize());
        MemorySegment dst = arena.allocate(byteSize(), 8);
        gather(src, dst, item);
        if (swap) swapBytes(dst, item);
        return dst;
    }

    /** {@link #data} as an llavapack {@link Tensor} named {@code name}. */
    public Tensor toTensor(String name, Arena arena) {
        return new Tensor(info(name), data(arena));
    }

    private void gather(MemorySegment src, MemorySegment dst, int item) {
        int rank = size.length;
        if (rank == 0) {
            MemorySegment.copy(src, storageOffset * item, dst, 0, item);
            return;
        }
        int last = rank - 1;
        long inner = size[last], innerStride = stride[last];
        long[] index = new long[rank];
        long base = storageOffset, out = 0;
        while (true) {
            if (innerStride == 1) {
                MemorySegment.copy(src, base * item, dst, out, inner * item);
                out += inner * item;
            } else {
                for (long j = 0; j < inner; j++) {
                    MemorySegment.copy(src, (base + j * innerStride) * item, dst, out, item);
                    out += item;
                }
            }
            int d = last - 1;
            while (d >= 0) {
                index[d]++;
                base += stride[d];
                if (index[d] < size[d]) break;
                base -= stride[d] * size[d];
                index[d] = 0;
                d--;
            }
            if (d < 0) return;
        }
    }

    private static void swapBytes(MemorySegment seg, int item) {
        long n = seg.byteSize();
        switch (item) {
            case 2 -> {
                for (long i = 0; i < n; i += 2) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, i, Short.reverseBytes(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, i)));
            }
            case 4 -> {
                for (long i = 0; i < n; i += 4) seg.set(ValueLayout.JAVA_INT_UNALIGNED, i, Integer.reverseBytes(seg.get(ValueLayout.JAVA_INT_UNALIGNED, i)));
            }
            case 8 -> {
                for (long i = 0; i < n; i += 8) seg.set(ValueLayout.JAVA_LONG_UNALIGNED, i, Long.reverseBytes(seg.get(ValueLayout.JAVA_LONG_UNALIGNED, i)));
            }
            default -> { }
        }
    }

    private static String tuple(long[] v) {
        if (v.length > 16) return tuple(Arrays.copyOf(v, 16)).replace(")", ", … " + v.length + " dims)");
        if (v.length == 1) return "(" + v[0] + ",)";
        String s = Arrays.toString(v);
        return "(" + s.substring(1, s.length() - 1) + ")";
    }

    @Override
    public String toString() {
        return "tensor " + dtype() + tuple(size) + " on " + storage + (storageOffset == 0 ? "" : " at " + storageOffset)
                + (isContiguous() ? "" : " stride " + tuple(stride));
    }
}
