package org.llavapack.bundle;

import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.llavapack.BadInputException;
import org.llavapack.CheckFailedException;
import org.llavapack.OutputException;
import org.llavapack.progress.Progress;

/**
 * A bundle to read: a folder or a tar archive (plain, zstd or gzip). Archives are streamed entry by entry, never
 * extracted to disk. Both kinds present the same files in the same order: control files first, then the payload in
 * code-point order (an archive keeps the order it was written in, which for llavapack archives is exactly that).
 */
public sealed interface BundleSource permits BundleSource.Folder, BundleSource.Archive {

    /** Largest control file read into memory (a manifest lists ~300 bytes per file; the Hub caps repos at 100k files). */
    long MAX_CONTROL = 256L << 20;

    Path path();

    ArchiveFormat format();

    @FunctionalInterface
    interface Visitor {
        /** {@code in} holds exactly {@code size} bytes of the file and is only valid during the call. */
        void visit(String path, long size, InputStream in) throws IOException;
    }

    /** Every file, in bundle order. Files under the ignored top-level names are skipped. */
    void forEach(Visitor visitor);

    /** Hashes every file and keeps the control files' bytes: the input of {@link Verification#check}. */
    Verification.Found scan(int threads, Progress progress);

    static BundleSource open(Path path) {
        if (!Files.exists(path)) throw new BadInputException(path, "no such file or directory");
        ArchiveFormat format = ArchiveFormat.detect(path)
                .orElseThrow(() -> new BadInputException(path, "not a bundle (expected a folder, .tar, .tar.zst or .tar.gz)"));
        return format == ArchiveFormat.DIRECTORY ? new Folder(path) : new Archive(path, format);
    }

    /** Control files first, then the rest, as archives are written. */
    static List<String> bundleOrder(Iterable<String> paths) {
        List<String> control = new ArrayList<>();
        TreeMap<String, String> rest = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        for (String p : paths) {
            if (BundleLayout.isControl(p)) control.add(p);
            else rest.put(p, p);
        }
        control.sort(java.util.Comparator.comparingInt(BundleLayout.CONTROL::indexOf));
        control.addAll(rest.keySet());
        return control;
    }

    private static byte[] readControl(String path, long size, InputStream in) throws IOException {
        if (size > MAX_CONTROL) throw new CheckFailedException(path + ": too large for a " + path + " (" + size + " bytes)");
        return in.readNBytes((int) size);
    }

    /** A bundle folder. */
    record Folder(Path path) implements BundleSource {
        @Override
        public ArchiveFormat format() {
            return ArchiveFormat.DIRECTORY;
        }

