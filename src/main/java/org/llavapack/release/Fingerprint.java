package org.llavapack.release;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.List;
import java.util.stream.Stream;
import org.llavapack.OutputException;
import org.llavapack.bundle.Sha256;

/**
 * What a stage's result depends on, as one SHA-256: its options, the outputs of the stages before it (by their
 * recorded hashes) and external inputs. External inputs (a 16 GB checkpoint, the base model) are identified by every
 * file's path, size and modification time rather than re-hashed on each run: pth-to-hf records their real SHA-256s
 * in conversion.json, and re-reading them to decide whether to skip would cost as much as the stage.
 */
final class Fingerprint {
    private final MessageDigest md = Sha256.newDigest();

    Fingerprint add(String key, Object value) {
        md.update((key + "=" + value + "\n").getBytes(StandardCharsets.UTF_8));
        return this;
    }

    /** Every regular file below {@code path} (or the file itself): relative name, size, mtime. */
    Fingerprint addTree(String key, Path path) {
        add(key, path.toAbsolutePath().normalize());
        try (Stream<Path> walk = Files.isDirectory(path) ? Files.walk(path) : Stream.of(path)) {
            List<Path> files = walk.filter(Files::isRegularFile).sorted().toList();
            for (Path f : files) {
                BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                add(key + ":" + path.relativize(f), a.size() + "@" + a.lastModifiedTime().toMillis());
            }
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
        return this;
    }

    String hex() {
        return Sha256.hex(md.digest());
    }
}
