package org.llavapack.convert.onnx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.Payload;
import org.llavapack.model.Weights;

/**
 * Source tensors streamed into the data file in row blocks (never a whole large matrix on the heap), as fp32 or
 * fp16. Several tensors can be stacked along rows (packed Q|K|V). {@code transposed} writes HF's {@code [out, in]}
 * Linear weights as {@code [in, out]}, the layout MatMul needs.
 */
public record MatrixPayload(Weights weights, List<String> names, boolean transposed, ElemType type) implements Payload {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Floats per row block: 16 MB on the heap whatever the matrix size. */
    static final int BLOCK_FLOATS = 1 << 22;

    public MatrixPayload {
        names = List.copyOf(names);
        if (type != ElemType.FLOAT && type != ElemType.FLOAT16) throw new IllegalArgumentException("MatrixPayload writes FLOAT or FLOAT16");
        long cols = -1;
        for (String n : names) {
            long c = cols(weights.shape(n));
            if (cols >= 0 && c != cols) throw new IllegalArgumentException(n + " does not stack with " + names.getFirst());
            cols = c;
        }
    }

    static long cols(long[] shape) {
        long c = 1;
        for (int i = 1; i < shape.length; i++) c *= shape[i];
        return shape.length == 0 ? 1 : c;
    }

    static long rows(long[] shape) {
        return shape.length == 0 ? 1 : shape[0];
    }

    public long totalRows() {
        long r = 0;
        for (String n : names) r += rows(weights.shape(n));
        return r;
    }

    public long cols() {
        return cols(weights.shape(names.getFirst()));
    }

    @Override
    public long bytes() {
        return totalRows() * cols() * type.bytes;
    }

    @Override
    public void write(MemorySegment target) {
        write(target, BLOCK_FLOATS);
    }

    /** As {@link #write(MemorySegment)} with a chosen block size (tests use small blocks to exercise the block seams). */
    void write(MemorySegment target, int blockFloats) {
        long cols = cols(), outRows = totalRows(), rowBase = 0;
        for (String n : names) {
            long rows = rows(weights.shape(n));
            int per = (int) Math.max(1, Math.min(rows, blockFloats / Math.max(1, cols)));
            int blocks = (int) ((rows + per - 1) / per);
            long base = rowBase;
            try (Weights.RowReader reader = weights.reader(n)) {
                // Blocks write disjoint parts of the target (row ranges, or column ranges when transposed): one per core.
                java.util.stream.IntStream.range(0, blocks).parallel().forEach(b -> {
                    long r = (long) b * per;
                    int cnt = (int) Math.min(per, rows - r);
                    Buffers buf = BUFFERS.get();
                    float[] block = buf.block(per * cols);
                    reader.read(r, cnt, block);
                    if (!transposed) {
                        put(block, 0, target, ((base + r) * cols) * type.bytes, (int) (cnt * cols), buf);
                    } else {
                        float[] t = buf.transposed(per * cols);
                        transpose(block, cnt, (int) cols, t);
                        for (int i = 0; i < cols; i++) put(t, i * cnt, target, ((long) i * outRows + base + r) * type.bytes, cnt, buf);
                    }
                });
            }
            rowBase += rows;
        }
    }

    /**
     * {@code src [rows, cols]} → {@code dst [cols, rows]} in 16×16 tiles (int indices, hoisted row offsets): the hot
     * loop of an export, since every MatMul weight is transposed to {@code [in, out]}.
     */
    static void transpose(float[] src, int rows, int cols, float[] dst) {
        final int tile = 16;
        for (int r0 = 0; r0 < rows; r0 += tile) {
            int r1 = Math.min(rows, r0 + tile);
            for (int c0 = 0; c0 < cols; c0 += tile) {
                int c1 = Math.min(cols, c0 + tile);
                for (int c = c0; c < c1; c++) {
                    int d = c * rows;
                    for (int r = r0; r < r1; r++) dst[d + r] = src[r * cols + c];
                }
            }
        }
    }

    /** Per-thread scratch arrays, reused across blocks and tensors so the heap stays at a few blocks. */
    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    private static final class Buffers {
        float[] block = new float[0], transposed = new float[0];
        short[] halves = new short[0];

        float[] block(long n) {
            if (block.length < n) block = new float[(int) n];
            return block;
        }

        float[] transposed(long n) {
            if (transposed.length < n) transposed = new float[(int) n];
            return transposed;
        }

        short[] halves(int n) {
            if (halves.length < n) halves = new short[n];
            return halves;
        }
    }

    private void put(float[] src, int from, MemorySegment target, long byteOffset, int count, Buffers buf) {
        if (type == ElemType.FLOAT) {
            MemorySegment.copy(src, from, target, LE_FLOAT, byteOffset, count);
        } else {
            // Round to nearest even, as Float.floatToFloat16 (an F16C instruction on x86) does; then one bulk copy.
            short[] h = buf.halves(count);
            for (int i = 0; i < count; i++) h[i] = Float.floatToFloat16(src[from + i]);
            MemorySegment.copy(h, 0, target, LE_SHORT, byteOffset, count);
        }
    }
}
