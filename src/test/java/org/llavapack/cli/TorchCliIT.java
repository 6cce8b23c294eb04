package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.llavapack.TestPaths;

/** {@code llavapack inspect} on torch checkpoints, through bin/llavapack and the shaded jar. */
class TorchCliIT {

    private static void assertRefused(Path file, String construct) throws IOException {
        long before = pwnedCount();
        CliRunner.Result r = CliRunner.run("inspect", file.toString());
        assertEquals(3, r.exit(), () -> "exit code; stderr: " + r.stderr());
        assertEquals(1, r.stderrLines().size(), () -> "exactly one line on stderr, got: " + r.stderr());
        String line = r.stderrLines().getFirst();
        assertTrue(line.startsWith("error: " + file + ": "), line);
        assertTrue(line.contains(construct), () -> "'" + construct + "' missing in: " + line);
        assertFalse(r.stderr().contains("\tat "), "no stack trace");
        assertEquals("", r.stdout());
        assertEquals(before, pwnedCount(), "nothing may appear in /tmp");
    }

    private static long pwnedCount() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/tmp"))) {
            return s.filter(p -> p.getFileName().toString().startsWith("llavapack-pwned-")).count();
        }
    }

    @Test
    void hostileCheckpointsExitThreeNamingTheGlobal() throws IOException {
        Path hostile = TestPaths.checkpoint("hostile");
        assertRefused(hostile.resolve("exec/state_dict_zip_extra_key_os_system.pt"), "refusing pickle: it references os.system");
        assertRefused(hostile.resolve("exec/state_dict_legacy_extra_key_os_system.pt"), "os.system");
        assertRefused(hostile.resolve("exec/misleading_extension_pickle_safetensors.safetensors"), "os.system");
        assertRefused(hostile.resolve("malformed/deep_nesting_lists_100k.pkl"), "nesting");
        assertRefused(hostile.resolve("malformed/zip_bomb_lying_uncompressed_size.pt"), "compressed");
        assertRefused(hostile.resolve("malformed/stride_overflow.pt"), "stride");
    }

    @Test
    void inspectJsonListsTensorsAndOtherKeys() throws IOException {
        CliRunner.Result r = CliRunner.run("inspect", "--json", TestPaths.checkpoint("torch/wrapped.pth").toString());
        assertEquals(0, r.exit(), r.stderr());
        JsonNode out = new ObjectMapper().readTree(r.stdout());
        assertEquals("torch zip", out.get("format").asText());
        assertEquals(5, out.get("tensors").size());
        assertEquals("BF16", out.get("tensors").get(1).get("dtype").asText());
        assertEquals("[2,3]", out.get("tensors").get(1).get("shape").toString());
        JsonNode other = out.get("other_keys");
        assertEquals("dict", other.get("meta").asText());
        assertEquals("str", other.get("ds_version").asText());
        assertEquals("int", other.get("step").asText());
        assertEquals("dict", other.get("state_dict").asText());
    }

    @Test
    void inspectTableAndStatsOnALegacyStream() {
        CliRunner.Result r = CliRunner.run("inspect", "--stats", TestPaths.checkpoint("torch/legacy.pth").toString());
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stdout().startsWith("format:   torch legacy"), r.stdout());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("transposed ")), r.stdout());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("total: 25 tensors")), r.stdout());
    }
}
