package org.llavapack.bundle;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.llavapack.TestPaths;
import org.llavapack.progress.Progress;

/** Bundles of the shipped tiny checkpoints, made the way a release would make them. */
final class BundleFixtures {
    private BundleFixtures() {}

    static List<BundleInputs.Spec> tinyInputs() {
        return List.of(BundleInputs.Spec.parse(TestPaths.checkpoint("tiny-llama").toString()),
                BundleInputs.Spec.parse("adapter=" + TestPaths.checkpoint("tiny-llama-lora")));
    }

    static Bundler.Options options(Optional<Keys.SigningKey> key) {
        Bundler.Options o = Bundler.Options.defaults().withNameVersionLicense("tiny-pallava", "1.2.3", "llama3");
        return key.map(o::withKey).orElse(o);
    }

    static Bundler.Result bundle(Path out, Optional<Keys.SigningKey> key) {
        return Bundler.create(tinyInputs(), out, options(key), Progress.NONE, w -> {});
    }

    /** Every file of a folder by relative path, with its bytes. */
    static Map<String, byte[]> tree(Path root) {
        Map<String, byte[]> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) out.put(root.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static Verification.Outcome verify(Path bundle, Optional<java.security.PublicKey> key) {
        return Verification.check(BundleSource.open(bundle).scan(2, Progress.NONE), key);
    }

    static void copyTree(Path from, Path to) {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(dst);
                else Files.copy(p, dst);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
