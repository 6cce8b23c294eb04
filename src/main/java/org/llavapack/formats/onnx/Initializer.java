package org.llavapack.formats.onnx;

/**
 * A constant tensor of the graph. Weights go to the external data file; {@code inline} constants (shapes, axes,
 * scalars, a few bytes each) are stored in the model as {@code raw_data}, because onnxruntime's shape inference reads
 * Reshape/Slice/ReduceSum operands while loading and cannot read them from external data ("Cannot parse data from
 * external tensors").
 */
public record Initializer(String name, ElemType type, long[] dims, Payload payload, boolean inline) {
    /** Inline constants above this size are a builder bug: they belong in the data file. */
    public static final long MAX_INLINE_BYTES = 4096;

    public Initializer {
        long n = 1;
        for (long d : dims) {
            if (d < 0) throw new IllegalArgumentException(name + ": negative dimension");
            n = Math.multiplyExact(n, d);
        }
        long expect = type == ElemType.UINT8 ? n : Math.multiplyExact(n, type.bytes);
        if (inline && expect > MAX_INLINE_BYTES) throw new IllegalArgumentException(name + ": " + expect + " bytes is too large to inline");
        if (payload.bytes() != expect) throw new IllegalArgumentException(name + ": payload has " + payload.bytes() + " bytes, shape needs " + expect);
    }
}
