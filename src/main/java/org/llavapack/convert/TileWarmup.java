package org.llavapack.convert;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.llavapack.model.lora.DeltaGemm;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;

/**
 * Gets the merge's tile kernels compiled by C2 before real tiles reach them.
 *
 * <p>Why: HotSpot runs a new method interpreted, then C1-compiled, and only later C2-compiled, and the Vector API is
 * an intrinsic in C2 alone; before that every vector operation is a Java fallback that allocates. Measured on the
 * GEMM kernel: about 0.05 GFLOP/s in C1 against 60 in C2. On a busy two-core machine C2 reached the kernels only
 * 3–4 s into a merge, and the tiles computed meanwhile cost more than the rest of a 2 GB merge. A small synthetic
 * tile, run in a loop on its own thread from the start, trips the compile thresholds while the command still opens
 * files and copies untouched tensors; the merge waits for it (bounded) before its first tile.
 *
 * <p>The loop runs every path of a real tile with two shapes, one with row and column remainders and one without, so
 * C2 compiles both sides of each branch and real tiles cause no deoptimization. It ends when a batch runs at compiled
 * speed: above {@link #COMPILED_GFLOPS} per CPU-second, which interpreted or C1 code never reaches (a factor of 20
 * either way).
 */
final class TileWarmup {
    private TileWarmup() {}

    /** Merges below this many FLOPs finish faster at C1 speed than the warm-up takes (tests, tiny models). */
    static final double WORTH_FLOPS = 2e9;
    private static final double COMPILED_GFLOPS = 2.0;
    private static final long MAX_WAIT_SECONDS = 10;
    private static final CompletableFuture<Void> DONE = new CompletableFuture<>();
    private static boolean started;

    /** Starts the warm-up thread once per JVM, unless the JVM has no C2 or the vector kernels are off. */
    static synchronized void start() {
        if (started) return;
        started = true;
        if (!DeltaGemm.vectorized() || !hasC2()) {
            DONE.complete(null);
            return;
        }
        Thread t = new Thread(TileWarmup::run, "llavapack-warmup");
        t.setDaemon(true);
        t.start();
    }

    /** Waits until the kernels run compiled, at most {@link #MAX_WAIT_SECONDS}; starts the warm-up if needed. */
    static void await() {
        start();
        try {
            DONE.get(MAX_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // go on at whatever speed the JIT allows
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean hasC2() {
        if (System.getProperty("java.vm.info", "").contains("interpreted")) return false;
        try {
            var diag = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Integer.parseInt(diag.getVMOption("TieredStopAtLevel").getValue()) >= 4;
        } catch (RuntimeException e) {
            return true;
        }
    }

    private static void run() {
        try {
            // Small on purpose: until C2 is done every tile runs the slow path, so less work per tile is less waste.
            Shape[] shapes = {new Shape(7, 27, 8), new Shape(6, 32, 8)};
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            boolean cpuClock = mx.isCurrentThreadCpuTimeSupported();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(4 * MAX_WAIT_SECONDS);
            int fastBatches = 0;
            for (int batch = 0; fastBatches < 3 && System.nanoTime() < deadline; batch++) {
                long t0 = cpuClock ? mx.getCurrentThreadCpuTime() : System.nanoTime();
                double flops = 0;
                for (int i = 0; i < 100; i++) flops += shapes[i & 1].tile();
                long ns = Math.max(1, (cpuClock ? mx.getCurrentThreadCpuTime() : System.nanoTime()) - t0);
                fastBatches = flops / ns >= COMPILED_GFLOPS ? fastBatches + 1 : 0;
                // By now the counters have queued the compiles; spinning on would only take CPU from the compiler.
                if (batch >= 20 && fastBatches == 0) Thread.sleep(1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            DONE.complete(null);
        }
    }

    /** One synthetic tile of {@code m} × {@code n} with rank {@code k}, and its buffers. */
    private static final class Shape {
        final int m, n, k;
        final MemorySegment in, out;
        final float[] work, left;
        final DeltaGemm.Right right;
        final float limit = MergeLora.overflowLimit(DType.BF16);

        Shape(int m, int n, int k) {
            this.m = m;
            this.n = n;
            this.k = k;
            SplittableRandom rnd = new SplittableRandom(m * 31L + n);
            Arena arena = Arena.ofAuto();
            in = arena.allocate(2L * m * n, 64);
            out = arena.allocate(2L * m * n, 64);
            work = new float[m * n];
            for (int i = 0; i < m * n; i++) work[i] = (float) rnd.nextGaussian();
            BFloat16.fromFloats(work, 0, in, 0, m * n);
            left = new float[m * k];
            float[] r = new float[k * n];
            for (int i = 0; i < left.length; i++) left[i] = (float) (rnd.nextGaussian() * 0.1);
            for (int i = 0; i < r.length; i++) r[i] = (float) (rnd.nextGaussian() * 0.1);
            right = DeltaGemm.pack(r, 0, n, k, n);
        }

        /** The sequence of {@code MergeLora}'s computeTile; returns its FLOPs. */
        double tile() {
            BFloat16.toFloats(in, 0, work, 0, m * n);
            DeltaGemm.addScaledProduct(work, 0, n, left, 0, k, right, m, 2f);
            if (MergeLora.firstOutOfRange(work, m * n, limit) >= 0) throw new IllegalStateException("warm-up values out of range");
            BFloat16.fromFloats(work, 0, out, 0, m * n);
            return 2.0 * m * n * k;
        }
    }
}
