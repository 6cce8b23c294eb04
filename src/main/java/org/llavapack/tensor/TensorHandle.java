package org.llavapack.tensor;

/** A tensor together with the mapping that backs it; closing releases the mapping (not the file). */
public record TensorHandle(Tensor tensor, AutoCloseable release) implements AutoCloseable {
    @Override
    public void close() {
        try {
            release.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
