package org.llavapack.convert.onnx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.Payload;
import org.llavapack.model.Weights;
import org.llavapack.tensor.Float16;

/**
 * Source tensors streamed into the data file in row blocks (never a whole large matrix on the heap), as fp32 or
 * fp16. Several tensors can be stacked along rows (packed Q|K|V). {@code transposed} writes HF's {@code [out, in]}
 * Linear weights as {@code [in, out]}, the layout MatMul needs.
 */
public record MatrixPayload(Weights weights, List<String> names, boolean transposed, ElemType type) implements Payload {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
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
        long cols = cols(), outRows = totalRows(), rowBase = 0;
        int es = type.bytes;
        for (String n : names) {
            long rows = rows(weights.shape(n));
            int per = (int) Math.max(1, Math.min(rows, BLOCK_FLOATS / Math.max(1, cols)));
            float[] t = transposed ? new float[(int) (per * cols)] : null;
            for (long r = 0; r < rows; r += per) {
                int cnt = (int) Math.min(per, rows - r);
                float[] block = weights.shape(n).length <= 1 ? weights.floats(n) : weights.rows(n, r, cnt);
                if (!transposed) {
                    put(block, 0, target, ((rowBase + r) * cols) * es, block.length);
                } else {
                    // Blocked transpose of [cnt, cols] into [cols, cnt], then one contiguous run per output row.
                    for (int i0 = 0; i0 < cols; i0 += 32) {
                        for (int k0 = 0; k0 < cnt; k0 += 32) {
                            int i1 = (int) Math.min(cols, i0 + 32), k1 = Math.min(cnt, k0 + 32);
                            for (int k = k0; k < k1; k++) for (int i = i0; i < i1; i++) t[i * cnt + k] = block[(int) (k * cols) + i];
                        }
                    }
                    for (int i = 0; i < cols; i++) put(t, i * cnt, target, ((long) i * outRows + rowBase + r) * es, cnt);
                }
            }
            rowBase += rows;
        }
    }

    private void put(float[] src, int from, MemorySegment target, long byteOffset, int count) {
        if (type == ElemType.FLOAT) MemorySegment.copy(src, from, target, LE_FLOAT, byteOffset, count);
        else Float16.fromFloats(src, from, target, byteOffset, count);
    }
}
