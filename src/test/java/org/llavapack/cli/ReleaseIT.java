package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.bundle.Sha256;
import org.llavapack.progress.Progress;

/** {@code release}: the demo as a user runs it, resuming, failing at a named stage, and publishing to a real registry. */
class ReleaseIT {
    @TempDir
    static Path dir;

    /** The demo's formats: every one llavapack makes. */
    static final String FORMATS = org.llavapack.release.ReleaseFormat.DEFAULT;

    static Path demo;
    static CliRunner.Result first;

    @BeforeAll
    static void runDemo() {
        demo = dir.resolve("out");
        first = CliRunner.run("release", "--demo", "--out", demo.toString(), "--formats", FORMATS);
    }

    private static CliRunner.Result ok(CliRunner.Result r) {
        assertEquals(0, r.exit(), () -> "exit " + r.exit() + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
        return r;
    }

    private static Map<String, String> hashes(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) m.put(root.relativize(f).toString(), Sha256.ofFile(f, Progress.NONE).sha256());
        }
        return m;
    }

    @Test
    void demoProducesEveryArtifactPassingParityAndAVerifiedSignedBundle() throws Exception {
        ok(first);
        for (String stage : List.of("convert", "merge-lora", "gguf-q8_0", "onnx", "parity", "bundle", "verify")) {
            assertTrue(first.stdout().lines().anyMatch(l -> l.startsWith(stage + " ") && l.contains(" done ")), stage + " in\n" + first.stdout());
        }
        assertTrue(Files.isRegularFile(demo.resolve("hf/llm_adapter/adapter_model.safetensors")));
        assertTrue(Files.isRegularFile(demo.resolve("merged/model.safetensors")));
        assertTrue(Files.isRegularFile(demo.resolve("gguf/pa-llava-tiny-demo-q8_0.gguf")));
        for (String f : List.of("vision_encoder.onnx", "connector.onnx", "decoder_model_merged.onnx", "embed_tokens.onnx")) {
            assertTrue(Files.isRegularFile(demo.resolve("onnx").resolve(f)), f);
            assertTrue(Files.isRegularFile(demo.resolve("bundle/onnx").resolve(f)), "bundled " + f);
        }
        ObjectMapper json = new ObjectMapper();
        try (Stream<Path> reports = Files.list(demo.resolve("parity"))) {
            List<Path> js = reports.filter(p -> p.toString().endsWith(".json")).toList();
            assertEquals(4, js.size(), js.toString());
            for (Path p : js) {
                JsonNode r = json.readTree(p.toFile());
                assertEquals("PASS", r.get("verdict").asText(), p.toString());
                if (p.getFileName().toString().equals("onnx.json")) {
                    // the ONNX export is checked on all three components, run by onnxruntime
                    for (JsonNode c : r.get("components")) assertEquals("PASS", c.get("verdict").asText(), "onnx " + c);
                }
            }
        }
        // an independent check of the bundle with the public half of the demo key
        ok(CliRunner.run("verify", demo.resolve("bundle").toString(), "--key", demo.resolve("demo-key/public.pem").toString()));
        String card = Files.readString(demo.resolve("bundle/README.md"));
        assertTrue(card.contains("- pathology"), card);
        assertTrue(Files.isRegularFile(demo.resolve("bundle/hf/visual_encoder/config.json")), "the frozen PLIP travels with the HF release");
    }

    @Test
    void rerunSkipsEverythingAndABundleTwiceIsByteIdentical() throws Exception {
        ok(first);
        Map<String, String> before = hashes(demo.resolve("bundle"));
        CliRunner.Result again = ok(CliRunner.run("release", "--demo", "--out", demo.toString(), "--formats", FORMATS));
        assertFalse(again.stdout().lines().anyMatch(l -> l.contains(" done ")), again.stdout());
        assertEquals(before, hashes(demo.resolve("bundle")));
        // a second release folder with the same key bundles to the same bytes
        Path other = dir.resolve("other");
        ok(CliRunner.run("release", "--demo", "--out", other.toString(), "--formats", FORMATS, "--key", demo.resolve("demo-key/private.pem").toString()));
        assertEquals(before, hashes(other.resolve("bundle")));
    }

    @Test
    void aDamagedArtifactIsRebuiltAndAWrongOneFailsAtParityNamingIt() throws Exception {
        ok(first);
        Path work = dir.resolve("damaged");
        copyTree(demo, work);
        Path weights = work.resolve("merged/model.safetensors");
        byte[] original = Files.readAllBytes(weights);
        // 1. damaged on disk: the recorded hash no longer matches, so merge-lora runs again and restores the bytes
        byte[] flipped = original.clone();
        flipped[flipped.length - 100] ^= 0x40;
        Files.write(weights, flipped);
        CliRunner.Result r = ok(CliRunner.run("release", "--demo", "--out", work.toString(), "--formats", FORMATS));
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("merge-lora ") && l.contains(" done ")), r.stdout());
        assertTrue(java.util.Arrays.equals(original, Files.readAllBytes(weights)));
        // 2. a wrong artifact recorded as finished (what a buggy stage would leave): parity catches it, exit 1, stage named
        Files.write(weights, flipped);
        ObjectNode state = (ObjectNode) new ObjectMapper().readTree(work.resolve("release.json").toFile());
        ObjectNode rec = (ObjectNode) state.at("/stages/merge-lora/outputs/merged~1model.safetensors");
        rec.put("sha256", Sha256.ofFile(weights, Progress.NONE).sha256());
        Files.writeString(work.resolve("release.json"), state.toString());
        CliRunner.Result bad = CliRunner.run("release", "--demo", "--out", work.toString(), "--formats", "merged");
        assertEquals(1, bad.exit(), bad.stdout() + bad.stderr());
        String lastLine = bad.stderrLines().get(bad.stderrLines().size() - 1);
        assertTrue(lastLine.startsWith("error: release failed at stage parity: parity failed for merged (llm"), bad.stderr());
        assertTrue(bad.stdout().lines().anyMatch(l -> l.startsWith("parity ") && l.contains(" failed ")), bad.stdout());
        assertTrue(Files.isRegularFile(work.resolve("parity/merged.json")), "the failing report is kept for reading");
    }

    @Test
    void usageAndOutputErrors() throws Exception {
        assertEquals(2, CliRunner.run("release", "--out", dir.resolve("x").toString()).exit());
        assertEquals(2, CliRunner.run("release", TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), "--out", dir.resolve("x").toString()).exit());
        assertEquals(2, CliRunner.run("release", "--demo", "--out", dir.resolve("x").toString(), "--formats", "gguf:q3_k").exit());
        Path taken = dir.resolve("taken");
        Files.createDirectories(taken);
        Files.writeString(taken.resolve("notes.txt"), "somebody's data");
        CliRunner.Result r = CliRunner.run("release", "--demo", "--out", taken.toString());
        assertEquals(4, r.exit(), r.stderr());
        assertTrue(r.stderr().contains("is not a release folder"), r.stderr());
        assertEquals("somebody's data", Files.readString(taken.resolve("notes.txt")));
        CliRunner.Result missing = CliRunner.run("release", dir.resolve("nope.pth").toString(), "--base", TestPaths.checkpoint("tiny-llama").toString(),
                "--out", dir.resolve("y").toString());
        assertEquals(3, missing.exit(), missing.stderr());
    }

    @Test
    void demoPublishesToARealRegistryAndASecondPublishUploadsNothing() throws Exception {
        ok(first);
        String why = LocalRegistry.unavailable();
        if (why != null) {
            if ("1".equals(System.getenv(LocalRegistry.SKIP_ENV))) {
                System.err.println("SKIPPING ReleaseIT publish: " + why + " (" + LocalRegistry.SKIP_ENV + "=1)");
                Assumptions.abort(why);
            }
            fail("needs a real registry: " + why + ". Set " + LocalRegistry.SKIP_ENV + "=1 to skip on purpose.");
        }
        try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"))) {
            String target = registry.url("llavapack/pa-llava-tiny-demo:0.1.0");
            CliRunner.Result r = ok(CliRunner.run("release", "--demo", "--out", demo.toString(), "--formats", FORMATS, "--publish", target, "--insecure"));
            assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("publish ") && l.contains(" done ")), r.stdout());
            Process p = new ProcessBuilder(LocalRegistry.which("skopeo").toString(), "inspect", "--raw", "--tls-verify=false",
                    "docker://127.0.0.1:" + registry.port + "/llavapack/pa-llava-tiny-demo:0.1.0").redirectErrorStream(true).start();
            String raw = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), raw);
            JsonNode m = new ObjectMapper().readTree(raw);
            Map<String, String> files = hashes(demo.resolve("bundle"));
            assertEquals(files.size(), m.get("layers").size(), "one layer per bundle file");
            for (JsonNode l : m.get("layers")) {
                String title = l.get("annotations").get("org.opencontainers.image.title").asText();
                assertEquals("sha256:" + files.get(title), l.get("digest").asText(), title);
            }
            long mark = registry.logSize();
            ok(CliRunner.run("release", "--demo", "--out", demo.toString(), "--formats", FORMATS, "--publish", target, "--insecure"));
            Map<String, Integer> second = registry.requestsSince(mark);
            for (String write : List.of("POST", "PUT", "PATCH")) assertEquals(0, second.getOrDefault(write, 0), write + " in " + second);
            Path pulled = dir.resolve("pulled");
            ok(CliRunner.run("pull", target, pulled.toString(), "--insecure", "--key", demo.resolve("demo-key/public.pem").toString()));
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
    }
}
