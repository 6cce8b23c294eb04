package org.llavapack.formats.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.llavapack.BadInputException;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore.FileRegion;

/**
 * Storages of a torch zip: member {@code <prefix>data/<key>}. A member's CRC-32 is checked the first time its bytes
 * are used (when {@code verifyCrc} is on), not at open: {@code inspect} then costs no data reads, while every byte a
 * conversion consumes has been checked before use. Compressed members are inflated once into the checkpoint's arena.
 */
final class ZipStorages implements StorageSource {
    /** Largest compressed storage inflated into memory; torch itself never compresses storages. */
    static final long MAX_INFLATED_STORAGE = 2L << 30;

    private final Path path;
    private final ZipArchive zip;
    private final String prefix;
    private final boolean bigEndian;
    private final boolean verifyCrc;
    private final Arena arena;
    private final ConcurrentHashMap<String, MemorySegment> checked = new ConcurrentHashMap<>();

    ZipStorages(Path path, ZipArchive zip, String prefix, boolean bigEndian, boolean verifyCrc, Arena arena) {
        this.path = path;
        this.zip = zip;
        this.prefix = prefix;
        this.bigEndian = bigEndian;
        this.verifyCrc = verifyCrc;
        this.arena = arena;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public boolean bigEndian() {
        return bigEndian;
    }

    private ZipArchive.Entry member(String key) {
        String name = prefix + "data/" + key;
        ZipArchive.Entry e = zip.entries().get(name);
        if (e == null) throw new BadInputException(path, "storage " + PyRepr.of(key) + ": member " + PyRepr.of(name) + " is missing (not found)");
        return e;
    }

    @Override
    public TorchStorage storage(String key, DType dtype, long numel, String location) {
        ZipArchive.Entry e = member(key);
        long need;
        try {
            need = Math.multiplyExact(numel, dtype.size());
        } catch (ArithmeticException ex) {
            throw new BadInputException(path, "storage " + PyRepr.of(key) + ": " + numel + " elements of " + dtype + " overflow int64 bytes");
        }
        if (e.size() < need) {
            throw new BadInputException(path, "storage " + PyRepr.of(key) + ": member " + e.name() + " holds " + e.size()
                    + " bytes but its persistent id says " + numel + " " + dtype + " elements (" + need + " bytes; too short)");
        }
        return new TorchStorage(key, dtype, numel, location, this);
    }

    /** The whole member, checked once. */
    private MemorySegment content(TorchStorage s) {
        ZipArchive.Entry e = member(s.key());
        return checked.computeIfAbsent(e.name(), name -> {
            MemorySegment c = zip.content(e, MAX_INFLATED_STORAGE, arena);
            if (verifyCrc) {
                zip.verifyCrc(e, c);
                // The check touched every page of the member; drop them from this process's resident set (they stay
                // in the page cache) so checking a multi-GB checkpoint does not hold it all in RSS.
                if (c.isMapped()) c.unload();
            }
            return c;
        });
    }

    @Override
    public MemorySegment bytes(TorchStorage s) {
        return content(s).asSlice(0, s.byteSize());
    }

    @Override
    public Optional<FileRegion> region(TorchStorage s) {
        ZipArchive.Entry e = member(s.key());
        if (e.method() != ZipArchive.STORED) return Optional.empty();
        content(s);
        return Optional.of(new FileRegion(path, e.dataOffset(), s.byteSize()));
    }

    /** Checks every member's CRC now (data and metadata alike). */
    void verifyAll() {
        for (ZipArchive.Entry e : zip.entries().values()) {
            if (e.name().startsWith(prefix + "data/")) {
                checked.computeIfAbsent(e.name(), name -> {
                    MemorySegment c = zip.content(e, MAX_INFLATED_STORAGE, arena);
                    zip.verifyCrc(e, c);
                    return c;
                });
            } else if (e.size() <= MAX_INFLATED_STORAGE) {
                try (Arena scratch = Arena.ofConfined()) {
                    zip.verifyCrc(e, zip.content(e, MAX_INFLATED_STORAGE, scratch));
                }
            }
        }
    }
}
