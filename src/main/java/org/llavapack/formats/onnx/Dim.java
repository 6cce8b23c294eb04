package org.llavapack.formats.onnx;

/** One dimension of a graph input or output: a fixed size or a named symbolic one ({@code batch_size}). */
public sealed interface Dim {
    record Fixed(long value) implements Dim {}

    /** Different lengths need different names: onnxruntime enforces one size per name. */
    record Symbolic(String name) implements Dim {}

    static Dim of(long value) {
        return new Fixed(value);
    }

    static Dim of(String name) {
        return new Symbolic(name);
    }
}
