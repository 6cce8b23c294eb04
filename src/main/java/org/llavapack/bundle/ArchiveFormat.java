package org.llavapack.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;

/** How a bundle is stored: a folder, or a tar archive, plain or compressed. */
public enum ArchiveFormat {
    DIRECTORY("folder"),
    TAR("tar"),
    TAR_ZSTD("tar.zst"),
    TAR_GZIP("tar.gz");

    private final String label;

    ArchiveFormat(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    /** The format an output name asks for; any other name is a folder, except archive types we do not write. */
    public static ArchiveFormat forOutput(Path out) {
        String name = out.getFileName() == null ? "" : out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".tar.zst") || name.endsWith(".tzst")) return TAR_ZSTD;
        if (name.endsWith(".tar.gz") || name.endsWith(".tgz")) return TAR_GZIP;
        if (name.endsWith(".tar")) return TAR;
        for (String unsupported : new String[] {".zip", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".7z", ".zst", ".gz"}) {
            if (name.endsWith(unsupported)) {
                throw new BadInputException(out, "unsupported bundle type '" + unsupported + "' (use a folder, .tar, .tar.zst or .tar.gz)");
            }
        }
        return DIRECTORY;
    }

    /** Recognises an existing bundle by content (magic bytes), not by name. */
    public static Optional<ArchiveFormat> detect(Path path) {
        if (Files.isDirectory(path)) return Optional.of(DIRECTORY);
        if (!Files.isRegularFile(path)) return Optional.empty();
        byte[] head = new byte[512];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
        if (n >= 4 && (head[0] & 0xFF) == 0x28 && (head[1] & 0xFF) == 0xB5 && (head[2] & 0xFF) == 0x2F && (head[3] & 0xFF) == 0xFD) return Optional.of(TAR_ZSTD);
        if (n >= 2 && (head[0] & 0xFF) == 0x1F && (head[1] & 0xFF) == 0x8B) return Optional.of(TAR_GZIP);
        // ustar magic at offset 257 ("ustar\0" POSIX or "ustar  " GNU).
        if (n >= 263 && new String(head, 257, 5, java.nio.charset.StandardCharsets.US_ASCII).equals("ustar")) return Optional.of(TAR);
        return Optional.empty();
    }
}
