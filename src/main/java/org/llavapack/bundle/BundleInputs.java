package org.llavapack.bundle;

import java.io.IOException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;

/** The files a bundle is made of, gathered from its input folders. */
public final class BundleInputs {
    private BundleInputs() {}

    /**
     * One input folder and where its files go in the bundle: at the root ({@code DIR}) or under a subfolder
     * ({@code SUB=DIR}), which keeps e.g. a merged model and its GGUF export from colliding on config.json.
     */
    public record Spec(String prefix, Path dir) {
        public static Spec parse(String arg) {
            Path whole = Path.of(arg);
            if (Files.isDirectory(whole)) return new Spec("", whole);
            int eq = arg.indexOf('=');
            if (eq > 0) {
                String prefix = arg.substring(0, eq);
                Path dir = Path.of(arg.substring(eq + 1));
                var problem = BundleLayout.problem(prefix);
                if (problem.isPresent()) throw new BadInputException(arg, "bad subfolder name '" + prefix + "': " + problem.get(), null);
                if (BundleLayout.isIgnored(prefix)) throw new BadInputException(arg, "subfolder '" + prefix + "' would be ignored by verify", null);
                if (!Files.isDirectory(dir)) throw new BadInputException(dir, "not a directory");
                return new Spec(prefix, dir);
            }
            if (!Files.exists(whole)) throw new BadInputException(whole, "no such file or directory");
            throw new BadInputException(whole, "not a directory (bundle inputs are model folders)");
        }

        /** A label for the manifest and the model card: the folder's name, never its absolute path (reproducible). */
        public String label() {
            Path name = dir.toAbsolutePath().normalize().getFileName();
            return name == null ? "/" : name.toString();
        }
    }

    /** One file to bundle: its path in the bundle and where it is now. */
    public record Source(String path, Path file, int input) {}

    /** Files in code-point order of their bundle path, and what was left out (hidden or generated names). */
    public record Collected(List<Source> files, List<String> skipped) {}

    public static Collected collect(List<Spec> specs) {
        Map<String, Source> byPath = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        List<String> skipped = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            Spec spec = specs.get(i);
            int input = i;
            Path root = spec.dir();
            try {
                // Links are followed: a Hugging Face cache snapshot is a folder of symlinks into blobs/. The bundle
                // itself holds regular copies, so its signature never involves links.
                Files.walkFileTree(root, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                        if (!dir.equals(root) && dir.getFileName().toString().startsWith(".")) {
                            skipped.add(relative(root, dir) + "/");
                            return FileVisitResult.SKIP_SUBTREE;
                        }
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                        String rel = relative(root, file);
                        // Hidden files (.gitattributes, editor swap files, our own temporaries) are not part of a model.
                        if (file.getFileName().toString().startsWith(".")) {
                            skipped.add(rel);
                            return FileVisitResult.CONTINUE;
                        }
                        if (!attrs.isRegularFile()) throw new BadInputException(file, "not a regular file");
                        String path = spec.prefix().isEmpty() ? rel : spec.prefix() + "/" + rel;
                        var problem = BundleLayout.problem(path);
                        if (problem.isPresent()) throw new BadInputException(file, "cannot be named in a bundle: " + problem.get());
                        if (BundleLayout.GENERATED.contains(path)) {
                            skipped.add(path + " (replaced by the generated one)");
                            return FileVisitResult.CONTINUE;
                        }
                        Source previous = byPath.putIfAbsent(path, new Source(path, file, input));
                        if (previous != null) {
                            throw new BadInputException(file, "collides with " + previous.file() + " at '" + path
                                    + "' in the bundle (give one input as SUBFOLDER=DIR)");
                        }
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                        if (exc instanceof FileSystemLoopException) throw new BadInputException(file, "symbolic link loop");
                        throw exc;
                    }
                });
            } catch (IOException e) {
                throw OutputException.of(root, e);
            }
        }
        if (byPath.isEmpty()) throw new BadInputException((String) null, "no files to bundle in " + specs.stream().map(s -> s.dir().toString()).toList(), null);
        return new Collected(List.copyOf(byPath.values()), List.copyOf(skipped));
    }

    private static String relative(Path root, Path p) {
        Path rel = root.relativize(p);
        StringBuilder sb = new StringBuilder();
        for (Path part : rel) {
            if (!sb.isEmpty()) sb.append('/');
            sb.append(part);
        }
        return sb.toString();
    }
}
