package org.llavapack.convert;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.formats.safetensors.TensorOutput;
import org.llavapack.io.AtomicOutput;
import org.llavapack.io.RegionChunks;
import org.llavapack.io.WritebackFlusher;
import org.llavapack.model.lora.DeltaGemm;
import org.llavapack.model.lora.LoraModule;
import org.llavapack.model.lora.LoraUpdate;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * Merges a LoRA adapter into a base model and writes a complete HF folder, streaming tensor by tensor from the base
 * shards to the output shards (the job of {@code xtuner convert merge}, without loading the model).
 *
 * <p>Memory stays flat whatever the model size: a target weight is read a row tile at a time (256 KiB of fp32)
 * straight from its file region, widened, merged and rounded in buffers that each worker reuses, and written out;
 * tensors the adapter does not touch are copied file to file by the kernel. Tiles are computed on all cores but
 * written strictly in order, and each element's arithmetic is independent of tiling and threads, so the same inputs
 * give the same bytes.
 *
 * <p>Two things keep wall time near the work itself: {@link TileWarmup} has the vector kernels compiled before the
 * first tile (until then they run about a thousand times slower), and a {@link WritebackFlusher} writes the output to
 * disk while it is produced instead of all at the final fsync.
 */
public final class MergeLora {
    private MergeLora() {}

    /** @param dtype empty keeps each base tensor's dtype; otherwise floating-point tensors are cast to it */
    public record Options(Optional<DType> dtype, long maxShardBytes, int threads, boolean force) {}

    /** What was written and done. */
    public record Result(SafetensorsWriter.Result written, int merged, int replaced, int biases, double gflop) {}

    /** What happens to one base tensor; the set is closed. */
    sealed interface Step {
        TensorInfo out();

        /** Untouched: copied byte for byte, or cast when --dtype asks for another type. */
        record Copy(TensorInfo out, TensorInfo src) implements Step {}

        /** A LoRA target: W + s·ΔW (and DoRA), rounded once. */
        record Merge(TensorInfo out, TensorInfo src, LoraModule module) implements Step {}

        /** A trained copy from the adapter (modules_to_save, trained bias, saved embedding) replaces the base tensor. */
        record Replace(TensorInfo out, TensorInfo adapterTensor) implements Step {}

        /** A base bias plus s·lora_B.bias. */
        record AddBias(TensorInfo out, TensorInfo src, LoraModule module) implements Step {}
    }

    public static Result run(TensorStore base, Path baseFolder, PeftAdapter adapter, Path outDir, Options options,
                             Progress progress, Consumer<String> warn) {
        Map<String, Step> steps = plan(base, adapter, options.dtype(), warn);
        double flops = steps.values().stream().mapToDouble(s -> s instanceof Step.Merge m
                ? 2.0 * m.module().rows() * m.module().cols() * m.module().rank() : 0).sum();
        boolean warmUp = flops > TileWarmup.WORTH_FLOPS;
        if (warmUp) TileWarmup.start();
        List<TensorInfo> outputs = base.tensors().stream().map(t -> steps.get(t.name()).out()).toList();
        long total = outputs.stream().mapToLong(TensorInfo::byteSize).sum();
        int merged = (int) steps.values().stream().filter(s -> s instanceof Step.Merge).count();
        int replaced = (int) steps.values().stream().filter(s -> s instanceof Step.Replace).count();
        int biases = (int) steps.values().stream().filter(s -> s instanceof Step.AddBias).count();
        try (AtomicOutput out = AtomicOutput.directory(outDir, options.force());
             Worker worker = new Worker(base, adapter, Math.max(1, options.threads()), warmUp)) {
            progress.start("merging", total, outputs.size());
            SafetensorsWriter.Result result;
            try (WritebackFlusher flusher = WritebackFlusher.start(out.path(), ".safetensors")) {
                result = SafetensorsWriter.writeSharded(out.path(), "model", SafetensorsWriter.PT_METADATA, outputs,
                        options.maxShardBytes(), (info, sink) -> worker.fill(steps.get(info.name()), sink), progress);
            }
            if (baseFolder != null && Files.isDirectory(baseFolder)) {
                HfFolder.copyAuxiliaryFiles(baseFolder, out.path(), options.dtype());
            }
            out.commit();
            return new Result(result, merged, replaced, biases, worker.flops / 1e9);
        }
    }

