package org.llavapack.formats.gguf;

import java.nio.file.Files;
import java.nio.file.Path;

/** Bytes of {@link GgufTestFiles#small}. */
final class GgufWriterReaderTestFiles {
    private GgufWriterReaderTestFiles() {}

    static byte[] smallBytes(Path dir) throws java.io.IOException {
        Path sub = Files.createTempDirectory(dir, "small");
        return Files.readAllBytes(GgufTestFiles.small(sub));
    }
}
