package org.llavapack.formats.torch;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore.FileRegion;

/** Where a checkpoint's storages live: the zip members {@code data/<key>} or the tail of a legacy stream. */
sealed interface StorageSource permits ZipStorages, LegacyStorages {

    Path path();

    /** Whether storages hold big-endian elements (zip {@code byteorder} member / legacy {@code sys_info}). */
    boolean bigEndian();

    /** The storage a persistent id names, checked against the container (the member exists and is large enough). */
    TorchStorage storage(String key, DType dtype, long numel, String location);

    /** All {@code numel × itemsize} bytes of a storage, in file byte order, verified (CRC) when the source checks. */
    MemorySegment bytes(TorchStorage storage);

    /** Where the storage's bytes lie uncompressed in the file, verified like {@link #bytes}; empty when compressed. */
    Optional<FileRegion> region(TorchStorage storage);
}