    /** Decides each base tensor's step, by name; the adapter has already been validated against the base. */
    static Map<String, Step> plan(TensorStore base, PeftAdapter adapter, Optional<DType> dtype, Consumer<String> warn) {
        Map<String, Step> steps = new HashMap<>();
        for (TensorInfo t : base.tensors()) {
            TensorInfo out = castTarget(t, dtype);
            String name = t.name();
            Step step;
            if (adapter.modules().containsKey(name)) {
                step = new Step.Merge(out, t, adapter.modules().get(name));
            } else if (adapter.biasUpdates().containsKey(name)) {
                step = new Step.AddBias(out, t, adapter.biasUpdates().get(name));
            } else if (adapter.replacements().containsKey(name)) {
                TensorInfo a = adapter.weights().info(adapter.replacements().get(name)).orElseThrow();
                if (a.dtype() != out.dtype()) {
                    warn.accept("note: '" + name + "' is replaced by the adapter's " + a.dtype() + " copy, written as " + out.dtype()
                            + (out.dtype().size() < a.dtype().size() ? " (rounded to nearest even)" : ""));
                }
                step = new Step.Replace(out, a);
            } else {
                step = new Step.Copy(out, t);
            }
            steps.put(name, step);
        }
        return steps;
    }

    private static TensorInfo castTarget(TensorInfo t, Optional<DType> dtype) {
        if (dtype.isEmpty() || !isCastable(t.dtype())) return t;
        return t.withDType(dtype.get());
    }

    private static boolean isCastable(DType t) {
        return t == DType.F32 || t == DType.BF16 || t == DType.F16;
    }

    /**
     * The smallest magnitude that no longer fits the target type after round-to-nearest-even: it and everything above
     * become ±inf. fp32 values are always finite here, so only NaN/Inf count for F32.
     */
    static float overflowLimit(DType t) {
        return switch (t) {
            case F16 -> 65520f;
            case BF16 -> Float.intBitsToFloat(0x7F7F8000);
            case F32 -> Float.POSITIVE_INFINITY;
            default -> throw new IllegalArgumentException("not a float target: " + t);
        };
    }

    /** The per-run machinery: the thread pool, tile buffers and the base/adapter stores. */
    private static final class Worker implements AutoCloseable {
        private final TensorStore base;
        private final PeftAdapter adapter;
        private final ExecutorService pool;
        private final ArrayDeque<Slot> free = new ArrayDeque<>();
        /**
         * A thread that is not the caller: a mapping that it may access is shared, so tiles can go to the pool. Stores
         * that hand out thread-confined segments get their tiles computed on the calling thread instead.
         */
        private final Thread probe = new Thread(() -> {});
        /** Whether the first merged tensor should wait for {@link TileWarmup}. */
        private boolean awaitWarmup;
        double flops;

