package org.llavapack.convert.onnx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import org.llavapack.formats.onnx.Payload;
import org.llavapack.model.Weights;

/**
 * A matrix to be int4-quantized when the data file is written, not when the graph is built: quantizing is done once
 * for its three initializers (packed weights, scales, zero points, written one after the other) and released after
 * the last, so at most one quantized matrix is held at a time. {@link #matrix()} re-quantizes on demand
 * (deterministically) for tests that rebuild the dequantized reference.
 */
public final class Int4Source {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final Weights weights;
    private final List<String> names;
    private final boolean asymmetric;
    private final int n;
    private final int k;
    private Int4Matrix cached;

    public Int4Source(Weights weights, List<String> names, boolean asymmetric) {
        this.weights = weights;
        this.names = List.copyOf(names);
        this.asymmetric = asymmetric;
        long rows = 0;
        for (String s : names) rows += weights.shape(s)[0];
        this.n = Math.toIntExact(rows);
        this.k = (int) weights.shape(names.getFirst())[1];
    }

    public int n() {
        return n;
    }

    public int k() {
        return k;
    }

    public int blocks() {
        return (k + Int4Matrix.BLOCK - 1) / Int4Matrix.BLOCK;
    }

    public boolean asymmetric() {
        return asymmetric;
    }

    public List<String> names() {
        return names;
    }

    public synchronized Int4Matrix matrix() {
        if (cached == null) cached = Int4Matrix.quantize(weights, names, asymmetric);
        return cached;
    }

    synchronized void release() {
        cached = null;
    }

    Payload packed() {
        return new Part(this, (long) n * blocks() * Int4Matrix.BLOB, 0, false);
    }

    Payload scales() {
        return new Part(this, 4L * n * blocks(), 1, !asymmetric);
    }

    Payload zeroPoints() {
        return new Part(this, (long) n * ((blocks() + 1) / 2), 2, true);
    }

    private record Part(Int4Source src, long bytes, int which, boolean last) implements Payload {
        @Override
        public void write(MemorySegment target) {
            Int4Matrix m = src.matrix();
            switch (which) {
                case 0 -> MemorySegment.copy(m.packed(), 0, target, ValueLayout.JAVA_BYTE, 0, m.packed().length);
                case 1 -> MemorySegment.copy(m.scales(), 0, target, LE_FLOAT, 0, m.scales().length);
                default -> MemorySegment.copy(m.zeroPoints(), 0, target, ValueLayout.JAVA_BYTE, 0, m.zeroPoints().length);
            }
            if (last) src.release();
        }
    }
}
