package org.llavapack.formats.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;

/**
 * Hostile and broken GGUF inputs: every one must end in a {@link BadInputException} naming the file (exit code 3),
 * quickly and without allocating in proportion to the counts the file claims.
 */
class GgufHostileTest {
    @TempDir
    Path tmp;

    private int n;

    private Path write(byte[] bytes) throws Exception {
        Path p = tmp.resolve("h" + (n++) + ".gguf");
        Files.write(p, bytes);
        return p;
    }

    private BadInputException rejects(byte[] bytes, String fragment) throws Exception {
        Path p = write(bytes);
        BadInputException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThrows(BadInputException.class, () -> {
            try (GgufFile g = GgufFile.open(p)) {
                fail("opened: " + g.tensorInfos());
            }
        }));
        assertTrue(e.getMessage().startsWith(p.toString() + ": "), "names the file: " + e.getMessage());
        if (fragment != null) assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' not in: " + e.getMessage());
        return e;
    }

    /** Little-endian header builder. */
    static final class H {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        H raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        H u32(long v) {
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        H u64(long v) {
            return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }

        H str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return u64(b.length).raw(b);
        }

        H start(long tensors, long kvs) {
            return raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(3).u64(tensors).u64(kvs);
        }

        H pad(int alignment) {
            while (out.size() % alignment != 0) out.write(0);
            return this;
        }

        H zeros(int k) {
            return raw(new byte[k]);
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    /** One F32 tensor of 8 values: a valid file to break field by field. */
    private static byte[] oneTensor(Consumer<H> kv, long kvCount, String name, long nDims, long[] ne, long type, long offset, int dataBytes) {
        H h = new H().start(1, kvCount);
        kv.accept(h);
        h.str(name).u32(nDims);
        for (long d : ne) h.u64(d);
        h.u32(type).u64(offset).pad(32).zeros(dataBytes);
        return h.bytes();
    }

    private static byte[] valid() {
        return oneTensor(h -> {}, 0, "t", 1, new long[] {8}, 0, 0, 32);
    }

    @Test
    void theBaselineIsValid() throws Exception {
        try (GgufFile g = GgufFile.open(write(valid()))) {
            assertEquals(1, g.tensorInfos().size());
        }
    }

    @Test
    void magicAndVersion() throws Exception {
        byte[] b = valid();
        b[0] = 'X';
        rejects(b, "not a GGUF file");
        rejects(new H().raw("GGUF".getBytes()).u32(1).u64(0).u64(0).bytes(), "version 1");
        rejects(new H().raw("GGUF".getBytes()).u32(4).u64(0).u64(0).bytes(), "version 4");
        rejects(new H().raw("GGUF".getBytes()).u32(0).u64(0).u64(0).bytes(), "version 0");
        rejects(new H().raw("GGUF".getBytes()).u32(0x03000000).u64(0).u64(0).bytes(), "byte-swapped");
        rejects(new byte[0], "too short");
        rejects("GG".getBytes(), "too short");
    }

    @Test
    void everyTruncationIsRefused() throws Exception {
        byte[] full = GgufWriterReaderTestFiles.smallBytes(tmp);
        for (int len = 0; len < full.length; len++) {
            rejects(Arrays.copyOf(full, len), null);
        }
    }

    @Test
    void hugeCountsAreRefusedBeforeAllocating() throws Exception {
        rejects(new H().start(1L << 62, 0).bytes(), "tensor count");
        rejects(new H().start(-1L, 0).bytes(), "tensor count");
        rejects(new H().start(0, 1L << 60).bytes(), "metadata count");
        rejects(new H().start(0, 1).u64(1L << 62).zeros(64).bytes(), "length");
        rejects(new H().start(0, 1).u64(-1L).zeros(64).bytes(), "length");
        rejects(new H().start(0, 1).str("k").u32(8).u64(1L << 40).zeros(16).bytes(), null); // string value longer than the file
        rejects(new H().start(0, 1).str("k").u32(9).u32(0).u64(1L << 61).zeros(64).bytes(), "claims");
        rejects(new H().start(0, 1).str("k").u32(9).u32(8).u64(1L << 59).zeros(64).bytes(), "claims");
        // a u8 array of 2^24+1 elements (within the bytes of the file) exceeds the per-array limit
        int big = (1 << 24) + 1;
        rejects(new H().start(0, 1).str("k").u32(9).u32(0).u64(big).zeros(big).bytes(), "limit");
    }

    @Test
    void metadataRules() throws Exception {
        rejects(new H().start(0, 2).str("a").u32(4).u32(1).str("a").u32(4).u32(2).bytes(), "duplicate metadata key 'a'");
        rejects(new H().start(0, 1).str("").u32(4).u32(1).bytes(), "empty key");
        rejects(new H().start(0, 1).str("k").u32(13).u32(1).bytes(), "unknown value type 13");
        rejects(new H().start(0, 1).str("k").u32(7).raw(new byte[] {2}).bytes(), "BOOL value 2");
        rejects(new H().start(0, 1).str("k").u32(9).u32(9).u64(1).u32(4).u64(1).u32(1).bytes(), "holds arrays");
        rejects(new H().start(0, 1).str("k").u32(9).u32(42).u64(1).u32(1).bytes(), "unknown element type");
        rejects(new H().start(0, 1).raw(new byte[] {1, 0, 0, 0, 0, 0, 0, 0, (byte) 0xC3}).u32(4).u32(1).bytes(), "UTF-8");
        byte[] alignU64 = oneTensor(h -> h.str("general.alignment").u32(10).u64(32), 1, "t", 1, new long[] {8}, 0, 0, 32);
        rejects(alignU64, "general.alignment must be UINT32");
        byte[] align48 = oneTensor(h -> h.str("general.alignment").u32(4).u32(48), 1, "t", 1, new long[] {8}, 0, 0, 64);
        rejects(align48, "not a power of two");
    }

    @Test
    void tensorInfoRules() throws Exception {
        rejects(oneTensor(h -> {}, 0, "x".repeat(64), 1, new long[] {8}, 0, 0, 32), "63");
        rejects(oneTensor(h -> {}, 0, "t", 5, new long[] {8, 1, 1, 1, 1}, 0, 0, 32), "dimensions");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {-8}, 0, 0, 32), "negative dimension");
        rejects(oneTensor(h -> {}, 0, "t", 2, new long[] {1L << 40, 1L << 40}, 0, 0, 32), "overflow");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {8}, 4, 0, 32), "removed ggml type 4");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {8}, 39, 0, 32), "ggml type 39");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {48}, 8, 0, 64), "block size 32");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {8}, 0, 32, 64), "offset 32, expected 0");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {8}, 0, 0, 31), "truncated");
        rejects(oneTensor(h -> {}, 0, "t", 1, new long[] {1L << 40}, 0, 0, 32), "cannot fit");
        rejects(oneTensor(h -> {}, 0, "t", 0, new long[] {}, 0, 0, 32), "no dimensions");
        // two tensors with the same name; and a second offset that is aligned but not the running total
        H dup = new H().start(2, 0).str("t").u32(1).u64(8).u32(0).u64(0).str("t").u32(1).u64(8).u32(0).u64(32).pad(32).zeros(64);
        rejects(dup.bytes(), "duplicate tensor name 't'");
        H gap = new H().start(2, 0).str("a").u32(1).u64(8).u32(0).u64(0).str("b").u32(1).u64(8).u32(0).u64(64).pad(32).zeros(128);
        rejects(gap.bytes(), "offset 64, expected 32");
    }

    @Test
    void randomByteFlipsNeverEscapeAsAnotherException() throws Exception {
        byte[] full = GgufWriterReaderTestFiles.smallBytes(tmp);
        int headerEnd;
        Path base = write(full);
        try (GgufFile g = GgufFile.open(base)) {
            headerEnd = (int) g.dataStart();
        }
        Random r = new Random(42);
        int opened = 0, refused = 0;
        for (int k = 0; k < 1500; k++) {
            byte[] b = full.clone();
            int flips = 1 + r.nextInt(3);
            for (int f = 0; f < flips; f++) b[r.nextInt(headerEnd)] ^= (byte) (1 << r.nextInt(8));
            Path p = write(b);
            try (GgufFile g = GgufFile.open(p)) {
                for (GgufTensorInfo t : g.tensorInfos()) {
                    if (t.type().dequantizable() && t.numel() < 1_000_000) g.dequantize(t.name());
                }
                opened++;
            } catch (BadInputException e) {
                refused++;
            } catch (Throwable t) {
                fail("flip " + k + " escaped as " + t, t);
            }
            Files.delete(p);
        }
        assertTrue(refused > 100 && opened > 10, "opened " + opened + ", refused " + refused);
    }
}
