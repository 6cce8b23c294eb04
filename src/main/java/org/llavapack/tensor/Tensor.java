package org.llavapack.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A read-only tensor: its description and its contiguous little-endian bytes, usually a slice of a memory-mapped
 * file. Nothing is copied to the heap unless a method here is asked to.
 */
public record Tensor(TensorInfo info, MemorySegment data) {
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        if (data.byteSize() != info.byteSize()) {
            throw new IllegalArgumentException(info + ": " + data.byteSize() + " bytes for " + info.byteSize() + " expected");
        }
    }

    public String name() {
        return info.name();
    }

    public DType dtype() {
        return info.dtype();
    }

    public long numel() {
        return info.numel();
    }

    /** Element {@code i} (flat, row-major) widened to float. Integer types are converted by value. */
    public float getFloat(long i) {
        return switch (info.dtype()) {
            case F32 -> data.get(BFloat16.LE_FLOAT, 4 * i);
            case BF16 -> BFloat16.toFloat(data.get(BFloat16.LE_SHORT, 2 * i));
            case F16 -> Float16.toFloat(data.get(BFloat16.LE_SHORT, 2 * i));
            case F64 -> (float) data.get(LE_DOUBLE, 8 * i);
            case F8_E4M3 -> Float8.e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> Float8.e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            default -> (float) getLong(i);
        };
    }

    /** Element {@code i} of an integer or bool tensor. */
    public long getLong(long i) {
        return switch (info.dtype()) {
            case BOOL, U8 -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case I16 -> data.get(BFloat16.LE_SHORT, 2 * i);
            case U16 -> data.get(BFloat16.LE_SHORT, 2 * i) & 0xFFFF;
            case I32 -> data.get(LE_INT, 4 * i);
            case U32 -> data.get(LE_INT, 4 * i) & 0xFFFFFFFFL;
            case I64, U64 -> data.get(LE_LONG, 8 * i);
            default -> throw new IllegalStateException(info + " is not an integer tensor");
        };
    }

    /** Widens elements {@code [from, from+count)} into {@code dst[dstIndex…]}; vectorized for F32/BF16/F16. */
    public void readFloats(long from, float[] dst, int dstIndex, int count) {
        switch (info.dtype()) {
            case F32 -> MemorySegment.copy(data, BFloat16.LE_FLOAT, 4 * from, dst, dstIndex, count);
            case BF16 -> BFloat16.toFloats(data, 2 * from, dst, dstIndex, count);
            case F16 -> Float16.toFloats(data, 2 * from, dst, dstIndex, count);
            default -> {
                for (int k = 0; k < count; k++) dst[dstIndex + k] = getFloat(from + k);
            }
        }
    }

    /** The whole tensor as floats on the heap; only for tensors below 2^31 elements. */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException(info + " is too large for one array");
        float[] out = new float[(int) n];
        readFloats(0, out, 0, (int) n);
        return out;
    }
}