        /** Every regular file by bundle path; links and special files fail (OMS allow_symlinks=false). */
        public Map<String, Path> files() {
            Map<String, Path> found = new HashMap<>();
            try {
                Files.walkFileTree(path, new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                        if (dir.equals(path)) return FileVisitResult.CONTINUE;
                        String rel = relative(dir);
                        if (BundleLayout.isIgnored(rel)) return FileVisitResult.SKIP_SUBTREE;
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                        String rel = relative(file);
                        if (BundleLayout.isIgnored(rel)) return FileVisitResult.CONTINUE;
                        if (attrs.isSymbolicLink()) throw new CheckFailedException(rel + ": a symbolic link (bundles hold regular files only)");
                        if (!attrs.isRegularFile()) throw new CheckFailedException(rel + ": not a regular file");
                        BundleLayout.problem(rel).ifPresent(p -> {
                            throw new CheckFailedException(rel + ": not a valid bundle path (" + p + ")");
                        });
                        found.put(rel, file);
                        return FileVisitResult.CONTINUE;
                    }
                });
            } catch (IOException e) {
                throw OutputException.of(path, e);
            }
            Map<String, Path> ordered = new LinkedHashMap<>();
            for (String p : bundleOrder(found.keySet())) ordered.put(p, found.get(p));
            return ordered;
        }

        private String relative(Path p) {
            StringBuilder sb = new StringBuilder();
            for (Path part : path.relativize(p)) {
                if (!sb.isEmpty()) sb.append('/');
                sb.append(part);
            }
            return sb.toString();
        }

        @Override
        public void forEach(Visitor visitor) {
            for (var e : files().entrySet()) {
                try (InputStream in = new BufferedInputStream(Files.newInputStream(e.getValue()), 1 << 16)) {
                    visitor.visit(e.getKey(), Files.size(e.getValue()), in);
                } catch (IOException ex) {
                    throw OutputException.of(e.getValue(), ex);
                }
            }
        }

        @Override
        public Verification.Found scan(int threads, Progress progress) {
            Map<String, Path> files = files();
            long total = 0;
            for (Path p : files.values()) total += p.toFile().length();
            progress.start("verifying", total, files.size());
            Map<String, Sha256.Facts> digests = Sha256.ofFiles(files, threads, progress);
            Map<String, byte[]> control = new HashMap<>();
            for (String c : BundleLayout.CONTROL) {
                Path p = files.get(c);
                if (p == null) continue;
                try (InputStream in = Files.newInputStream(p)) {
                    control.put(c, readControl(c, Files.size(p), in));
                } catch (IOException e) {
                    throw OutputException.of(p, e);
                }
            }
            return new Verification.Found(digests, control);
        }
    }

    /** A bundle archive, read as a stream. */
    record Archive(Path path, ArchiveFormat format) implements BundleSource {
        private InputStream decompressed(Progress progress) throws IOException {
            InputStream file = Files.newInputStream(path);
            // Progress counts archive bytes consumed: the only total known before the stream is read.
            InputStream counted = progress == Progress.NONE ? file : new FilterInputStream(file) {
                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = super.read(b, off, len);
                    if (n > 0) progress.advance(n, 0);
                    return n;
                }
            };
            InputStream raw = new BufferedInputStream(counted, 1 << 20);
            return switch (format) {
                case TAR -> raw;
                case TAR_ZSTD -> new BufferedInputStream(new ZstdInputStream(raw), 1 << 20);
                case TAR_GZIP -> new BufferedInputStream(GzipCompressorInputStream.builder().setInputStream(raw).setDecompressConcatenated(true).get(), 1 << 20);
                case DIRECTORY -> throw new IllegalStateException();
            };
        }

        @Override
        public void forEach(Visitor visitor) {
            forEach(visitor, Progress.NONE);
        }

        void forEach(Visitor visitor, Progress progress) {
            Set<String> seen = new HashSet<>();
            String current = null;
            try (TarArchiveInputStream tar = new TarArchiveInputStream(decompressed(progress), java.nio.charset.StandardCharsets.UTF_8.name())) {
                TarArchiveEntry e;
                while ((e = tar.getNextEntry()) != null) {
                    String name = e.getName();
                    while (name.startsWith("./")) name = name.substring(2);
                    if (e.isDirectory()) {
                        String dir = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
                        if (!dir.isEmpty() && !dir.equals(".") && !BundleLayout.isCanonical(dir)) {
                            throw new CheckFailedException(path + ": archive entry '" + e.getName() + "' is not a valid bundle path");
                        }
                        continue;
                    }
                    if (BundleLayout.isIgnored(name) && BundleLayout.isCanonical(name)) continue;
                    if (!e.isFile() || e.isSparse()) {
                        throw new CheckFailedException(name + ": not a regular file in the archive (links and special files are not allowed)");
                    }
                    var problem = BundleLayout.problem(name);
                    if (problem.isPresent()) throw new CheckFailedException(path + ": archive entry '" + e.getName() + "' is not a valid bundle path (" + problem.get() + ")");
                    if (!seen.add(name)) throw new CheckFailedException(name + ": appears twice in the archive");
                    current = name;
                    long size = e.getSize();
                    InputStream entry = new FilterInputStream(tar) {
                        @Override
                        public void close() {
                            // the archive stream stays open for the next entry
                        }
                    };
                    visitor.visit(name, size, entry);
                    current = null;
                }
            } catch (IOException ex) {
                throw new CheckFailedException(path + ": damaged " + format.label() + " archive" + (current == null ? "" : " (in " + current + ")")
                        + ": " + (ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage()));
            }
        }

        @Override
        public Verification.Found scan(int threads, Progress progress) {
            long compressed = path.toFile().length();
            progress.start("verifying", compressed, 0);
            Map<String, Sha256.Facts> digests = new HashMap<>();
            Map<String, byte[]> control = new HashMap<>();
            forEach((name, size, in) -> {
                if (BundleLayout.isControl(name)) {
                    byte[] bytes = readControl(name, size, in);
                    control.put(name, bytes);
                    digests.put(name, new Sha256.Facts(bytes.length, Sha256.of(bytes)));
                } else {
                    digests.put(name, Sha256.ofStream(in, Progress.NONE));
                }
                progress.advance(0, 1);
            }, progress);
            return new Verification.Found(digests, control);
        }
    }
}
