package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.llavapack.progress.Progress;

/** Acceptance: bundling twice gives identical bytes, for folders and every archive type, and the result verifies. */
class ReproducibilityTest {
    @TempDir
    Path tmp;

    private static final Keys.SigningKey KEY = Keys.generateEd25519();

    @ParameterizedTest
    @ValueSource(strings = {"bundle.tar.zst", "bundle.tar.gz", "bundle.tar"})
    void archivesAreByteIdenticalAndVerify(String name) throws Exception {
        Path a = tmp.resolve("a").resolve(name), b = tmp.resolve("b").resolve(name);
        BundleFixtures.bundle(a, Optional.of(KEY));
        // A second run with another thread count must not change a byte (zstd workers, parallel hashing).
        Bundler.Options single = new Bundler.Options(Optional.of("tiny-pallava"), Optional.of("1.2.3"), Optional.of("llama3"), Optional.empty(),
                List.of("en"), Optional.of(KEY), false, 1, 0);
        Bundler.create(BundleFixtures.tinyInputs(), b, single, Progress.NONE, w -> {});
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), name + " differs between two runs");
        var outcome = BundleFixtures.verify(a, Optional.of(KEY.publicKey()));
        Verification.Passed passed = assertInstanceOf(Verification.Passed.class, outcome, () -> outcome.toString());
        assertEquals(14, passed.files());
        assertInstanceOf(Verification.Signed.class, passed.signature());
    }

    @Test
    void foldersAreByteIdenticalAndVerify() {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        BundleFixtures.bundle(a, Optional.of(KEY));
        BundleFixtures.bundle(b, Optional.of(KEY));
        Map<String, byte[]> ta = BundleFixtures.tree(a), tb = BundleFixtures.tree(b);
        assertEquals(ta.keySet(), tb.keySet());
        ta.forEach((k, v) -> assertArrayEquals(v, tb.get(k), k + " differs"));
        assertInstanceOf(Verification.Passed.class, BundleFixtures.verify(a, Optional.of(KEY.publicKey())));
    }

    @Test
    void folderAndArchiveHoldTheSameFiles() throws Exception {
        Path dir = tmp.resolve("dir"), zst = tmp.resolve("b.tar.zst");
        BundleFixtures.bundle(dir, Optional.of(KEY));
        BundleFixtures.bundle(zst, Optional.of(KEY));
        Map<String, byte[]> fromDir = BundleFixtures.tree(dir);
        Map<String, byte[]> fromArchive = new java.util.TreeMap<>();
        BundleSource.open(zst).forEach((path, size, in) -> fromArchive.put(path, in.readAllBytes()));
        assertEquals(fromDir.keySet(), fromArchive.keySet());
        fromDir.forEach((k, v) -> assertArrayEquals(v, fromArchive.get(k), k));
    }

    /** reproducible-builds.org's archive rules, checked on the entries as a tar reader sees them. */
    @Test
    void tarEntriesFollowReproducibleBuildsRules() throws Exception {
        Path tar = tmp.resolve("b.tar");
        Bundler.Options o = new Bundler.Options(Optional.of("x"), Optional.of("1"), Optional.empty(), Optional.empty(), List.of("en"),
                Optional.of(KEY), false, 2, 1_700_000_000L);
        Bundler.create(BundleFixtures.tinyInputs(), tar, o, Progress.NONE, w -> {});
        List<String> names = new ArrayList<>();
        try (InputStream in = Files.newInputStream(tar); TarArchiveInputStream t = new TarArchiveInputStream(in)) {
            TarArchiveEntry e;
            while ((e = t.getNextEntry()) != null) {
                names.add(e.getName());
                assertEquals(0, e.getLongUserId());
                assertEquals(0, e.getLongGroupId());
                assertEquals("", e.getUserName());
                assertEquals("", e.getGroupName());
                assertEquals(1_700_000_000_000L, e.getModTime().getTime());
                assertEquals(e.isDirectory() ? 0755 : 0644, e.getMode() & 07777, e.getName());
                assertTrue(e.getExtraPaxHeaders().isEmpty(), "no PAX headers needed for " + e.getName());
            }
        }
        // Control files first (a streaming reader meets the manifest before the payload), then code-point order.
        assertEquals(List.of(BundleLayout.MANIFEST, BundleLayout.SUMS, BundleLayout.SIGNATURE), names.subList(0, 3));
        List<String> rest = names.subList(3, names.size());
        List<String> sorted = new ArrayList<>(rest);
        sorted.sort(BundleLayout.CODE_POINT_ORDER);
        assertEquals(sorted, rest);
        assertTrue(rest.indexOf("adapter/") < rest.indexOf("adapter/adapter_model.safetensors"), "folder entry before its files");
    }

    @Test
    void gzipHeaderHasNoTimeAndNoName() throws Exception {
        Path gz = tmp.resolve("b.tar.gz");
        BundleFixtures.bundle(gz, Optional.empty());
        byte[] head = new byte[10];
        try (InputStream in = Files.newInputStream(gz)) {
            assertEquals(10, in.readNBytes(head, 0, 10));
        }
        // magic, deflate, no flags (so no FNAME), mtime 0, xfl 0, OS unknown (255)
        assertArrayEquals(new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff}, head);
    }

    @Test
    void unsignedBundleVerifiesAndSaysSo() {
        Path dir = tmp.resolve("u");
        BundleFixtures.bundle(dir, Optional.empty());
        assertTrue(Files.notExists(dir.resolve(BundleLayout.SIGNATURE)));
        var p = assertInstanceOf(Verification.Passed.class, BundleFixtures.verify(dir, Optional.empty()));
        assertInstanceOf(Verification.Unsigned.class, p.signature());
        // --key on an unsigned bundle is a failure, not a silent pass.
        var f = assertInstanceOf(Verification.Failed.class, BundleFixtures.verify(dir, Optional.of(KEY.publicKey())));
        assertEquals(BundleLayout.SIGNATURE, f.file());
    }
}