        Worker(TensorStore base, PeftAdapter adapter, int threads, boolean awaitWarmup) {
            this.base = base;
            this.adapter = adapter;
            this.awaitWarmup = awaitWarmup;
            this.pool = threads > 1 ? Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "llavapack-merge");
                t.setDaemon(true);
                return t;
            }) : null;
            // Two more buffers than threads: the writer drains one while every worker has a tile in hand.
            for (int i = 0; i < threads + 2; i++) free.push(new Slot());
        }

        void fill(Step step, TensorOutput sink) throws IOException {
            switch (step) {
                case Step.Copy c -> copy(base, c.src(), c.out(), sink);
                case Step.Replace r -> copy(adapter.weights(), r.adapterTensor(), r.out(), sink);
                case Step.AddBias b -> addBias(b, sink);
                case Step.Merge m -> merge(m, sink);
            }
        }

        private void addBias(Step.AddBias b, TensorOutput sink) throws IOException {
            float[] bias = readAll(base, b.src().name());
            LoraUpdate.addLoraBias(adapter.weights(), b.module(), bias);
            int bad = firstOutOfRange(bias, bias.length, overflowLimit(b.out().dtype()));
            if (bad >= 0) throw nonFinite(b.out(), bad, b.out().dtype(), bias[bad]);
            sink.writeFloats(bias, 0, bias.length);
        }

        private void merge(Step.Merge m, TensorOutput sink) throws IOException {
            LoraUpdate update = LoraUpdate.load(adapter.weights(), m.module());
            if (awaitWarmup) {
                TileWarmup.await();
                awaitWarmup = false;
            }
            int cols = Math.toIntExact(m.module().cols());
            int tileRows = DeltaGemm.tileRows(cols);
            if ((long) tileRows * cols > Integer.MAX_VALUE / 4) throw new BadInputException(base.source(), m.src() + ": rows too long to merge");
            float[] columnFactors = null;
            if (update.doraNeedsColumnPass()) {
                double[] sums = new double[cols];
                tiles(m, update, tileRows, null, (slot, n) -> update.accumulateColumnSquares(slot.work, n, sums));
                columnFactors = update.columnFactors(sums);
            }
            float[] factors = columnFactors;
            tiles(m, update, tileRows, factors, (slot, n) -> {
                long bytes = (long) n * cols * m.out().dtype().size();
                sink.write(slot.out.asSlice(0, bytes));
            });
            flops += update.flops() * (factors != null ? 2 : 1);
        }

        /** What the writer does with a finished tile, in order, on the calling thread. */
        @FunctionalInterface
        private interface TileSink {
            void accept(Slot slot, int rows) throws IOException;
        }

        /**
         * Computes every row tile of the target (W + s·ΔW, then DoRA) on the pool and hands them to {@code sink} in
         * row order. With {@code columnFactors == null} on a column-DoRA module, tiles stop before DoRA (first pass).
         *
         * <p>Rows come straight from the file region with positional reads into each tile's own buffer (the page
         * cache copies them; nothing is mapped, so resident memory is the buffers alone and there are no page faults
         * per 4 KiB). Stores without a file region open the tensor instead, and if its mapping is confined to this
         * thread the tiles are computed here.
         */
        private void tiles(Step.Merge m, LoraUpdate update, int tileRows, float[] columnFactors, TileSink sink) throws IOException {
            TensorInfo src = m.src();
            int cols = Math.toIntExact(m.module().cols());
            long rows = src.dim(0);
            long rowBytes = (long) cols * src.dtype().size();
            boolean firstPass = update.doraNeedsColumnPass() && columnFactors == null;
            Optional<TensorStore.FileRegion> region = base.region(src.name());
            if (region.isPresent()) {
                TensorStore.FileRegion reg = region.get();
                try (FileChannel ch = open(reg.file())) {
                    run(rows, tileRows, cols, pool != null, sink, (slot, row0, n) -> {
                        MemorySegment in = slot.in.asSlice(0, n * rowBytes);
                        readFully(ch, in, reg.offset() + row0 * rowBytes, reg.file());
                        computeTile(m, update, new Tensor(src.withShape(n, cols), in), 0, row0, n, firstPass, columnFactors, slot);
                    });
                }
            } else {
                try (TensorHandle h = base.open(src.name())) {
                    Tensor whole = h.tensor();
                    boolean shared = pool != null && whole.data().isAccessibleBy(probe);
                    run(rows, tileRows, cols, shared, sink, (slot, row0, n) ->
                            computeTile(m, update, whole, (long) row0 * cols, row0, n, firstPass, columnFactors, slot));
                }
            }
        }

        /** The work for the rows [row0, row0+n) of one tile, done on a worker into its slot. */
        @FunctionalInterface
        private interface TileJob {
            void compute(Slot slot, int row0, int n) throws IOException;
        }

        /**
         * Submits the tiles in row order with at most as many in flight as there are slots, and drains them in the
         * same order: the output never depends on which worker finishes first.
         */
        private void run(long rows, int tileRows, int cols, boolean parallel, TileSink sink, TileJob job) throws IOException {
            ArrayDeque<Pending> inflight = new ArrayDeque<>();
            try {
                for (long r = 0; r < rows; r += tileRows) {
                    int n = (int) Math.min(tileRows, rows - r);
                    int row0 = Math.toIntExact(r);
                    if (free.isEmpty()) drain(inflight.poll(), sink);
                    Slot slot = free.pop();
                    slot.ensure(n * cols);
                    Callable<Void> task = () -> {
                        job.compute(slot, row0, n);
                        return null;
                    };
                    if (parallel) {
                        inflight.add(new Pending(slot, n, pool.submit(task)));
                    } else {
                        call(task);
                        inflight.add(new Pending(slot, n, null));
                    }
                }
                while (!inflight.isEmpty()) drain(inflight.poll(), sink);
            } finally {
                // On failure, let running tiles finish before their buffers and the channel go away.
                for (Pending p : inflight) awaitQuietly(p);
                for (Pending p : inflight) free.push(p.slot);
            }
        }

        private static void call(Callable<Void> task) throws IOException {
            try {
                task.call();
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        private static FileChannel open(Path file) {
            try {
                return FileChannel.open(file, StandardOpenOption.READ);
            } catch (IOException e) {
                throw OutputException.of(file, e);
            }
        }

        /** Positional reads are safe from several threads on one channel. */
        private static void readFully(FileChannel ch, MemorySegment dst, long position, Path file) {
            java.nio.ByteBuffer buf = dst.asByteBuffer();
            try {
                while (buf.hasRemaining()) {
                    int r = ch.read(buf, position + buf.position());
                    if (r < 0) throw new BadInputException(file, "file ended while reading tensor data at byte " + (position + buf.position()));
                }
            } catch (IOException e) {
                throw OutputException.of(file, e);
            }
        }

        private void drain(Pending p, TileSink sink) throws IOException {
            try {
                if (p.future != null) p.future.get();
                sink.accept(p.slot, p.rows);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (c instanceof RuntimeException re) throw re;
                if (c instanceof IOException io) throw io;
                if (c instanceof Error err) throw err;
                throw new IllegalStateException(c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } finally {
                free.push(p.slot);
            }
        }

        private static void awaitQuietly(Pending p) {
            if (p.future == null) return;
            try {
                p.future.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException ignored) {
                // the first failure is already being reported
            }
        }

        /** Runs on a worker: widen, add s·ΔW, DoRA, check the range, round into the slot's output bytes. */
        private static void computeTile(Step.Merge m, LoraUpdate update, Tensor rowsView, long from, int row0, int n,
                                        boolean firstPass, float[] columnFactors, Slot slot) {
            int cols = Math.toIntExact(m.module().cols());
            int count = n * cols;
            float[] work = slot.work;
            rowsView.readFloats(from, work, 0, count);
            update.addDelta(work, row0, n);
            if (firstPass) return;
            if (update.dora()) {
                if (columnFactors != null) update.scaleColumns(work, n, columnFactors);
                else update.applyDoraRows(work, row0, n);
            }
            DType t = m.out().dtype();
            int bad = firstOutOfRange(work, count, overflowLimit(t));
            if (bad >= 0) {
                long flat = (long) row0 * cols + bad;
                float w = rowsView.getFloat(from + bad);
                throw new BadInputException(m.src().name(), "merging the LoRA update gives " + describe(work[bad], t) + " at ["
                        + flat / cols + ", " + flat % cols + "] (base value " + w + ")" + (Float.isFinite(w) ? "" : ": the base tensor already holds NaN/Inf"), null);
            }
            MemorySegment out = slot.out;
            switch (t) {
                case BF16 -> BFloat16.fromFloats(work, 0, out, 0, count);
                case F16 -> Float16.fromFloats(work, 0, out, 0, count);
                case F32 -> MemorySegment.copy(work, 0, out, LE_FLOAT, 0, count);
                default -> throw new AssertionError(t);
            }
        }

        @Override
        public void close() {
            if (pool != null) pool.shutdownNow();
        }

        private record Pending(Slot slot, int rows, Future<?> future) {}
    }

    /**
     * One tile's buffers: the fp32 work area and the rounded output bytes, reused tile after tile. The bytes live off
     * the heap: the Vector API stores shorts into a byte[]-backed segment through a slow Java fallback (profiled:
     * a third of the merge time), into native memory with one instruction.
     */
    private static final class Slot {
        float[] work = new float[0];
        MemorySegment in = MemorySegment.NULL;
        MemorySegment out = MemorySegment.NULL;

        void ensure(int elems) {
            if (work.length < elems) {
                work = new float[elems];
                Arena arena = Arena.ofAuto();
                in = arena.allocate(Math.multiplyExact((long) elems, 4L), 64);
                out = arena.allocate(Math.multiplyExact((long) elems, 4L), 64);
            }
        }
    }

    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /**
     * Index of the first value that is NaN or whose magnitude reaches {@code limit} (it would round to ±inf), or −1.
     * Vectorized: it runs over every merged element.
     */
    static int firstOutOfRange(float[] a, int n, float limit) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            // NaN fails the comparison, so one test catches NaN, ±inf and overflow.
            if (!FloatVector.fromArray(F, a, i).abs().compare(VectorOperators.LT, limit).allTrue()) break;
        }
        for (; i < n; i++) if (!(Math.abs(a[i]) < limit)) return i;
        return -1;
    }

    private static String describe(float v, DType t) {
        if (Float.isNaN(v)) return "NaN";
        if (Float.isInfinite(v)) return v > 0 ? "+Inf" : "-Inf";
        return String.format(Locale.ROOT, "%.6g, which overflows %s to %sInf", v, t, v > 0 ? "+" : "-");
    }

    private static BadInputException nonFinite(TensorInfo t, int index, DType dtype, float v) {
        return new BadInputException(t.name(), "merging the LoRA bias gives " + describe(v, dtype) + " at [" + index + "]", null);
    }

    /** A whole (small) tensor as fp32. */
    private static float[] readAll(TensorStore store, String name) {
        try (TensorHandle h = store.open(name)) {
            return h.tensor().toFloatArray();
        }
    }

    /**
     * An untouched tensor (or an adapter's replacement): byte for byte when the dtype stays, else widened and rounded
     * chunk by chunk, refusing values that overflow the narrower type (bf16 → fp16 above 65504).
     */
    static void copy(TensorStore src, TensorInfo source, TensorInfo target, TensorOutput sink) throws IOException {
        Optional<TensorStore.FileRegion> region = src.region(source.name());
        if (source.dtype() == target.dtype()) {
            if (region.isPresent()) {
                sink.transferFrom(region.get());
            } else {
                try (TensorHandle h = src.open(source.name())) {
                    sink.write(h.tensor().data());
                }
            }
            return;
        }
        Cast cast = new Cast(target, overflowLimit(target.dtype()));
        if (region.isPresent()) {
            int elem = source.dtype().size();
            long window = RegionChunks.WINDOW - RegionChunks.WINDOW % elem;
            RegionChunks.forEachWriting(region.get(), window, (chunk, offset) ->
                    cast.convert(new Tensor(source.withShape(chunk.byteSize() / elem), chunk), offset / elem, sink));
        } else {
            try (TensorHandle h = src.open(source.name())) {
                cast.convert(h.tensor(), 0, sink);
            }
        }
        cast.finish(src.source());
    }

    /** Chunked dtype conversion that counts values the target type cannot hold. */
    private static final class Cast {
        private final TensorInfo target;
        private final float limit;
        private final float[] buf = new float[1 << 18];
        private long overflows;
        private long firstIndex = -1;
        private float largest;

        Cast(TensorInfo target, float limit) {
            this.target = target;
            this.limit = limit;
        }

        void convert(Tensor t, long base, TensorOutput sink) throws IOException {
            long n = t.numel();
            for (long i = 0; i < n; i += buf.length) {
                int k = (int) Math.min(buf.length, n - i);
                t.readFloats(i, buf, 0, k);
                for (int j = firstOutOfRange(buf, k, limit); j >= 0 && j < k; j = next(j + 1, k)) {
                    float v = buf[j];
                    if (Float.isFinite(v)) {
                        if (firstIndex < 0) firstIndex = base + i + j;
                        overflows++;
                        largest = Math.max(largest, Math.abs(v));
                    }
                }
                sink.writeFloats(buf, 0, k);
            }
        }

        private int next(int from, int k) {
            for (int j = from; j < k; j++) if (!(Math.abs(buf[j]) < limit)) return j;
            return -1;
        }

        void finish(Path file) {
            if (overflows > 0) {
                throw new BadInputException(file, "tensor '" + target.name() + "': " + overflows + " value(s) overflow " + target.dtype()
                        + String.format(Locale.ROOT, " (largest |x| = %.6g, first at flat index %d)", largest, firstIndex)
                        + "; choose --dtype bf16 or fp32");
            }
        }
    }
}
