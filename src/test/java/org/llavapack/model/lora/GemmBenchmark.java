package org.llavapack.model.lora;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Throughput of {@link DeltaGemm} on a LoRA delta shape, tiled by rows the way merge-lora tiles a weight (each thread
 * owns whole row tiles). Not a test: run by bench/merge_lora.sh with
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * org.llavapack.model.lora.GemmBenchmark [M K N [threads...]]}.
 */
public final class GemmBenchmark {
    private GemmBenchmark() {}

    public static void main(String[] args) throws Exception {
        int m = args.length > 0 ? Integer.parseInt(args[0]) : 14336;
        int k = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
        List<Integer> threadCounts = new ArrayList<>();
        for (int a = 3; a < args.length; a++) threadCounts.add(Integer.parseInt(args[a]));
        if (threadCounts.isEmpty()) {
            threadCounts.add(1);
            if (Runtime.getRuntime().availableProcessors() > 1) threadCounts.add(Runtime.getRuntime().availableProcessors());
        }
        SplittableRandom rnd = new SplittableRandom(1);
        float[] l = new float[m * k];
        float[] r = new float[k * n];
        for (int i = 0; i < l.length; i++) l[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < r.length; i++) r[i] = (float) rnd.nextGaussian();
        DeltaGemm.Right packed = DeltaGemm.pack(r, 0, n, k, n);
        int tileRows = DeltaGemm.tileRows(n);
        double flop = 2.0 * m * n * k;
        System.out.printf(Locale.ROOT, "GEMM %dx%d · %dx%d (%.1f GFLOP), row tiles of %d, vector lanes %s%n",
                m, k, k, n, flop / 1e9, tileRows, DeltaGemm.vectorized() ? jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() : "off");
        for (int threads : threadCounts) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            double best = Double.MAX_VALUE, bestCpu = Double.MAX_VALUE;
            java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
            java.util.concurrent.atomic.AtomicLong cpu = new java.util.concurrent.atomic.AtomicLong();
            for (int rep = 0; rep < 7; rep++) {
                cpu.set(0);
                long t0 = System.nanoTime();
                List<Future<?>> fs = new ArrayList<>();
                int per = (m + threads - 1) / threads;
                for (int t = 0; t < threads; t++) {
                    int from = t * per, to = Math.min(m, from + per);
                    fs.add(pool.submit(() -> {
                        long c0 = mx.getCurrentThreadCpuTime();
                        float[] c = new float[tileRows * n];
                        for (int i = from; i < to; i += tileRows) {
                            int rows = Math.min(tileRows, to - i);
                            DeltaGemm.addScaledProduct(c, 0, n, l, i * k, k, packed, rows, 2f);
                        }
                        cpu.addAndGet(mx.getCurrentThreadCpuTime() - c0);
                    }));
                }
                for (Future<?> f : fs) f.get();
                double s = (System.nanoTime() - t0) / 1e9;
                best = Math.min(best, s);
                bestCpu = Math.min(bestCpu, cpu.get() / 1e9);
            }
            pool.shutdown();
            // Per CPU-second as well: on a shared machine wall time also measures the neighbours.
            System.out.printf(Locale.ROOT, "threads %d: best %.3f s wall, %.1f GFLOP/s (%.1f GFLOP per CPU-second)%n",
                    threads, best, flop / best / 1e9, flop / bestCpu / 1e9);
        }
    }
}
