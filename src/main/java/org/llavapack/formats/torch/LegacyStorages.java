package org.llavapack.formats.torch;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore.FileRegion;

/**
 * Storages of a legacy (pre-zip) torch stream: raw bytes after the pickles, found by walking the element counts in
 * key-list order. The walk only reads the 8-byte counts and skips the data, so opening never touches tensor bytes.
 */
final class LegacyStorages implements StorageSource {
    private final Path path;
    private final MemorySegment file;
    private final boolean bigEndian;
    private final Map<String, Long> offsets = new HashMap<>();

    LegacyStorages(Path path, MemorySegment file, boolean bigEndian) {
        this.path = path;
        this.file = file;
        this.bigEndian = bigEndian;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public boolean bigEndian() {
        return bigEndian;
    }

    @Override
    public TorchStorage storage(String key, DType dtype, long numel, String location) {
        try {
            Math.multiplyExact(numel, dtype.size());
        } catch (ArithmeticException ex) {
            throw new BadInputException(path, "storage " + PyRepr.of(key) + ": " + numel + " elements of " + dtype + " overflow int64 bytes");
        }
        return new TorchStorage(key, dtype, numel, location, this);
    }

    /** Records where storage {@code key}'s bytes start, once the tail has been walked. */
    void place(String key, long offset) {
        offsets.put(key, offset);
    }

    private long offset(TorchStorage s) {
        Long off = offsets.get(s.key());
        if (off == null) throw new IllegalStateException("storage " + PyRepr.of(s.key()) + " was never placed");
        return off;
    }

    @Override
    public MemorySegment bytes(TorchStorage s) {
        return file.asSlice(offset(s), s.byteSize());
    }

    @Override
    public Optional<FileRegion> region(TorchStorage s) {
        return Optional.of(new FileRegion(path, offset(s), s.byteSize()));
    }
}
