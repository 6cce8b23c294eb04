package org.llavapack.formats.torch;

import java.lang.foreign.MemorySegment;
import java.util.Optional;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore.FileRegion;

/**
 * A storage named by a persistent id: {@code numel} elements of {@code dtype} under {@code key}. Many tensors may view
 * one storage (ZeRO's flat buffers, transposed views, tied weights); the checkpoint hands out one object per key.
 */
public final class TorchStorage {
    private final String key;
    private final DType dtype;
    private final long numel;
    private final String location;
    private final StorageSource source;

    TorchStorage(String key, DType dtype, long numel, String location, StorageSource source) {
        this.key = key;
        this.dtype = dtype;
        this.numel = numel;
        this.location = location;
        this.source = source;
    }

    /** The storage key ({@code data/<key>} in a zip); keys are names, not numbers with meaning. */
    public String key() {
        return key;
    }

    public DType dtype() {
        return dtype;
    }

    /** Element count from the persistent id (bytes for an untyped storage, which reads as U8). */
    public long numel() {
        return numel;
    }

    public long byteSize() {
        return numel * dtype.size();
    }

    /** Device tag the storage was saved from ({@code cpu}, {@code cuda:3}); irrelevant for reading. */
    public String location() {
        return location;
    }

    /** The storage's bytes in file byte order (see {@link TorchTensor#data} for little-endian tensor bytes). */
    public MemorySegment bytes() {
        return source.bytes(this);
    }

    /** Where the bytes lie uncompressed in the checkpoint file. */
    public Optional<FileRegion> region() {
        return source.region(this);
    }

    StorageSource source() {
        return source;
    }

    @Override
    public String toString() {
        return "storage " + PyRepr.of(key) + " " + dtype + "[" + numel + "]";
    }
}
