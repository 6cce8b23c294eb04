package org.llavapack.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.OutputException;

/** The atomic-output contract that the kill -9 tests (FaultsIT) rely on, checked in-process. */
class AtomicOutputTest {
    @TempDir
    Path tmp;

    /** A pid that certainly belonged to a process that has exited. */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    private List<String> names() throws IOException {
        try (var s = Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aKilledRunsTemporariesAreSweptByTheNextRunOnly() throws Exception {
        long dead = deadPid(), live = ProcessHandle.current().parent().orElseThrow().pid();
        Files.createDirectories(tmp.resolve(".out.llavapack-tmp-" + dead + "-1f").resolve("sub"));
        Files.writeString(tmp.resolve(".out.llavapack-tmp-" + dead + "-1f").resolve("sub/x"), "partial");
        Files.writeString(tmp.resolve(".out.llavapack-old-" + dead + "-2e"), "old");
        Files.writeString(tmp.resolve(".out.llavapack-tmp-" + live + "-3d"), "a live writer's work");
        Files.writeString(tmp.resolve(".out.llavapack-tmp-abc"), "no pid: an older version's name");
        Files.writeString(tmp.resolve(".other.llavapack-tmp-" + dead + "-4c"), "another target's leftovers");
        try (AtomicOutput o = AtomicOutput.file(tmp.resolve("out"), false)) {
            Files.writeString(o.path(), "done");
            o.commit();
        }
        assertEquals(List.of(".other.llavapack-tmp-" + dead + "-4c", ".out.llavapack-tmp-" + live + "-3d", ".out.llavapack-tmp-abc", "out"), names());
        assertEquals("done", Files.readString(tmp.resolve("out")));
    }

    @Test
    void uncommittedOutputLeavesNothingAndExistingDataNeedsForce() throws Exception {
        try (AtomicOutput o = AtomicOutput.directory(tmp.resolve("d"), false)) {
            Files.writeString(o.path().resolve("f"), "half");
        }
        assertEquals(List.of(), names());
        Files.writeString(tmp.resolve("keep"), "precious");
        var e = assertThrows(OutputException.class, () -> AtomicOutput.file(tmp.resolve("keep"), false));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        assertEquals(4, e.exitCode());
        assertArrayEquals("precious".getBytes(), Files.readAllBytes(tmp.resolve("keep")));
        try (AtomicOutput o = AtomicOutput.file(tmp.resolve("keep"), true)) {
            Files.writeString(o.path(), "replaced");
            assertEquals("precious", Files.readString(tmp.resolve("keep")), "the old data stays until commit");
            o.commit();
        }
        assertEquals("replaced", Files.readString(tmp.resolve("keep")));
        assertFalse(names().stream().anyMatch(n -> n.startsWith(".")), names().toString());
    }
}
