package org.llavapack.formats.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.llavapack.LlavapackException;
import org.llavapack.OutputException;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;

/**
 * Writes GGUF v3 files exactly as llama.cpp's C reader ({@code gguf_init_from_file_impl}) accepts them: little-endian,
 * typed KV pairs in insertion order, tensor infos in insertion order with offsets equal to the running sum of sizes
 * padded to the alignment (first tensor at 0), the data blob starting at the first aligned offset after the infos,
 * and every tensor (the last one too) followed by zero padding.
 *
 * <p>Streaming: sizes are known up front from types and shapes, so the header is written first and then each tensor's
 * bytes in order. A tensor's rows are encoded in parallel in chunks of about {@value #CHUNK_BYTES} bytes by its
 * {@link TensorSource}; at most a few chunks per thread are in memory at any time, whatever the model's size. Output
 * goes through {@link AtomicOutput} and depends only on the inputs (no timestamps, no thread-order effects).
 */
public final class GgufWriter {
    public static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    /** llama.cpp's GGML_MAX_NAME is 64 including the terminating NUL. */
    public static final int MAX_NAME_BYTES = 63;
    public static final int MAX_DIMS = 4;
    static final int CHUNK_BYTES = 4 << 20;

    /** Produces the bytes of one tensor, a range of rows at a time (a row is {@code ne[0]} elements). */
    public interface TensorSource {
        /**
         * Encodes rows {@code [firstRow, firstRow + rowCount)} into {@code dst[0 … rowCount·rowBytes)}. Called from
         * several threads at once for disjoint ranges.
         */
        void encodeRows(long firstRow, int rowCount, byte[] dst);

        /** Called once after the tensor's last chunk was written (release mappings here). */
        default void release() {}
    }

    /** A tensor to write: ggml dimensions {@code ne} (innermost first, the reverse of PyTorch's shape). */
    public record TensorSpec(String name, GgmlType type, long[] ne, TensorSource source) {
        public TensorSpec {
            ne = ne.clone();
        }

        @Override
        public long[] ne() {
            return ne.clone();
        }

        public long rows() {
            long r = 1;
            for (int i = 1; i < ne.length; i++) r = Math.multiplyExact(r, ne[i]);
            return r;
        }

        public long rowBytes() {
            return type.rowBytes(ne[0]);
        }

        public long bytes() {
            return type.bytes(ne);
        }

        /** The shape in PyTorch order. */
        public long[] shape() {
            long[] s = new long[ne.length];
            for (int i = 0; i < ne.length; i++) s[i] = ne[ne.length - 1 - i];
            return s;
        }
    }

    /** Where everything lands: header length (before padding), data start, and per-tensor offsets in the blob. */
    public record Layout(byte[] header, long dataStart, long[] offsets, long fileSize) {}

    private final Map<String, GgufValue> kv = new LinkedHashMap<>();
    private final List<TensorSpec> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();

