package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/**
 * kill -9 at seeded random points of convert pth-to-hf, merge-lora, export gguf and bundle (issue #9, faults). After
 * every kill the target either does not exist or is complete (byte-identical to an uninterrupted reference run; a
 * bundle also passes verify), nothing else appears under a visible name, and a rerun succeeds, produces the same
 * bytes and removes the killed run's hidden temporary. Rounds per command: -Dfaults.rounds (default 4); even rounds
 * kill at a random time of the whole run, odd rounds at a random time after the hidden temporary output appeared.
 */
class KillNineIT {
    private static final int ROUNDS = Integer.getInteger("faults.rounds", 4);
    private static final int LAYERS = 6;

    @TempDir
    static Path work;
    static Path base, adapter;

    static TreeMap<String, byte[]> inputsBefore;

    @BeforeAll
    static void fixtures() throws IOException {
        base = SyntheticModel.base(work.resolve("base"), LAYERS);
        adapter = SyntheticModel.adapter(work.resolve("adapter"), LAYERS);
        inputsBefore = OutputFaultsIT.snapshot(base, adapter, TestPaths.checkpoint("xtuner-zero2-bf16"));
    }

    /** Killed runs never modify their inputs. */
    @AfterAll
    static void inputsUntouched() throws IOException {
        OutputFaultsIT.assertUnchanged(inputsBefore, base, adapter, TestPaths.checkpoint("xtuner-zero2-bf16"));
    }

    /** Relative path → bytes of every regular file under {@code p} (or of {@code p} itself). */
    static TreeMap<String, byte[]> contents(Path p) throws IOException {
        TreeMap<String, byte[]> m = new TreeMap<>();
        if (Files.isRegularFile(p)) {
            m.put("", Files.readAllBytes(p));
            return m;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) m.put(p.relativize(f).toString(), Files.readAllBytes(f));
        }
        return m;
    }

    static void assertSame(TreeMap<String, byte[]> expected, Path actual, String what) throws IOException {
        TreeMap<String, byte[]> got = contents(actual);
        assertEquals(expected.keySet(), got.keySet(), what + ": file list");
        for (String k : expected.keySet()) assertArrayEquals(expected.get(k), got.get(k), what + ": " + k);
    }

    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }

    /**
     * The kill loop for one command. {@code args} maps the output path to the command line. Returns a one-line
     * summary; fails if no kill landed while the output was being written (then the test would prove nothing).
     */
    static String killLoop(String label, long seed, Function<Path, String[]> args, boolean isBundle) throws Exception {
        Path dir = work.resolve(label);
        Files.createDirectories(dir);
        Path logs = work.resolve("logs-" + label);
        Path reference = dir.resolve("reference");
        Launch ref = Launch.start(logs, args.apply(reference));
        // When the hidden temporary appears and when the final name does: the window in which a kill matters.
        double tempAt = -1, doneAt = -1;
        while (ref.process.isAlive()) {
            List<String> now = names(dir);
            if (tempAt < 0 && now.stream().anyMatch(n -> n.startsWith(".reference.llavapack-tmp-"))) tempAt = ref.elapsedSeconds();
            if (doneAt < 0 && now.contains("reference")) doneAt = ref.elapsedSeconds();
            Thread.sleep(2);
        }
        var rr = ref.await(600);
        double t = ref.elapsedSeconds();
        if (tempAt < 0) tempAt = 0;
        if (doneAt < 0) doneAt = t;
        double window = Math.max(0.01, doneAt - tempAt);
        assertEquals(0, rr.exit(), label + " reference run: " + rr.stderr());
        TreeMap<String, byte[]> expected = contents(reference);
        Random rnd = new Random(seed);
        Path target = dir.resolve("out");
        int midWrite = 0, before = 0, after = 0;
        List<String> delays = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
            try (Launch l = Launch.start(logs, args.apply(target))) {
                long delayMs;
                if (round % 2 == 0) {
                    // any point of the run, start-up included
                    delayMs = (long) (t * 1000 * (0.2 + 0.8 * rnd.nextDouble()));
                } else {
                    // a point after the temporary output appeared: the window that matters, hit on every machine
                    while (l.process.isAlive() && names(dir).stream().noneMatch(n -> n.startsWith(".out.llavapack-tmp-"))) Thread.sleep(2);
                    delayMs = (long) (l.elapsedSeconds() * 1000 + window * 1000 * rnd.nextDouble());
                }
                delays.add(Long.toString(delayMs));
                long wait = Math.max(0, delayMs - (long) (l.elapsedSeconds() * 1000));
                boolean finished = l.process.waitFor(wait, java.util.concurrent.TimeUnit.MILLISECONDS);
                l.kill9();
                if (finished) assertEquals(0, l.process.exitValue(), label + " round " + round + ": " + Files.readString(l.stderr));
            }
            List<String> left = names(dir);
            boolean temp = left.stream().anyMatch(n -> n.startsWith(".out.llavapack-tmp-"));
            for (String n : left) {
                assertTrue(n.equals("reference") || n.equals("out") || n.startsWith(".out.llavapack-tmp-"), label + " round " + round + ": unexpected " + n);
            }
            if (Files.exists(target)) {
                after++;
                assertSame(expected, target, label + " round " + round + " (completed before the kill)");
            } else {
                if (temp) midWrite++;
                else before++;
                var rerun = Launch.start(logs, args.apply(target)).await(600);
                assertEquals(0, rerun.exit(), label + " round " + round + " rerun: " + rerun.stderr());
                assertSame(expected, target, label + " round " + round + " rerun");
                assertEquals(List.of("out", "reference"), names(dir), label + " round " + round + ": the rerun removes the killed run's temporary");
            }
            if (isBundle) {
                var v = CliRunner.run("verify", target.toString());
                assertEquals(0, v.exit(), label + " round " + round + " verify: " + v.stderr());
            }
            deleteTree(target);
        }
        String summary = String.format("%s: reference %.1f s (output written from %.2f s to %.2f s); %d kills: %d while writing, %d before the output existed, %d after it was complete; delays ms %s",
                label, t, tempAt, doneAt, ROUNDS, midWrite, before, after, delays);
        System.out.println(summary);
        assertTrue(midWrite > 0, summary + ": no kill landed while the output was being written; the fixture is too small for this machine");
        return summary;
    }

    @Test
    void mergeLora() throws Exception {
        killLoop("merge-lora", 11, out -> new String[] {"merge-lora", "-q", base.toString(), adapter.toString(), out.toString(), "--max-shard-size", "10MB"}, false);
    }

    @Test
    void exportGguf() throws Exception {
        killLoop("export-gguf", 12, out -> new String[] {"export", "gguf", "-q", base.toString(), out.toString(), "--outtype", "q8_0"}, false);
    }

    @Test
    void bundle() throws Exception {
        killLoop("bundle", 13, out -> new String[] {"bundle", "-q", base.toString(), "adapter=" + adapter, "--out", out.toString(),
                "--name", "synthetic", "--version", "0.1.0", "--license", "llama3"}, true);
    }

    @Test
    void pthToHf() throws Exception {
        killLoop("pth-to-hf", 14, out -> new String[] {"convert", "pth-to-hf", "-q", TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), out.toString()}, false);
    }
}
