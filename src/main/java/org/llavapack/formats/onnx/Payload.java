package org.llavapack.formats.onnx;

import java.lang.foreign.MemorySegment;

/**
 * The bytes of one initializer, produced only when the external data file is written: little-endian, row-major,
 * exactly {@link #bytes()} long. Implementations read their source weights then (tensor by tensor, row block by row
 * block), so a graph of an 8B model is described without holding any weights.
 */
public interface Payload {
    long bytes();

    /** Fills {@code target} (a mapped, zeroed region of exactly {@link #bytes()} bytes). */
    void write(MemorySegment target);
}
