package org.llavapack.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.llavapack.OutputException;

/**
 * An output file or folder that appears under its final name only when complete. Work happens under a hidden
 * temporary sibling (same file system, so the final step is one atomic rename); closing without {@link #commit()}
 * deletes it. A shutdown hook removes temporaries when the JVM is interrupted; after kill -9 only a hidden
 * {@code .NAME.llavapack-tmp-PID-*} sibling can remain, never a half-written file under the final name, and the next
 * run writing NAME removes it once that pid is gone.
 */
public final class AtomicOutput implements AutoCloseable {
    private static final Set<Path> LIVE = ConcurrentHashMap.newKeySet();
    /** Temporary → final name of every output this process began, for error messages (see {@link #finalNames}). */
    private static final java.util.Map<String, String> NAMES = new ConcurrentHashMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(AtomicOutput::deleteTree), "llavapack-cleanup"));
    }

    private final Path target;
    private final Path temp;
    private final boolean directory;
    private final boolean replace;
    private boolean committed;

    private AtomicOutput(Path target, Path temp, boolean directory, boolean replace) {
        this.target = target;
        this.temp = temp;
        this.directory = directory;
        this.replace = replace;
    }

    /** A new file at {@code target}; refuses to overwrite an existing one unless {@code replace}. */
    public static AtomicOutput file(Path target, boolean replace) {
        return begin(target, false, replace);
    }

    /** A new folder at {@code target}; refuses an existing path unless {@code replace}. */
    public static AtomicOutput directory(Path target, boolean replace) {
        return begin(target, true, replace);
    }

    private static AtomicOutput begin(Path target, boolean directory, boolean replace) {
        Path abs = target.toAbsolutePath().normalize();
        if (Files.exists(abs, java.nio.file.LinkOption.NOFOLLOW_LINKS) && !replace) {
            throw new OutputException(target, "already exists (use --force to replace it)", null);
        }
        Path parent = abs.getParent();
        try {
            Files.createDirectories(parent);
            sweepStale(parent, abs.getFileName().toString());
            String name = prefix(abs.getFileName().toString(), TMP) + tag();
            Path temp = parent.resolve(name);
            if (directory) Files.createDirectory(temp);
            else Files.createFile(temp);
            LIVE.add(temp);
            NAMES.put(temp.toString(), abs.toString());
            return new AtomicOutput(abs, temp, directory, replace);
        } catch (IOException e) {
            throw OutputException.of(parent, e);
        }
    }

    /** Where to write: the temporary file, or the temporary folder to fill. */
    public Path path() {
        return temp;
    }

    public Path target() {
        return target;
    }

    /** Flushes the finished output to disk and moves it to its final name. */
    public void commit() {
        try {
            syncTree(temp);
            Path old = null;
            if (replace && Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                old = target.resolveSibling(prefix(target.getFileName().toString(), OLD) + tag());
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            }
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new OutputException(target, "cannot rename atomically into place", e);
            }
            committed = true;
            LIVE.remove(temp);
            if (old != null) deleteTree(old);
        } catch (IOException e) {
            throw OutputException.of(target, e);
        }
    }

    @Override
    public void close() {
        if (!committed) {
            deleteTree(temp);
            LIVE.remove(temp);
        }
    }

    /**
     * {@code message} with each temporary path replaced by its final name: "out/model.safetensors: no space left on
     * device" tells the user which output failed; the hidden temporary's name (already deleted) does not.
     */
    public static String finalNames(String message) {
        if (message == null) return null;
        String m = message;
        for (var e : NAMES.entrySet()) m = m.replace(e.getKey(), e.getValue());
        return m;
    }

    private static final String TMP = ".llavapack-tmp-";
    private static final String OLD = ".llavapack-old-";

    private static String prefix(String targetName, String kind) {
        return "." + targetName + kind;
    }

    /** The owner's pid first, so a later run can tell a dead process's leftovers from a live writer's work. */
    private static String tag() {
        return ProcessHandle.current().pid() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
    }

    /**
     * Removes the temporaries that a killed run (kill -9, power loss: no shutdown hook ran) left next to this target:
     * hidden siblings named after the same target whose owner pid is no longer running. A live owner's temporaries
     * are kept, so two processes writing different outputs into one folder never disturb each other. Names without a
     * pid (older versions) are left alone. Best effort: failure to delete never stops the new run.
     */
    static void sweepStale(Path parent, String targetName) {
        String tmp = prefix(targetName, TMP), old = prefix(targetName, OLD);
        DirectoryStream.Filter<Path> ours = p -> {
            String n = p.getFileName().toString();
            return n.startsWith(tmp) || n.startsWith(old);
        };
        try (var siblings = Files.newDirectoryStream(parent, ours)) {
            for (Path p : siblings) {
                String n = p.getFileName().toString();
                String rest = n.startsWith(tmp) ? n.substring(tmp.length()) : n.startsWith(old) ? n.substring(old.length()) : null;
                if (rest == null) continue;
                int dash = rest.indexOf('-');
                if (dash <= 0) continue;
                long pid;
                try {
                    pid = Long.parseLong(rest.substring(0, dash));
                } catch (NumberFormatException e) {
                    continue;
                }
                if (pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) continue;
                deleteTree(p);
            }
        } catch (IOException | RuntimeException ignored) {
            // a folder we cannot list is reported by the write that follows
        }
    }

    public boolean isDirectory() {
        return directory;
    }

    /**
     * Data must be durable before the rename makes it visible, or a crash could leave complete-looking names over
     * empty files. One pass at the end lets the kernel write back in the background while the work ran.
     */
    private static void syncTree(Path root) throws IOException {
        try (var files = Files.walk(root)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                boolean dir = Files.isDirectory(p);
                try (FileChannel ch = FileChannel.open(p, dir ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
                    ch.force(true);
                } catch (IOException e) {
                    if (!dir) throw e; // some file systems refuse to open folders for fsync; file data is what matters
                }
            }
        }
    }

    static void deleteTree(Path root) {
        try {
            if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException ignored) {
            // best effort: a leftover hidden temporary never shadows a real output
        }
    }
}
