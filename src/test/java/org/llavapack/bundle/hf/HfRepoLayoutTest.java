package org.llavapack.bundle.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.CheckFailedException;
import org.llavapack.bundle.BundleInputs;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Bundler;
import org.llavapack.bundle.Keys;
import org.llavapack.bundle.Verification;
import org.llavapack.TestPaths;
import org.llavapack.progress.Progress;

class HfRepoLayoutTest {
    @TempDir
    Path tmp;

    @Test
    void hubLimitsFromAnchors() {
        var ok = HfRepoLayout.check(Map.of("README.md", 10L, "model.safetensors", 5_000_000_000L));
        assertTrue(ok.refusals().isEmpty() && ok.warnings().isEmpty());
        var big = HfRepoLayout.check(Map.of("a.gguf", 250_000_000_000L, "b.gguf", 600_000_000_000L));
        assertEquals(1, big.refusals().size());
        assertTrue(big.refusals().getFirst().startsWith("b.gguf"));
        assertEquals(1, big.warnings().size());
        Map<String, Long> many = new HashMap<>();
        for (int i = 0; i < 10_000; i++) many.put("shards/s" + i + ".bin", 1L);
        var folder = HfRepoLayout.check(many);
        assertTrue(folder.refusals().stream().anyMatch(r -> r.startsWith("shards/ has 10000 entries")), folder.refusals().toString());
        assertTrue(folder.warnings().stream().anyMatch(w -> w.contains("upload-large-folder")));
    }

    /** From an archive, the Hub layout is the bundle's files at their paths, verified on the way. */
    @Test
    void layoutFromArchiveEqualsTheBundleFolder() throws Exception {
        Keys.SigningKey key = Keys.generateEd25519();
        var inputs = List.of(BundleInputs.Spec.parse(TestPaths.checkpoint("tiny-llama").toString()),
                BundleInputs.Spec.parse("adapter=" + TestPaths.checkpoint("tiny-llama-lora")));
        Bundler.Options o = Bundler.Options.defaults().withNameVersionLicense("t", "1", "llama3").withKey(key);
        Bundler.create(inputs, tmp.resolve("dir"), o, Progress.NONE, w -> {});
        Bundler.create(inputs, tmp.resolve("b.tar.gz"), o, Progress.NONE, w -> {});
        var report = HfRepoLayout.publish(BundleSource.open(tmp.resolve("b.tar.gz")), tmp.resolve("hf"),
                new HfRepoLayout.Options(false, Optional.of(key.publicKey()), 2), Progress.NONE, w -> {});
        assertEquals(14, report.files());
        assertTrue(report.uploadCommand().startsWith("huggingface-cli upload "), report.uploadCommand());
        try (var s = Files.walk(tmp.resolve("dir"))) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(tmp.resolve("hf").resolve(tmp.resolve("dir").relativize(p))), p.toString());
            }
        }
        assertTrue(Files.isRegularFile(tmp.resolve("hf/README.md")) && Files.notExists(tmp.resolve("hf/.gitattributes")));
        // the Hub layout is itself a bundle that verifies, as a download from the Hub would
        Verification.require(BundleSource.open(tmp.resolve("hf")).scan(2, Progress.NONE), Optional.of(key.publicKey()));
        // and a damaged bundle never becomes a Hub layout
        Files.writeString(tmp.resolve("dir/config.json"), "{}");
        assertThrows(CheckFailedException.class, () -> HfRepoLayout.publish(BundleSource.open(tmp.resolve("dir")), tmp.resolve("hf2"),
                new HfRepoLayout.Options(false, Optional.empty(), 2), Progress.NONE, w -> {}));
        assertTrue(Files.notExists(tmp.resolve("hf2")));
    }
}
