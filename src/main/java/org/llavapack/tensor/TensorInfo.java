package org.llavapack.tensor;

import java.util.Arrays;

/**
 * A tensor's name, element type and shape (row-major, PyTorch order). The shape array is copied in and out so the
 * record stays a value.
 */
public record TensorInfo(String name, DType dtype, long[] shape) {

    public TensorInfo {
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException(name + ": negative dimension " + d);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    /** Element count; throws ArithmeticException on overflow so hostile shapes cannot wrap around. */
    public long numel() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Byte length of the contiguous data. */
    public long byteSize() {
        return Math.multiplyExact(numel(), dtype.size());
    }

    public TensorInfo withName(String newName) {
        return new TensorInfo(newName, dtype, shape);
    }

    /** The same tensor seen as a flat vector of {@code n} elements (for chunked processing). */
    public TensorInfo withShape(long... newShape) {
        return new TensorInfo(name, dtype, newShape);
    }

    public TensorInfo withDType(DType newType) {
        return new TensorInfo(name, newType, shape);
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
