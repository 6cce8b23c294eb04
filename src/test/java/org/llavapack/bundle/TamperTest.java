package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.CheckFailedException;
import org.llavapack.progress.Progress;

/**
 * Acceptance: one flipped byte in any file — payload, model card, manifest, SHA256SUMS or signature — fails verify
 * naming that file; so do an extra file, a missing file, and a signature from another key.
 */
class TamperTest {
    @TempDir
    static Path shared;

    @TempDir
    Path tmp;

    static final Keys.SigningKey KEY = Keys.generateEd25519();
    static final Keys.SigningKey OTHER = Keys.generateEd25519();
    static Path signed;
    static Path unsigned;

    @BeforeAll
    static void bundles() {
        signed = shared.resolve("signed");
        unsigned = shared.resolve("unsigned");
        BundleFixtures.bundle(signed, Optional.of(KEY));
        BundleFixtures.bundle(unsigned, Optional.empty());
    }

    private Path copy(Path bundle) {
        Path c = tmp.resolve("copy-" + System.nanoTime());
        BundleFixtures.copyTree(bundle, c);
        return c;
    }

    private static void flip(Path file, long offset, int mask) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[(int) offset] ^= (byte) mask;
        Files.write(file, b);
    }

    private static Verification.Failed failed(Path bundle, Optional<PublicKey> key) {
        var outcome = BundleFixtures.verify(bundle, key);
        return assertInstanceOf(Verification.Failed.class, outcome, () -> "expected a failure, got " + outcome);
    }

    /** Every file, three positions (first, middle, last byte), two kinds of flip, with and without --key. */
    @Test
    void everyFlippedByteIsBlamedOnItsFile() throws IOException {
        for (Path bundle : List.of(signed, unsigned)) {
            for (String name : BundleFixtures.tree(bundle).keySet()) {
                long size = Files.size(bundle.resolve(name));
                for (long offset : new long[] {0, size / 2, size - 1}) {
                    for (int mask : new int[] {0x01, 0xFF}) {
                        Path c = copy(bundle);
                        flip(c.resolve(name), offset, mask);
                        List<Optional<PublicKey>> keys = bundle == signed ? List.of(Optional.empty(), Optional.of(KEY.publicKey())) : List.of(Optional.empty());
                        for (Optional<PublicKey> key : keys) {
                            Verification.Failed f = failed(c, key);
                            assertEquals(name, f.file(), () -> "flip at " + offset + " mask " + mask + " in " + name + " (key " + key.isPresent()
                                    + ") was blamed on " + f.message());
                        }
                        deleteTree(c);
                    }
                }
            }
        }
    }

    @Test
    void extraFilesFailNamingThem() throws IOException {
        for (String extra : List.of("notes.txt", "adapter/extra.bin", ".DS_Store", "sub/dir/x.json")) {
            Path c = copy(signed);
            Files.createDirectories(c.resolve(extra).getParent());
            Files.writeString(c.resolve(extra), "surprise");
            Verification.Failed f = failed(c, Optional.of(KEY.publicKey()));
            assertEquals(extra, f.file());
            assertTrue(f.reason().contains("not listed"), f.reason());
        }
    }

    @Test
    void gitAndHubBookkeepingIsIgnored() throws IOException {
        Path c = copy(signed);
        Files.createDirectories(c.resolve(".git/objects"));
        Files.writeString(c.resolve(".git/HEAD"), "ref: refs/heads/main\n");
        Files.writeString(c.resolve(".gitattributes"), "*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
        Files.createDirectories(c.resolve(".cache/huggingface"));
        Files.writeString(c.resolve(".cache/huggingface/state"), "x");
        assertInstanceOf(Verification.Passed.class, BundleFixtures.verify(c, Optional.of(KEY.publicKey())));
    }

    @Test
    void missingFilesFailNamingThem() throws IOException {
        for (String name : BundleFixtures.tree(signed).keySet()) {
            Path c = copy(signed);
            Files.delete(c.resolve(name));
            Verification.Failed f = failed(c, Optional.of(KEY.publicKey()));
            assertEquals(name, f.file(), f.message());
            deleteTree(c);
        }
    }

    @Test
    void anotherKeyFails() {
        Verification.Failed f = failed(signed, Optional.of(OTHER.publicKey()));
        assertEquals(BundleLayout.SIGNATURE, f.file());
        assertTrue(f.reason().contains("another key"), f.reason());
    }

    /** Someone re-signs changed files with their own key and rewrites the manifest to match: only --key catches it. */
    @Test
    void resigningWithAnotherKeyIsCaughtByKey() throws IOException {
        Path forged = tmp.resolve("forged");
        Bundler.create(BundleFixtures.tinyInputs(), forged, BundleFixtures.options(Optional.of(OTHER)), Progress.NONE, w -> {});
        assertInstanceOf(Verification.Passed.class, BundleFixtures.verify(forged, Optional.empty()));
        Verification.Failed f = failed(forged, Optional.of(KEY.publicKey()));
        assertEquals(BundleLayout.SIGNATURE, f.file());
    }

    /** A signature file from one bundle dropped into another (same key, different content) must not verify it. */
    @Test
    void signatureFromAnotherBundleFails() throws IOException {
        Path other = tmp.resolve("other");
        Bundler.Options o = BundleFixtures.options(Optional.of(KEY)).withNameVersionLicense("tiny-pallava", "9.9.9", "llama3");
        Bundler.create(BundleFixtures.tinyInputs(), other, o, Progress.NONE, w -> {});
        Path c = copy(signed);
        Files.copy(other.resolve(BundleLayout.SIGNATURE), c.resolve(BundleLayout.SIGNATURE), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Verification.Failed f = failed(c, Optional.of(KEY.publicKey()));
        assertTrue(f.file().equals(BundleLayout.MANIFEST) || f.file().equals(BundleLayout.SUMS) || f.file().equals(BundleLayout.CARD), f.message());
    }

    @Test
    void symlinkInBundleFails() throws IOException {
        Path c = copy(signed);
        Files.delete(c.resolve("config.json"));
        Files.createSymbolicLink(c.resolve("config.json"), c.resolve("tokenizer.json"));
        CheckFailedException e = assertThrows(CheckFailedException.class, () -> BundleFixtures.verify(c, Optional.empty()));
        assertTrue(e.getMessage().startsWith("config.json: "), e.getMessage());
    }

    // ---- archives: rewrite the tar with one change, then verify the stream

    private record Change(String name, byte[] replacement) {}

    /** Copies a plain tar bundle entry by entry, replacing, dropping (null bytes) or adding entries. */
    private Path rewrite(Path tar, List<Change> changes, List<Change> additions) throws IOException {
        Path out = tmp.resolve("rewritten-" + System.nanoTime() + ".tar");
        try (InputStream in = Files.newInputStream(tar); TarArchiveInputStream t = new TarArchiveInputStream(in);
             OutputStream os = Files.newOutputStream(out); TarArchiveOutputStream w = new TarArchiveOutputStream(os)) {
            w.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            TarArchiveEntry e;
            while ((e = t.getNextEntry()) != null) {
                byte[] data = t.readAllBytes();
                String name = e.getName();
                Optional<Change> ch = changes.stream().filter(c -> c.name().equals(name)).findFirst();
                if (ch.isPresent()) {
                    if (ch.get().replacement() == null) continue;
                    data = ch.get().replacement();
                }
                TarArchiveEntry n = new TarArchiveEntry(name, e.isDirectory() ? TarConstants.LF_DIR : TarConstants.LF_NORMAL);
                n.setSize(e.isDirectory() ? 0 : data.length);
                w.putArchiveEntry(n);
                if (!e.isDirectory()) w.write(data);
                w.closeArchiveEntry();
            }
            for (Change a : additions) {
                TarArchiveEntry n = new TarArchiveEntry(a.name());
                n.setSize(a.replacement().length);
                w.putArchiveEntry(n);
                w.write(a.replacement());
                w.closeArchiveEntry();
            }
        }
        return out;
    }

    @Test
    void archivesBlameTheChangedMissingOrExtraEntry() throws IOException {
        Path tar = tmp.resolve("b.tar");
        BundleFixtures.bundle(tar, Optional.of(KEY));
        Map<String, byte[]> files = new java.util.TreeMap<>();
        BundleSource.open(tar).forEach((p, s, in) -> files.put(p, in.readAllBytes()));
        for (var e : files.entrySet()) {
            byte[] changed = e.getValue().clone();
            changed[changed.length / 2] ^= 0x20;
            Path t = rewrite(tar, List.of(new Change(e.getKey(), changed)), List.of());
            assertEquals(e.getKey(), failed(t, Optional.of(KEY.publicKey())).file());
            Path dropped = rewrite(tar, List.of(new Change(e.getKey(), null)), List.of());
            assertEquals(e.getKey(), failed(dropped, Optional.of(KEY.publicKey())).file());
        }
        Path extra = rewrite(tar, List.of(), List.of(new Change("zz-extra.bin", new byte[] {1, 2, 3})));
        assertEquals("zz-extra.bin", failed(extra, Optional.of(KEY.publicKey())).file());
        Path dup = rewrite(tar, List.of(), List.of(new Change("config.json", files.get("config.json"))));
        CheckFailedException e = assertThrows(CheckFailedException.class, () -> BundleFixtures.verify(dup, Optional.empty()));
        assertTrue(e.getMessage().startsWith("config.json: appears twice"), e.getMessage());
        Path escape = rewrite(tar, List.of(), List.of(new Change("../evil.json", new byte[] {'{', '}'})));
        e = assertThrows(CheckFailedException.class, () -> BundleFixtures.verify(escape, Optional.empty()));
        assertTrue(e.getMessage().contains("not a valid bundle path"), e.getMessage());
    }

    @Test
    void damagedCompressedArchiveFailsNamingIt() throws IOException {
        for (String name : List.of("b.tar.zst", "b.tar.gz")) {
            Path a = tmp.resolve(name);
            BundleFixtures.bundle(a, Optional.of(KEY));
            byte[] bytes = Files.readAllBytes(a);
            bytes[bytes.length / 2] ^= 0x55;
            Files.write(a, bytes);
            RuntimeException e = assertThrows(RuntimeException.class, () -> {
                var o = BundleFixtures.verify(a, Optional.of(KEY.publicKey()));
                if (o instanceof Verification.Failed f) throw new CheckFailedException(f.message());
            });
            assertInstanceOf(CheckFailedException.class, e);
        }
    }

    @Test
    void truncatedArchiveFails() throws IOException {
        Path a = tmp.resolve("t.tar.zst");
        BundleFixtures.bundle(a, Optional.of(KEY));
        byte[] bytes = Files.readAllBytes(a);
        Files.write(a, java.util.Arrays.copyOf(bytes, bytes.length - 1000));
        assertThrows(CheckFailedException.class, () -> {
            var o = BundleFixtures.verify(a, Optional.of(KEY.publicKey()));
            if (o instanceof Verification.Failed f) throw new CheckFailedException(f.message());
        });
    }

    @Test
    void manifestRewrittenWithRecomputedSelfDigestIsCaughtBySignature() throws IOException {
        Path c = copy(signed);
        // Change a listed size in the manifest and recompute its self digest, as a careful forger would.
        String text = Files.readString(c.resolve(BundleLayout.MANIFEST));
        var parsed = assertInstanceOf(BundleManifest.Ok.class, BundleManifest.parse(text.getBytes(StandardCharsets.UTF_8))).manifest();
        List<BundleManifest.Entry> files = new ArrayList<>(parsed.files());
        files.set(1, new BundleManifest.Entry(files.get(1).path(), files.get(1).size(), "0".repeat(64), files.get(1).mediaType(), files.get(1).format()));
        BundleManifest forged = new BundleManifest(parsed.name(), parsed.version(), parsed.license(), parsed.toolkitVersion(), parsed.inputs(),
                files, parsed.signer(), parsed.rootDigest(), parsed.provenance());
        Files.write(c.resolve(BundleLayout.MANIFEST), forged.toBytes());
        assertEquals(BundleLayout.MANIFEST, failed(c, Optional.empty()).file());
    }

    private static void deleteTree(Path p) throws IOException {
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
