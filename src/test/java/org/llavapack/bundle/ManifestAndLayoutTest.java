package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.TestPaths;
import org.llavapack.progress.Progress;

class ManifestAndLayoutTest {
    @TempDir
    Path tmp;

    @Test
    void canonicalPaths() {
        for (String ok : List.of("a", "a/b.json", "modèle/poids.safetensors", "x y")) assertTrue(BundleLayout.isCanonical(ok), ok);
        for (String bad : List.of("", "/a", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a\nb", "\ud800x")) {
            assertTrue(BundleLayout.problem(bad).isPresent(), bad);
        }
        assertTrue(BundleLayout.isIgnored(".git/HEAD") && BundleLayout.isIgnored(".gitattributes") && !BundleLayout.isIgnored("a/.git/HEAD"));
        // code points, not UTF-16 units: U+1F600 sorts after U+FFFD
        assertTrue(BundleLayout.CODE_POINT_ORDER.compare("\ufffd", "\ud83d\ude00") < 0);
    }

    @Test
    void manifestSelfDigestCatchesAnyChange() {
        BundleManifest m = new BundleManifest("n", "1", Optional.empty(), "0", List.of(), List.of(new BundleManifest.Entry("a", 1, "a".repeat(64), "x", "y")),
                Optional.empty(), "b".repeat(64), com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        byte[] bytes = m.toBytes();
        assertInstanceOf(BundleManifest.Ok.class, BundleManifest.parse(bytes));
        String text = new String(bytes, StandardCharsets.UTF_8);
        for (String changed : List.of(text.replace("\"version\": \"1\"", "\"version\": \"2\""), text.replace("  \"name\"", "\t\"name\""), text + "\n", text.replace("\"size\": 1", "\"size\": 2"))) {
            assertInstanceOf(BundleManifest.Damaged.class, BundleManifest.parse(changed.getBytes(StandardCharsets.UTF_8)));
        }
    }

    @Test
    void sha256SumsIsCoreutilsFormat() {
        byte[] sums = Sha256Sums.write(new java.util.LinkedHashMap<>(Map.of("a/b.json", "c".repeat(64))));
        assertEquals("c".repeat(64) + "  a/b.json\n", new String(sums, StandardCharsets.UTF_8));
        assertEquals(Map.of("a/b.json", "c".repeat(64)), Sha256Sums.parse(sums).orElseThrow());
        assertTrue(Sha256Sums.parse(("c".repeat(64) + " a\n").getBytes(StandardCharsets.UTF_8)).isEmpty());
    }

    @Test
    void collidingInputsAreRefusedWithAdvice() {
        var specs = List.of(BundleInputs.Spec.parse(TestPaths.checkpoint("tiny-llama").toString()),
                BundleInputs.Spec.parse(TestPaths.checkpoint("tiny-plip").toString()));
        BadInputException e = assertThrows(BadInputException.class, () -> BundleInputs.collect(specs));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("SUBFOLDER=DIR"), e.getMessage());
        assertThrows(BadInputException.class, () -> BundleInputs.Spec.parse("../x=" + TestPaths.checkpoint("tiny-plip")));
        assertThrows(BadInputException.class, () -> BundleInputs.Spec.parse(tmp.resolve("nope").toString()));
    }

    @Test
    void hiddenAndGeneratedInputNamesAreLeftOutAndLinksFollowed() throws Exception {
        Path in = tmp.resolve("in");
        Files.createDirectories(in.resolve(".cache"));
        Files.writeString(in.resolve(".cache/x"), "x");
        Files.writeString(in.resolve(".gitattributes"), "x");
        Files.writeString(in.resolve("README.md"), "old card");
        Files.writeString(in.resolve("real.json"), "{}");
        Files.createSymbolicLink(in.resolve("link.json"), in.resolve("real.json"));
        var c = BundleInputs.collect(List.of(BundleInputs.Spec.parse(in.toString())));
        assertEquals(List.of("link.json", "real.json"), c.files().stream().map(BundleInputs.Source::path).toList());
        assertEquals(3, c.skipped().size());
        // the bundle holds a regular copy where the input had a link
        Bundler.create(List.of(BundleInputs.Spec.parse(in.toString())), tmp.resolve("out"), Bundler.Options.defaults(), Progress.NONE, w -> {});
        assertTrue(Files.isRegularFile(tmp.resolve("out/link.json"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void existingOutputsNeedForceAndOutputInsideInputIsRefused() throws Exception {
        Path out = tmp.resolve("b.tar.zst");
        BundleFixtures.bundle(out, Optional.empty());
        assertThrows(OutputException.class, () -> BundleFixtures.bundle(out, Optional.empty()));
        Bundler.create(BundleFixtures.tinyInputs(), out, BundleFixtures.options(Optional.empty()).withForce(true), Progress.NONE, w -> {});
        Path in = tmp.resolve("in");
        Files.createDirectories(in);
        Files.writeString(in.resolve("a.json"), "{}");
        assertThrows(BadInputException.class, () -> Bundler.create(List.of(BundleInputs.Spec.parse(in.toString())), in.resolve("b"),
                Bundler.Options.defaults(), Progress.NONE, w -> {}));
        assertThrows(BadInputException.class, () -> ArchiveFormat.forOutput(Path.of("x.zip")));
        assertEquals(ArchiveFormat.TAR_ZSTD, ArchiveFormat.forOutput(Path.of("x.tzst")));
        assertEquals(ArchiveFormat.DIRECTORY, ArchiveFormat.forOutput(Path.of("release-1.0")));
    }

    @Test
    void mediaTypes() {
        assertEquals(FileFormat.SAFETENSORS, FileFormat.of("a/model-00001-of-00004.safetensors"));
        assertEquals(FileFormat.SAFETENSORS_INDEX, FileFormat.of("model.safetensors.index.json"));
        assertEquals(FileFormat.ONNX_DATA, FileFormat.of("onnx/decoder.onnx.data"));
        assertEquals(FileFormat.MODEL_CARD, FileFormat.of("README.md"));
        assertEquals(FileFormat.MARKDOWN, FileFormat.of("docs/README.md"));
        assertEquals("application/vnd.dev.sigstore.bundle.v0.3+json", FileFormat.of("model.sig").mediaType());
    }
}
