package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.bundle.BundleLayout;
import org.llavapack.bundle.BundleManifest;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Sha256;

/**
 * Publishing to a real registry (Debian's docker-registry), checked with an independent client (skopeo) and by
 * pulling back: one layer per bundle file with the manifest's SHA-256s, pull + verify passes, a second publish sends
 * nothing, and damaged registry content is caught on pull.
 */
class RegistryIT {
    @TempDir
    static Path dir;

    static LocalRegistry registry;
    static Path bundle;
    static Path keys;

    @BeforeAll
    static void start() throws Exception {
        String why = LocalRegistry.unavailable();
        if (why != null) {
            if ("1".equals(System.getenv(LocalRegistry.SKIP_ENV))) {
                System.err.println("SKIPPING RegistryIT: " + why + " (" + LocalRegistry.SKIP_ENV + "=1)");
                Assumptions.abort(why + " (" + LocalRegistry.SKIP_ENV + "=1)");
            }
            fail("RegistryIT needs a real registry: " + why + ". Set " + LocalRegistry.SKIP_ENV + "=1 to skip these tests on purpose.");
        }
        registry = LocalRegistry.start(dir.resolve("registry"));
        keys = dir.resolve("keys");
        ok(CliRunner.run("keygen", "--out", keys.toString()));
        bundle = dir.resolve("tiny-pallava-0.1.0.tar.zst");
        ok(CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString(), "adapter=" + TestPaths.checkpoint("tiny-llama-lora"),
                "--out", bundle.toString(), "--name", "tiny-pallava", "--version", "0.1.0", "--license", "llama3", "--key", keys.resolve("private.pem").toString()));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    private static CliRunner.Result ok(CliRunner.Result r) {
        assertEquals(0, r.exit(), () -> "exit " + r.exit() + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
        return r;
    }

    private static String skopeoRaw(String repoAndTag) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(LocalRegistry.which("skopeo").toString(), "inspect", "--raw", "--tls-verify=false",
                "docker://127.0.0.1:" + registry.port + "/" + repoAndTag).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "skopeo timed out");
        assertEquals(0, p.exitValue(), () -> "skopeo failed: " + out);
        return out;
    }

    /** The bundle's files and digests, read straight from the archive. */
    private static Map<String, String> bundleDigests() {
        Map<String, String> out = new HashMap<>();
        BundleSource.open(bundle).forEach((path, size, in) -> out.put(path, Sha256.ofStream(in, org.llavapack.progress.Progress.NONE).sha256()));
        return out;
    }

    private static BundleManifest manifestOf(Path archive) {
        byte[][] m = new byte[1][];
        BundleSource.open(archive).forEach((path, size, in) -> {
            if (path.equals(BundleLayout.MANIFEST)) m[0] = in.readAllBytes();
        });
        return ((BundleManifest.Ok) BundleManifest.parse(m[0])).manifest();
    }

    @Test
    void publishInspectPullVerifyAndRepublishNothing() throws Exception {
        String target = registry.url("llavapack/tiny-pallava:0.1.0");
        long before = registry.logSize();
        // 64 KB chunks: the two model shards and the adapter go up in PATCH chunks, the small files in one PUT
        CliRunner.Result first = ok(CliRunner.run("publish", bundle.toString(), target, "--insecure", "--chunk-size", "64KB"));
        Map<String, Integer> firstRequests = registry.requestsSince(before);
        assertTrue(firstRequests.getOrDefault("PATCH", 0) >= 3, firstRequests.toString());

        // an independent client sees one layer per bundle file, each digest the file's SHA-256 from the manifest
        String raw = skopeoRaw("llavapack/tiny-pallava:0.1.0");
        JsonNode m = new ObjectMapper().readTree(raw);
        assertEquals("application/vnd.oci.image.manifest.v1+json", m.get("mediaType").asText());
        assertEquals("application/vnd.llavapack.bundle.v1", m.get("artifactType").asText());
        assertEquals("application/vnd.oci.empty.v1+json", m.get("config").get("mediaType").asText());
        assertEquals("0.1.0", m.get("annotations").get("org.opencontainers.image.version").asText());
        assertEquals("llama3", m.get("annotations").get("org.opencontainers.image.licenses").asText());
        BundleManifest bm = manifestOf(bundle);
        Map<String, String> digests = bundleDigests();
        Map<String, JsonNode> layers = new HashMap<>();
        for (JsonNode l : m.get("layers")) layers.put(l.get("annotations").get("org.opencontainers.image.title").asText(), l);
        assertEquals(digests.keySet(), layers.keySet(), "one layer per bundle file");
        assertEquals(bm.files().size() + 3, m.get("layers").size());
        for (BundleManifest.Entry e : bm.files()) {
            JsonNode l = layers.get(e.path());
            assertEquals("sha256:" + e.sha256(), l.get("digest").asText(), e.path());
            assertEquals(e.size(), l.get("size").asLong(), e.path());
            assertEquals(e.mediaType(), l.get("mediaType").asText(), e.path());
        }
        for (String c : List.of(BundleLayout.MANIFEST, BundleLayout.SUMS, BundleLayout.SIGNATURE)) {
            assertEquals("sha256:" + digests.get(c), layers.get(c).get("digest").asText(), c);
        }
        assertEquals("application/vnd.llavapack.safetensors", layers.get("model-00001-of-00002.safetensors").get("mediaType").asText());
        assertEquals("application/vnd.llavapack.model-card+markdown", layers.get("README.md").get("mediaType").asText());
        assertEquals("application/json", layers.get("config.json").get("mediaType").asText());
        // the digest publish printed is the digest of the bytes skopeo received
        assertTrue(first.stdout().contains("sha256:" + Sha256.of(raw.getBytes(StandardCharsets.UTF_8))), first.stdout());

        // a second publish (here from the same bundle unpacked as a folder) sends no POST, PUT or PATCH at all
        Path asDir = dir.resolve("as-dir");
        ok(CliRunner.run("publish", bundle.toString(), "hf-dir://" + asDir));
        long mark = registry.logSize();
        CliRunner.Result second = ok(CliRunner.run("publish", asDir.toString(), target, "--insecure"));
        Map<String, Integer> secondRequests = registry.requestsSince(mark);
        System.err.println("first publish: " + firstRequests + ", second publish: " + secondRequests);
        for (String write : List.of("POST", "PUT", "PATCH")) assertEquals(0, secondRequests.getOrDefault(write, 0), write + " in " + secondRequests);
        assertTrue(secondRequests.getOrDefault("HEAD", 0) >= bm.files().size(), secondRequests.toString());
        assertTrue(second.stdout().contains("blobs uploaded 0"), second.stdout());

        // pull + verify with the signer's key gives back exactly the bundle's files
        Path pulled = dir.resolve("pulled");
        CliRunner.Result pull = ok(CliRunner.run("pull", target, pulled.toString(), "--insecure", "--key", keys.resolve("public.pem").toString()));
        assertTrue(pull.stdout().contains("OK: 14 files"), pull.stdout());
        for (var e : digests.entrySet()) assertEquals(e.getValue(), Sha256.of(Files.readAllBytes(pulled.resolve(e.getKey()))), e.getKey());
        ok(CliRunner.run("verify", pulled.toString(), "--key", keys.resolve("public.pem").toString()));

        // pulling by digest works too; pulling with another key fails (exit 1) and leaves no folder
        String digest = "sha256:" + Sha256.of(raw.getBytes(StandardCharsets.UTF_8));
        ok(CliRunner.run("pull", registry.url("llavapack/tiny-pallava@" + digest), dir.resolve("by-digest").toString(), "--insecure"));
        Path other = dir.resolve("other-keys");
        ok(CliRunner.run("keygen", "--out", other.toString()));
        CliRunner.Result wrong = CliRunner.run("pull", target, dir.resolve("wrong").toString(), "--insecure", "--key", other.resolve("public.pem").toString());
        assertEquals(1, wrong.exit(), wrong.stderr());
        assertTrue(wrong.stderr().contains("model.sig: signed by another key"), wrong.stderr());
        assertTrue(Files.notExists(dir.resolve("wrong")));
    }

    /** Blobs the registry already has are skipped: a bigger bundle sharing files uploads only its new ones. */
    @Test
    void onlyMissingBlobsAreUploaded() throws Exception {
        Path small = dir.resolve("small");
        ok(CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString(), "--out", small.toString(), "--version", "1"));
        ok(CliRunner.run("publish", small.toString(), registry.url("llavapack/resume:small"), "--insecure"));
        Path big = dir.resolve("big");
        ok(CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString(), "adapter=" + TestPaths.checkpoint("tiny-llama-lora"),
                "--out", big.toString(), "--version", "2"));
        long mark = registry.logSize();
        CliRunner.Result r = ok(CliRunner.run("publish", big.toString(), registry.url("llavapack/resume:big"), "--insecure"));
        Map<String, Integer> sent = registry.requestsSince(mark);
        // new: 2 adapter files + README.md + manifest + SHA256SUMS (the card and lists differ); shared: 9 model files + empty config
        assertEquals(5, sent.getOrDefault("POST", 0), sent.toString());
        assertEquals(5 + 1, sent.getOrDefault("PUT", 0), "5 blobs + the manifest: " + sent);
        assertTrue(r.stdout().contains("blobs uploaded 5"), r.stdout());
    }

    /** Damaged registry storage is caught when pulling: the file is named and no folder appears. */
    @Test
    void damagedBlobIsCaughtOnPull() throws Exception {
        Path b = dir.resolve("damaged-src");
        ok(CliRunner.run("bundle", TestPaths.checkpoint("tiny-plip").toString(), "--out", b.toString(), "--version", "1"));
        ok(CliRunner.run("publish", b.toString(), registry.url("llavapack/damaged:1"), "--insecure"));
        String weights = Sha256.of(Files.readAllBytes(b.resolve("model.safetensors")));
        Path blob = registry.blobFiles().stream().filter(p -> p.getParent().getFileName().toString().equals(weights)).findFirst().orElseThrow();
        byte[] bytes = Files.readAllBytes(blob);
        bytes[bytes.length / 2] ^= 1;
        Files.write(blob, bytes);
        CliRunner.Result r = CliRunner.run("pull", registry.url("llavapack/damaged:1"), dir.resolve("damaged-out").toString(), "--insecure");
        assertEquals(1, r.exit(), r.stderr());
        assertTrue(r.stderr().startsWith("error: model.safetensors: downloaded bytes do not match"), r.stderr());
        assertTrue(Files.notExists(dir.resolve("damaged-out")));
    }

    /** HTTP Basic authentication (the registry's htpasswd backend): refused without credentials, accepted with them. */
    @Test
    void basicAuthentication() throws Exception {
        // bcrypt of "s3cret" (made with Python's crypt module, METHOD_BLOWFISH): a test-only password
        String htpasswd = "llava:$2b$12$BK9r2kTgPefk51r2tuZvZ.kgvsCBeUErav9a5fOorcIIxllWZjgva";
        try (LocalRegistry auth = LocalRegistry.start(dir.resolve("auth-registry"), htpasswd)) {
            CliRunner.Result anonymous = CliRunner.run("publish", bundle.toString(), auth.url("a/b:1"), "--insecure");
            assertEquals(4, anonymous.exit(), anonymous.stderr());
            assertTrue(anonymous.stderr().contains("LLAVAPACK_REGISTRY_USER"), anonymous.stderr());
            var creds = java.util.Optional.of(new org.llavapack.bundle.oci.RegistryClient.Credentials("llava", "s3cret"));
            var ref = org.llavapack.bundle.oci.OciReference.parse(auth.url("a/b:1"));
            var report = org.llavapack.bundle.oci.OciPublisher.publish(BundleSource.open(bundle), ref,
                    new org.llavapack.bundle.oci.OciPublisher.Options(true, 1 << 16, java.util.Optional.empty(), 2, creds),
                    org.llavapack.progress.Progress.NONE, m -> {});
            assertEquals(15, report.uploaded());
            var pulled = org.llavapack.bundle.oci.OciPuller.pull(ref, dir.resolve("auth-pulled"),
                    new org.llavapack.bundle.oci.OciPuller.Options(true, false, java.util.Optional.empty(), creds), org.llavapack.progress.Progress.NONE, m -> {});
            assertEquals(14, pulled.verified().files());
            var wrong = java.util.Optional.of(new org.llavapack.bundle.oci.RegistryClient.Credentials("llava", "wrong"));
            org.llavapack.OutputException e = org.junit.jupiter.api.Assertions.assertThrows(org.llavapack.OutputException.class,
                    () -> org.llavapack.bundle.oci.OciPuller.pull(ref, dir.resolve("auth-wrong"),
                            new org.llavapack.bundle.oci.OciPuller.Options(true, false, java.util.Optional.empty(), wrong), org.llavapack.progress.Progress.NONE, m -> {}));
            assertTrue(e.getMessage().contains("access denied"), e.getMessage());
        }
    }

    @Test
    void networkAndUsageErrorsHaveTheirExitCodes() throws Exception {
        int closed;
        try (var s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        CliRunner.Result r = CliRunner.run("publish", bundle.toString(), "oci://127.0.0.1:" + closed + "/x/y:1", "--insecure");
        assertEquals(4, r.exit(), r.stderr());
        assertTrue(r.stderr().contains("cannot connect"), r.stderr());
        // the registry speaks plain HTTP: without --insecure the TLS handshake fails and the message says why
        CliRunner.Result tls = CliRunner.run("publish", bundle.toString(), registry.url("x/y:1"));
        assertEquals(4, tls.exit(), tls.stderr());
        assertTrue(tls.stderr().contains("--insecure"), tls.stderr());
        assertEquals(2, CliRunner.run("publish", bundle.toString(), "oci://127.0.0.1/Bad:1").exit());
        List<String> noSuchTag = new ArrayList<>(List.of("pull", registry.url("llavapack/tiny-pallava:nope"), dir.resolve("n").toString(), "--insecure"));
        assertEquals(4, CliRunner.run(noSuchTag.toArray(String[]::new)).exit());
    }
}
