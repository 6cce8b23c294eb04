package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.bundle.Sha256;

/** keygen, bundle, verify and publish hf-dir through bin/llavapack and the shaded jar. */
class BundleCliIT {
    @TempDir
    static Path dir;

    static Path keys;

    @BeforeAll
    static void keys() {
        keys = dir.resolve("keys");
        ok(CliRunner.run("keygen", "--out", keys.toString()));
    }

    private static CliRunner.Result ok(CliRunner.Result r) {
        assertEquals(0, r.exit(), () -> "exit " + r.exit() + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
        return r;
    }

    private static void assertOneLineError(CliRunner.Result r, int exit, String prefix) {
        assertEquals(exit, r.exit(), () -> "exit code; stderr: " + r.stderr());
        assertEquals(1, r.stderrLines().size(), () -> "one line on stderr: " + r.stderr());
        assertTrue(r.stderrLines().getFirst().startsWith(prefix), () -> "'" + prefix + "' expected, got: " + r.stderr());
    }

    private static String[] bundleArgs(Path out) {
        return new String[] {"bundle", TestPaths.checkpoint("tiny-llama").toString(), "adapter=" + TestPaths.checkpoint("tiny-llama-lora"),
                "--out", out.toString(), "--name", "tiny-pallava", "--version", "0.1.0", "--license", "llama3", "--key", keys.resolve("private.pem").toString()};
    }

    @Test
    void helpListsTheReleaseCommands() {
        var h = ok(CliRunner.run("--help"));
        for (String c : List.of("keygen", "bundle", "verify", "publish", "pull")) assertTrue(h.stdout().contains(c), h.stdout());
        assertTrue(ok(CliRunner.run("bundle", "--help")).stdout().contains("--version"));
    }

    @Test
    void keygenWritesAPrivateKeyOnlyTheOwnerCanRead() throws Exception {
        Path k = dir.resolve("k2");
        var r = ok(CliRunner.run("keygen", "--out", k.toString()));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(k.resolve("private.pem"))));
        assertEquals(Sha256.of(Files.readAllBytes(k.resolve("public.pem"))), r.stdout().trim());
        assertOneLineError(CliRunner.run("keygen", "--out", k.toString()), 4, "error: ");
    }

    /** Acceptance through the real launcher: twice → identical bytes, for a folder and both archive types. */
    @Test
    void bundlingTwiceGivesIdenticalBytesAndVerifies() throws Exception {
        for (String name : List.of("b.tar.zst", "b.tar.gz", "b")) {
            Path a = dir.resolve("run1").resolve(name), b = dir.resolve("run2").resolve(name);
            ok(CliRunner.run(bundleArgs(a)));
            ok(CliRunner.run(bundleArgs(b)));
            if (Files.isDirectory(a)) {
                try (var s = Files.walk(a)) {
                    for (Path p : s.filter(Files::isRegularFile).toList()) assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(b.resolve(a.relativize(p))), p.toString());
                }
            } else {
                assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), name);
            }
            var v = ok(CliRunner.run("verify", a.toString(), "--key", keys.resolve("public.pem").toString()));
            assertTrue(v.stdout().startsWith("OK: 14 files"), v.stdout());
            assertTrue(v.stdout().contains("the --key given"), v.stdout());
        }
    }

    @Test
    void verifyFailuresExitOneNamingTheFile() throws Exception {
        Path b = dir.resolve("tamper");
        ok(CliRunner.run(bundleArgs(b)));
        String pub = keys.resolve("public.pem").toString();
        byte[] shard = Files.readAllBytes(b.resolve("adapter/adapter_model.safetensors"));
        shard[shard.length - 7] ^= 0x10;
        Files.write(b.resolve("adapter/adapter_model.safetensors"), shard);
        assertOneLineError(CliRunner.run("verify", b.toString(), "--key", pub), 1, "error: adapter/adapter_model.safetensors: SHA-256");
        shard[shard.length - 7] ^= 0x10;
        Files.write(b.resolve("adapter/adapter_model.safetensors"), shard);
        ok(CliRunner.run("verify", b.toString(), "--key", pub));

        Files.writeString(b.resolve("extra.txt"), "x");
        assertOneLineError(CliRunner.run("verify", b.toString()), 1, "error: extra.txt: not listed");
        Files.delete(b.resolve("extra.txt"));
        Path moved = dir.resolve("tokenizer.json.moved");
        Files.move(b.resolve("tokenizer.json"), moved);
        assertOneLineError(CliRunner.run("verify", b.toString()), 1, "error: tokenizer.json: missing");
        Files.move(moved, b.resolve("tokenizer.json"));

        Path other = dir.resolve("other");
        ok(CliRunner.run("keygen", "--out", other.toString()));
        assertOneLineError(CliRunner.run("verify", b.toString(), "--key", other.resolve("public.pem").toString()), 1, "error: model.sig: signed by another key");
        assertOneLineError(CliRunner.run("verify", dir.resolve("no-such-bundle").toString()), 3, "error: ");
        assertOneLineError(CliRunner.run("verify", TestPaths.checkpoint("tiny-llama").toString()), 1, "error: llavapack-manifest.json: missing");
    }

    @Test
    void bundleInputErrors() {
        assertOneLineError(CliRunner.run("bundle", dir.resolve("nope").toString(), "--out", dir.resolve("x").toString()), 3, "error: ");
        assertOneLineError(CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString(), TestPaths.checkpoint("tiny-plip").toString(),
                "--out", dir.resolve("x").toString()), 3, "error: ");
        assertEquals(2, CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString()).exit(), "--out is required");
        assertOneLineError(CliRunner.run("bundle", TestPaths.checkpoint("tiny-llama").toString(), "--out", dir.resolve("x.zip").toString()), 3, "error: ");
    }

    @Test
    void publishHfDirLaysOutAHubRepo() throws Exception {
        Path b = dir.resolve("hf-src.tar.zst");
        ok(CliRunner.run(bundleArgs(b)));
        Path hf = dir.resolve("hf-repo");
        var r = ok(CliRunner.run("publish", b.toString(), "hf-dir://" + hf, "--key", keys.resolve("public.pem").toString()));
        assertTrue(r.stdout().contains("huggingface-cli upload"), r.stdout());
        String card = Files.readString(hf.resolve("README.md"));
        assertTrue(card.startsWith("---\nlicense: llama3\nbase_model: tiny-llama\nbase_model_relation: adapter\nlibrary_name: peft\n"), card);
        assertTrue(Files.isRegularFile(hf.resolve("adapter/adapter_model.safetensors")));
        ok(CliRunner.run("verify", hf.toString(), "--key", keys.resolve("public.pem").toString()));
        assertEquals(2, CliRunner.run("publish", b.toString(), "ftp://example.com/x").exit());
        assertOneLineError(CliRunner.run("publish", b.toString(), "hf-dir://" + hf), 4, "error: ");
    }

    /** An independent implementation (OpenSSL) verifies the DSSE signature over the statement with public.pem. */
    @Test
    void opensslVerifiesTheSignature() throws Exception {
        Path openssl = LocalRegistry.which("openssl");
        if (openssl == null) {
            System.err.println("SKIPPING opensslVerifiesTheSignature: openssl is not installed");
            Assumptions.abort("openssl is not installed");
        }
        Path b = dir.resolve("ossl");
        ok(CliRunner.run(bundleArgs(b)));
        JsonNode sig = new ObjectMapper().readTree(b.resolve("model.sig").toFile());
        byte[] payload = Base64.getDecoder().decode(sig.get("dsseEnvelope").get("payload").asText());
        String type = sig.get("dsseEnvelope").get("payloadType").asText();
        byte[] head = ("DSSEv1 " + type.length() + " " + type + " " + payload.length + " ").getBytes(StandardCharsets.UTF_8);
        byte[] pae = new byte[head.length + payload.length];
        System.arraycopy(head, 0, pae, 0, head.length);
        System.arraycopy(payload, 0, pae, head.length, payload.length);
        Files.write(dir.resolve("pae.bin"), pae);
        Files.write(dir.resolve("sig.bin"), Base64.getDecoder().decode(sig.get("dsseEnvelope").get("signatures").get(0).get("sig").asText()));
        Process p = new ProcessBuilder(openssl.toString(), "pkeyutl", "-verify", "-pubin", "-inkey", keys.resolve("public.pem").toString(), "-rawin",
                "-in", dir.resolve("pae.bin").toString(), "-sigfile", dir.resolve("sig.bin").toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("Signature Verified Successfully"), out);
        // and the statement lists every other file with its SHA-256, which sha256sum agrees with
        JsonNode statement = new ObjectMapper().readTree(payload);
        for (JsonNode res : statement.get("predicate").get("resources")) {
            assertEquals(Sha256.of(Files.readAllBytes(b.resolve(res.get("name").asText()))), res.get("digest").asText());
        }
        assertFalse(statement.toString().contains("model.sig\",\"digest"), "the signature does not sign itself");
    }
}
