package org.llavapack.convert.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.convert.WeightTransform;
import org.llavapack.formats.gguf.BlockCodec;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.QkPermutation;
import org.llavapack.formats.gguf.GgufWriter;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * Feeds one source tensor into the GGUF writer: reads the needed source rows (through a mapped window of just those
 * rows when the store can say where they lie, so resident memory stays at a few chunks), widens them to f32, applies
 * the {@link WeightTransform}, reorders rows for the Q/K permutation, and encodes them with the target type's codec.
 */
public final class SourceRows implements GgufWriter.TensorSource {

    /** Shared read-only channels, one per source file, closed by the export when it ends. */
    public static final class Channels implements AutoCloseable {
        private final Map<Path, FileChannel> open = new ConcurrentHashMap<>();

        FileChannel get(Path p) {
            return open.computeIfAbsent(p, k -> {
                try {
                    return FileChannel.open(k, StandardOpenOption.READ);
                } catch (IOException e) {
                    throw OutputException.of(k, e);
                }
            });
        }

        @Override
        public void close() {
            for (FileChannel c : open.values()) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // read-only
                }
            }
        }
    }

    private final TensorStore store;
    private final TensorInfo src;
    private final GgmlType outType;
    private final long rowLen;
    private final int permuteHeads;
    private final WeightTransform.RowTransform transform;
    private final Channels channels;
    private final TensorStore.FileRegion region;
    private final AtomicLong f16Overflow;
    private final float scale;
    private TensorHandle handle;

    /** Per-thread scratch arrays: encoding a model then allocates a few arrays per thread instead of one per chunk. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    private static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < n) s[slot] = new float[Math.max(n, s[slot].length + s[slot].length / 2)];
        return s[slot];
    }

    /**
     * @param rowLen       values per row (the last PyTorch dimension; the whole tensor for 1-D)
     * @param permuteHeads head count for the Q/K row permutation, or 0
     * @param scale        factor applied after the transform (1 for none)
     */
    public SourceRows(TensorStore store, TensorInfo src, GgmlType outType, long rowLen, int permuteHeads,
                      WeightTransform.RowTransform transform, Channels channels, AtomicLong f16Overflow, float scale) {
        this.store = store;
        this.src = src;
        this.outType = outType;
        this.rowLen = rowLen;
        this.permuteHeads = permuteHeads;
        this.transform = transform;
        this.channels = channels;
        this.region = store.region(src.name()).orElse(null);
        this.f16Overflow = f16Overflow;
        this.scale = scale;
        if (!src.dtype().isFloatingPoint()) throw new BadInputException(store.source(), "tensor '" + src.name() + "' is " + src.dtype() + ", not floating point");
        long rows = src.numel() / rowLen;
        if (permuteHeads > 0 && (rows * rowLen != src.numel())) throw new IllegalStateException(src.name());
    }

    /** Rows are widened and encoded this many values at a time, so the f32 scratch stays in the CPU caches. */
    private static final int GROUP_VALUES = 16 * 1024;
    /**
     * With a transform (a LoRA merge), groups as large as merge-lora's tiles: the fused product re-reads its packed
     * right-hand factor once per group, so 8-row groups made the merge three times slower than the rest of the export.
     */
    private static final int TRANSFORM_GROUP_VALUES = 64 * 1024;

    @Override
    public void encodeRows(long firstRow, int rowCount, byte[] dst) {
        if (permuteHeads > 0) {
            encodePermuted(firstRow, rowCount, dst);
            return;
        }
        int group = (int) Math.max(1, (transform != null ? TRANSFORM_GROUP_VALUES : GROUP_VALUES) / rowLen);
        int rowBytes = Math.toIntExact(outType.rowBytes(rowLen));
        withSource(firstRow, rowCount, view -> {
            for (int k = 0; k < rowCount; k += group) {
                int g = Math.min(group, rowCount - k);
                int m = Math.toIntExact(g * rowLen);
                float[] values = scratch(0, m);
                view.read(k * rowLen, values, 0, m);
                if (transform != null) transform.applyRows(firstRow + k, g, values, 0, (int) rowLen);
                finish(values, m, dst, k * rowBytes);
            }
        });
    }

    private void encodePermuted(long firstRow, int rowCount, byte[] dst) {
        int n = Math.toIntExact(rowCount * rowLen);
        float[] values = scratch(0, n);
        long totalRows = src.numel() / rowLen;
        if (totalRows == 1) {
            // a 1-D Q/K bias: permute elements within the single row
            float[] raw = scratch(1, n);
            read(0, 1, raw);
            if (transform != null) transform.apply(0, raw, 0, n);
            for (int e = 0; e < n; e++) values[e] = raw[(int) QkPermutation.sourceRow(e, n, permuteHeads)];
        } else {
            long d = totalRows / permuteHeads;
            long lo = firstRow / d * d, hi = Math.min(totalRows, (firstRow + rowCount + d - 1) / d * d);
            float[] span = scratch(1, Math.toIntExact((hi - lo) * rowLen));
            read(lo, (int) (hi - lo), span);
            for (int k = 0; k < rowCount; k++) {
                long s = QkPermutation.sourceRow(firstRow + k, totalRows, permuteHeads);
                int from = Math.toIntExact((s - lo) * rowLen);
                if (transform != null) transform.apply(s, span, from, (int) rowLen);
                System.arraycopy(span, from, values, Math.toIntExact(k * rowLen), (int) rowLen);
            }
        }
        finish(values, n, dst, 0);
    }

    /** Scale, count f16 overflows, encode {@code n} values into {@code dst[dstOff…]}. */
    private void finish(float[] values, int n, byte[] dst, int dstOff) {
        if (scale != 1f) for (int i = 0; i < n; i++) values[i] *= scale;
        if (outType == GgmlType.F16 && f16Overflow != null) {
            long over = 0;
            for (int i = 0; i < n; i++) if (Math.abs(values[i]) > 65504f && Float.isFinite(values[i])) over++;
            if (over > 0) f16Overflow.addAndGet(over);
        }
        BlockCodec.of(outType).quantize(values, 0, n, dst, dstOff);
    }

    /** Reads f32 values of the mapped source rows; element 0 is the first requested row's first value. */
    private interface View {
        void read(long fromElement, float[] dst, int off, int count);
    }

    /** Maps just rows {@code [first, first+count)} (or uses the tensor's own mapping) for the duration of {@code body}. */
    private void withSource(long first, int count, java.util.function.Consumer<View> body) {
        long n = count * rowLen;
        if (n == 0) return;
        long elemBytes = src.dtype().size();
        if (region != null) {
            long off = region.offset() + first * rowLen * elemBytes;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = channels.get(region.file()).map(FileChannel.MapMode.READ_ONLY, off, n * elemBytes, arena);
                Tensor t = new Tensor(new TensorInfo(src.name(), src.dtype(), new long[] {n}), seg);
                body.accept(t::readFloats);
            } catch (IOException e) {
                throw OutputException.of(region.file(), e);
            }
        } else {
            Tensor t = handle().tensor();
            long base = first * rowLen;
            body.accept((from, dst, o, c) -> t.readFloats(base + from, dst, o, c));
        }
    }

    /** Source rows {@code [first, first+count)} widened to f32. */
    private void read(long first, int count, float[] dst) {
        int n = Math.toIntExact(count * rowLen);
        if (n == 0) return;
        long elemBytes = src.dtype().size();
        if (region != null) {
            long off = region.offset() + first * rowLen * elemBytes;
            long len = n * elemBytes;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = channels.get(region.file()).map(FileChannel.MapMode.READ_ONLY, off, len, arena);
                new Tensor(new TensorInfo(src.name(), src.dtype(), new long[] {n}), seg).readFloats(0, dst, 0, n);
            } catch (IOException e) {
                throw OutputException.of(region.file(), e);
            }
        } else {
            handle().tensor().readFloats(first * rowLen, dst, 0, n);
        }
    }

    private synchronized TensorHandle handle() {
        if (handle == null) handle = store.open(src.name());
        return handle;
    }

    @Override
    public synchronized void release() {
        if (handle != null) {
            handle.close();
            handle = null;
        }
    }
}
