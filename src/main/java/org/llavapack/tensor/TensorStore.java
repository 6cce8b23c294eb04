package org.llavapack.tensor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A read-only collection of named tensors backed by files: one safetensors file, a sharded folder, a torch
 * checkpoint. Implementations validate their input completely when opened, so every tensor listed can be read.
 */
public interface TensorStore extends AutoCloseable {

    /** The file or folder this store was opened from, for error messages. */
    Path source();

    /** Format name for inspect output, e.g. "safetensors". */
    String format();

    /** All tensors, in file order (state-dict order for sharded models). */
    List<TensorInfo> tensors();

    /** Free-form string metadata (safetensors {@code __metadata__}); empty when the format has none. */
    Map<String, String> metadata();

    default Optional<TensorInfo> info(String name) {
        return tensors().stream().filter(t -> t.name().equals(name)).findFirst();
    }

    default boolean contains(String name) {
        return info(name).isPresent();
    }

    /**
     * The tensor, mapped for as long as the store is open. Convenient for small tensors; for streaming through large
     * models use {@link #open(String)}, which unmaps when closed.
     */
    Tensor tensor(String name);

    /** The tensor in its own mapping; close the handle to release the pages. */
    TensorHandle open(String name);

    /**
     * Where the tensor's bytes lie in a file, when they lie there contiguously and in the declared little-endian
     * layout, so a copy can go file to file without passing through user space.
     */
    default Optional<FileRegion> region(String name) {
        return Optional.empty();
    }

    @Override
    void close();

    /** A contiguous byte range of a file. */
    record FileRegion(Path file, long offset, long length) {}
}
