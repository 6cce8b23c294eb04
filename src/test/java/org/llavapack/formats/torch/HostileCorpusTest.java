package org.llavapack.formats.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.pickle.PickleReader;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * Every file of test-checkpoints/hostile (see its README and manifest.json) must be refused with a message naming the
 * construct, or, where the manifest allows it, load as inert data; quickly, and without any effect on the file system.
 */
class HostileCorpusTest {
    private static final Path CORPUS = TestPaths.checkpoint("hostile");
    private static final Path TMP = Path.of("/tmp");
    private static Set<String> pwnedBefore;

    @BeforeAll
    static void snapshotTmp() throws IOException {
        pwnedBefore = pwned();
    }

    @AfterAll
    static void nothingAppearedInTmp() throws IOException {
        Set<String> now = pwned();
        now.removeAll(pwnedBefore);
        assertTrue(now.isEmpty(), "files appeared in /tmp: " + now);
    }

    private static Set<String> pwned() throws IOException {
        try (Stream<Path> s = Files.list(TMP)) {
            Set<String> out = new HashSet<>();
            s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("llavapack-pwned-")).forEach(out::add);
            return out;
        }
    }

    static Stream<Arguments> manifest() throws IOException {
        JsonNode m = new ObjectMapper().readTree(CORPUS.resolve("manifest.json").toFile());
        List<Arguments> out = new ArrayList<>();
        for (JsonNode e : m) out.add(Arguments.of(Named.of(e.get("file").asText(), e)));
        assertEquals(133, out.size(), "manifest entries");
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("manifest")
    void refusedOrInert(JsonNode entry) throws IOException {
        Path file = CORPUS.resolve(entry.get("file").asText());
        String outcome = entry.get("outcome").asText();
        String canaryKind = entry.get("canary_kind").asText();
        Path canary = entry.get("canary").isNull() ? null : Path.of(entry.get("canary").asText());
        boolean canaryExisted = canary != null && Files.exists(canary);
        if (canaryKind.equals("survive")) Files.createDirectories(canary);

        long t0 = System.nanoTime();
        Throwable thrown = null;
        try {
            load(file, entry.get("container").asText());
        } catch (Throwable t) {
            thrown = t;
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;

        assertTrue(ms < 1000, "took " + ms + " ms");
        if (thrown == null) {
            assertEquals("refuse_or_inert", outcome, "loaded, but the manifest says it must be refused");
        } else {
            if (!(thrown instanceof BadInputException)) fail("expected BadInputException, got " + thrown, thrown);
            String raw = thrown.getMessage();
            assertFalse(raw.contains("\n"), "one-line message: " + raw);
            String msg = raw.replace(file.toString(), "").replace(file.getParent().toString(), "").toLowerCase(Locale.ROOT);
            List<String> expect = new ArrayList<>();
            entry.get("expect_any").forEach(x -> expect.add(x.asText()));
            assertTrue(expect.stream().anyMatch(msg::contains), "message '" + raw + "' names none of " + expect);
        }
        switch (canaryKind) {
            case "absent" -> assertTrue(canaryExisted || !Files.exists(canary), canary + " appeared");
            case "survive" -> {
                assertTrue(Files.isDirectory(canary), canary + " was removed");
                if (!canaryExisted) Files.delete(canary);
            }
            default -> { }
        }
    }

    /** As the README says: bare .pkl files go straight to the pickle reader, everything else through TensorStores. */
    private static void load(Path file, String container) throws IOException {
        if (container.equals("bare pickle") && file.toString().endsWith(".pkl")) {
            Object v = PickleReader.parse(file, Files.readAllBytes(file));
            PyRepr.of(v); // printing an inert graph must stay bounded too
            return;
        }
        try (TensorStore store = TensorStores.open(file)) {
            long sum = 0;
            for (TensorInfo t : store.tensors()) {
                Tensor x = store.tensor(t.name());
                MemorySegment d = x.data();
                for (long i = 0; i < d.byteSize(); i++) sum += d.get(ValueLayout.JAVA_BYTE, i);
            }
            if (store instanceof TorchCheckpoint c) {
                c.otherKeys();
                PyRepr.of(c.root());
            }
            assertTrue(sum != Long.MIN_VALUE);
        }
    }
}
