package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Load (issue #9): four merge-lora processes at once on one synthetic model, writing into one folder, started on an
 * empty launcher cache so they also race to create the class-data-sharing archive. Each must produce exactly the
 * bytes of a lone run, and each JVM's peak RSS (VmHWM, sampled from /proc) must stay under a fixed bound: memory
 * follows the largest tensor, not the model or the number of neighbours.
 */
class ConcurrentLoadIT {
    private static final int PROCESSES = 4, LAYERS = 6;
    /** Per process. The README's target for merge-lora is ≤ 1 GB at 8B scale; a 36 MB model must stay far below. */
    private static final long RSS_BOUND_BYTES = 600L << 20;

    @TempDir
    Path tmp;

    /** Highest VmHWM seen among the JVMs under {@code launch} (the launcher execs java; the stderr filter is tiny). */
    private static long peakRss(Launch launch, long sofar) {
        long best = sofar;
        List<ProcessHandle> all = new ArrayList<>(launch.process.toHandle().descendants().toList());
        all.add(launch.process.toHandle());
        for (ProcessHandle h : all) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(h.pid()), "status"))) {
                    if (line.startsWith("VmHWM:")) best = Math.max(best, Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024);
                }
            } catch (IOException | RuntimeException gone) {
                // the process ended between listing and reading
            }
        }
        return best;
    }

    @Test
    void fourConcurrentMergesMatchALoneRunInBoundedMemory() throws Exception {
        Path base = SyntheticModel.base(tmp.resolve("base"), LAYERS), adapter = SyntheticModel.adapter(tmp.resolve("adapter"), LAYERS);
        Path logs = tmp.resolve("logs"), outs = Files.createDirectories(tmp.resolve("outs"));
        long t0 = System.nanoTime();
        var lone = Launch.start(logs, "merge-lora", "-q", base.toString(), adapter.toString(), tmp.resolve("lone").toString()).await(600);
        double loneSeconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, lone.exit(), lone.stderr());
        TreeMap<String, byte[]> expected = KillNineIT.contents(tmp.resolve("lone"));

        Map<String, String> env = Map.of("LLAVAPACK_CACHE", tmp.resolve("fresh-cache").toString());
        List<Launch> runs = new ArrayList<>();
        long[] peak = new long[PROCESSES];
        t0 = System.nanoTime();
        for (int i = 0; i < PROCESSES; i++) {
            runs.add(Launch.start(logs, env, List.of(), "merge-lora", "-q", base.toString(), adapter.toString(), outs.resolve("m" + i).toString()));
        }
        while (runs.stream().anyMatch(r -> r.process.isAlive())) {
            for (int i = 0; i < PROCESSES; i++) if (runs.get(i).process.isAlive()) peak[i] = peakRss(runs.get(i), peak[i]);
            Thread.sleep(20);
            if ((System.nanoTime() - t0) / 1e9 > 600) {
                runs.forEach(Launch::close);
                throw new AssertionError("concurrent merges did not finish in 600 s");
            }
        }
        double allSeconds = (System.nanoTime() - t0) / 1e9;
        for (int i = 0; i < PROCESSES; i++) {
            var r = runs.get(i).await(10);
            assertEquals(0, r.exit(), "process " + i + ": " + r.stderr());
            TreeMap<String, byte[]> got = KillNineIT.contents(outs.resolve("m" + i));
            assertEquals(expected.keySet(), got.keySet());
            for (String k : expected.keySet()) assertArrayEquals(expected.get(k), got.get(k), "process " + i + ": " + k);
        }
        assertEquals(List.of("m0", "m1", "m2", "m3"), KillNineIT.names(outs), "no temporaries left");
        List<String> mb = new ArrayList<>();
        for (long p : peak) mb.add(Long.toString(p >> 20));
        System.out.printf("concurrent merge-lora: lone run %.1f s; %d at once %.1f s; peak RSS per process MB %s (bound %d MB)%n",
                loneSeconds, PROCESSES, allSeconds, mb, RSS_BOUND_BYTES >> 20);
        for (int i = 0; i < PROCESSES; i++) {
            assertTrue(peak[i] > 0, "RSS of process " + i + " was sampled");
            assertTrue(peak[i] <= RSS_BOUND_BYTES, "process " + i + " peak RSS " + (peak[i] >> 20) + " MB");
        }
        try (var s = Files.list(tmp.resolve("fresh-cache"))) {
            List<String> cache = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(cache.stream().allMatch(n -> n.endsWith(".jsa")), "only finished CDS archives in the cache, no half-written temporaries: " + cache);
        }
    }
}