    public GgufWriter put(String key, GgufValue value) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("empty GGUF key");
        if (kv.containsKey(key)) throw new IllegalArgumentException("duplicate GGUF key " + key);
        if (value instanceof GgufValue.Array a && a.length() == 0) {
            throw new IllegalArgumentException("GGUF key " + key + ": empty arrays are not written (gguf-py refuses them)");
        }
        if (key.equals("general.alignment")) {
            if (!(value instanceof GgufValue.Int i) || i.type() != GgufValueType.UINT32 || i.value() == 0 || Long.bitCount(i.value()) != 1) {
                throw new IllegalArgumentException("general.alignment must be a UINT32 power of two");
            }
        }
        kv.put(key, value);
        return this;
    }

    public Map<String, GgufValue> metadata() {
        return Collections.unmodifiableMap(kv);
    }

    public List<TensorSpec> tensors() {
        return Collections.unmodifiableList(tensors);
    }

    /** Adds a tensor given its PyTorch shape. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorSource source) {
        long[] ne = new long[shape.length];
        for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
        return addTensorNe(name, type, ne, source);
    }

    /** Adds a tensor given its ggml dimensions (innermost first). */
    public GgufWriter addTensorNe(String name, GgmlType type, long[] ne, TensorSource source) {
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes == 0 || nameBytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' is " + nameBytes + " bytes; llama.cpp allows 1–" + MAX_NAME_BYTES);
        }
        if (!tensorNames.add(name)) throw new IllegalArgumentException("duplicate tensor name " + name);
        if (ne.length < 1 || ne.length > MAX_DIMS) throw new IllegalArgumentException(name + ": " + ne.length + " dimensions (1–4 allowed)");
        for (long d : ne) if (d <= 0) throw new IllegalArgumentException(name + ": dimension " + d + " in " + Arrays.toString(ne));
        if (!type.writable()) throw new IllegalArgumentException(name + ": llavapack does not write " + type);
        if (ne[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException(name + ": row of " + ne[0] + " is not a multiple of " + type + "'s block size " + type.blockSize());
        }
        tensors.add(new TensorSpec(name, type, ne, source));
        return this;
    }

    public int alignment() {
        GgufValue v = kv.get("general.alignment");
        return v instanceof GgufValue.Int i ? (int) i.value() : DEFAULT_ALIGNMENT;
    }

    static long pad(long n, long alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    /** Encodes the header and computes every offset; no tensor data is touched. */
    public Layout layout() {
        Buf b = new Buf();
        b.raw(new byte[] {'G', 'G', 'U', 'F'});
        b.u32(VERSION);
        b.u64(tensors.size());
        b.u64(kv.size());
        for (Map.Entry<String, GgufValue> e : kv.entrySet()) {
            b.str(e.getKey());
            b.u32(e.getValue().type().id());
            writeValue(b, e.getValue());
        }
        int alignment = alignment();
        long[] offsets = new long[tensors.size()];
        long offset = 0;
        for (int i = 0; i < tensors.size(); i++) {
            TensorSpec t = tensors.get(i);
            b.str(t.name());
            b.u32(t.ne.length);
            for (long d : t.ne) b.u64(d);
            b.u32(t.type().id());
            b.u64(offset);
            offsets[i] = offset;
            offset = Math.addExact(offset, pad(t.bytes(), alignment));
        }
        byte[] header = b.toArray();
        long dataStart = tensors.isEmpty() ? header.length : pad(header.length, alignment);
        return new Layout(header, dataStart, offsets, dataStart + offset);
    }

    private static void writeValue(Buf b, GgufValue v) {
        switch (v) {
            case GgufValue.Int i -> b.scalar(i.type(), i.value());
            case GgufValue.Float f -> {
                if (f.type() == GgufValueType.FLOAT32) b.u32(Float.floatToRawIntBits((float) f.value()));
                else b.u64(Double.doubleToRawLongBits(f.value()));
            }
            case GgufValue.Bool bo -> b.u8(bo.value() ? 1 : 0);
            case GgufValue.Str s -> b.str(s.value());
            case GgufValue.IntArray a -> {
                b.u32(a.elementType().id());
                b.u64(a.length());
                for (int i = 0; i < a.length(); i++) b.scalar(a.elementType(), a.get(i));
            }
            case GgufValue.FloatArray a -> {
                b.u32(a.elementType().id());
                b.u64(a.length());
                for (int i = 0; i < a.length(); i++) {
                    if (a.elementType() == GgufValueType.FLOAT32) b.u32(Float.floatToRawIntBits((float) a.get(i)));
                    else b.u64(Double.doubleToRawLongBits(a.get(i)));
                }
            }
            case GgufValue.BoolArray a -> {
                b.u32(GgufValueType.BOOL.id());
                b.u64(a.length());
                for (boolean x : a.values()) b.u8(x ? 1 : 0);
            }
            case GgufValue.StringArray a -> {
                b.u32(GgufValueType.STRING.id());
                b.u64(a.length());
                for (String s : a.values()) b.str(s);
            }
        }
    }

    /** Writes the file atomically at {@code target}, encoding with {@code threads} workers. */
    public Layout write(Path target, boolean force, Progress progress, int threads) {
        Layout layout = layout();
        try (AtomicOutput out = AtomicOutput.file(target, force)) {
            writeTo(out.path(), layout, progress, threads);
            out.commit();
        }
        return layout;
    }

    private void writeTo(Path file, Layout layout, Progress progress, int threads) {
        long totalBytes = tensors.stream().mapToLong(TensorSpec::bytes).sum();
        progress.start("writing", totalBytes, tensors.size());
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads), r -> {
            Thread t = new Thread(r, "gguf-encode");
            t.setDaemon(true);
            return t;
        });
        boolean[] released = new boolean[tensors.size()];
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.wrap(layout.header()));
            writeZeros(ch, layout.dataStart() - layout.header().length);
            int alignment = alignment();
            int window = Math.max(2, 2 * Math.max(1, threads));
            ArrayDeque<Pending> inFlight = new ArrayDeque<>();
            for (int ti = 0; ti < tensors.size(); ti++) {
                TensorSpec t = tensors.get(ti);
                long rows = t.rows();
                long rowBytes = t.rowBytes();
                int rowsPerChunk = (int) Math.max(1, Math.min(rows, CHUNK_BYTES / Math.max(1, rowBytes)));
                long chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
                for (long c = 0; c < chunks; c++) {
                    long first = c * rowsPerChunk;
                    int count = (int) Math.min(rowsPerChunk, rows - first);
                    int bytes = Math.toIntExact(count * rowBytes);
                    TensorSource src = t.source();
                    Future<byte[]> f = pool.submit(() -> {
                        byte[] dst = buffers.take(bytes);
                        src.encodeRows(first, count, dst);
                        return dst;
                    });
                    boolean last = c == chunks - 1;
                    inFlight.add(new Pending(f, bytes, last ? ti : -1, last ? pad(t.bytes(), alignment) - t.bytes() : 0));
                    while (inFlight.size() >= window) drain(ch, inFlight.poll(), progress, released);
                }
            }
            while (!inFlight.isEmpty()) drain(ch, inFlight.poll(), progress, released);
            if (ch.size() != layout.fileSize()) {
                throw new IllegalStateException("wrote " + ch.size() + " bytes, layout says " + layout.fileSize());
            }
        } catch (IOException e) {
            throw OutputException.of(file, e);
        } finally {
            pool.shutdownNow();
            for (int i = 0; i < tensors.size(); i++) {
                if (released[i]) continue;
                try {
                    tensors.get(i).source().release();
                } catch (RuntimeException ignored) {
                    // releasing a mapping twice or after a failure must not hide the original error
                }
            }
        }
    }

    private record Pending(Future<byte[]> data, int length, int endsTensor, long padding) {}

    /** Reuses chunk buffers so encoding a model allocates a handful of arrays, not one per chunk. */
    private static final class Buffers {
        private final java.util.concurrent.ConcurrentLinkedQueue<byte[]> free = new java.util.concurrent.ConcurrentLinkedQueue<>();

        byte[] take(int n) {
            for (int tries = 0; tries < 4; tries++) {
                byte[] b = free.poll();
                if (b == null) break;
                if (b.length >= n) return b;
            }
            return new byte[Math.max(n, CHUNK_BYTES)];
        }

        void give(byte[] b) {
            free.offer(b);
        }
    }

    private final Buffers buffers = new Buffers();

    private void drain(FileChannel ch, Pending p, Progress progress, boolean[] released) throws IOException {
        byte[] bytes;
        try {
            bytes = p.data().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof LlavapackException le) throw le;
            if (c instanceof RuntimeException re) throw re;
            if (c instanceof Error er) throw er;
            throw new IllegalStateException(c);
        }
        writeFully(ch, ByteBuffer.wrap(bytes, 0, p.length()));
        buffers.give(bytes);
        if (p.endsTensor() >= 0) {
            writeZeros(ch, p.padding());
            released[p.endsTensor()] = true;
            tensors.get(p.endsTensor()).source().release();
        }
        progress.advance(p.length(), p.endsTensor() >= 0 ? 1 : 0);
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    private static void writeZeros(FileChannel ch, long n) throws IOException {
        if (n > 0) writeFully(ch, ByteBuffer.allocate(Math.toIntExact(n)));
    }

    /** A growable little-endian byte buffer for the header. */
    static final class Buf {
        private ByteBuffer bb = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void ensure(int n) {
            if (bb.remaining() >= n) return;
            long want = Math.max((long) bb.capacity() * 2, (long) bb.position() + n);
            if (want > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("GGUF header larger than 2 GiB");
            ByteBuffer nb = ByteBuffer.allocate((int) want).order(ByteOrder.LITTLE_ENDIAN);
            bb.flip();
            nb.put(bb);
            bb = nb;
        }

        void raw(byte[] b) {
            ensure(b.length);
            bb.put(b);
        }

        void u8(int v) {
            ensure(1);
            bb.put((byte) v);
        }

        void u32(long v) {
            ensure(4);
            bb.putInt((int) v);
        }

        void u64(long v) {
            ensure(8);
            bb.putLong(v);
        }

        void scalar(GgufValueType t, long v) {
            switch (t.size()) {
                case 1 -> u8((int) v);
                case 2 -> {
                    ensure(2);
                    bb.putShort((short) v);
                }
                case 4 -> u32(v);
                case 8 -> u64(v);
                default -> throw new IllegalArgumentException(t.toString());
            }
        }

        void str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            raw(b);
        }

        byte[] toArray() {
            return Arrays.copyOf(bb.array(), bb.position());
        }
    }
}
