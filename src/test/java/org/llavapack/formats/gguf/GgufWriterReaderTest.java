package org.llavapack.formats.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;

class GgufWriterReaderTest {
    @TempDir
    Path tmp;

    private static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static byte[] cat(byte[]... parts) {
        int n = Arrays.stream(parts).mapToInt(p -> p.length).sum();
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) b.put(p);
        return b.array();
    }

    /** gguf spec 1.1: the 45-byte KV pair general.architecture = "llama", and the token_embd.weight tensor info. */
    @Test
    void headerBytesMatchTheSpecExamples() {
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", GgufValue.str("llama"));
        w.addTensorNe("token_embd.weight", GgmlType.F16, new long[] {4096, 128256}, (f, c, d) -> {});
        byte[] h = w.layout().header();
        byte[] kv = cat(HexFormat.of().parseHex("1400000000000000"), "general.architecture".getBytes(StandardCharsets.US_ASCII),
                HexFormat.of().parseHex("08000000" + "0500000000000000"), "llama".getBytes(StandardCharsets.US_ASCII));
        assertEquals(45, kv.length);
        byte[] info = cat(HexFormat.of().parseHex("1100000000000000"), "token_embd.weight".getBytes(StandardCharsets.US_ASCII),
                HexFormat.of().parseHex("02000000" + "0010000000000000" + "00F5010000000000" + "01000000" + "0000000000000000"));
        byte[] expected = cat("GGUF".getBytes(StandardCharsets.US_ASCII), HexFormat.of().parseHex("03000000"), le64(1), le64(1), kv, info);
        assertArrayEquals(expected, h);
        GgufWriter.Layout l = w.layout();
        assertEquals(GgufWriter.pad(h.length, 32), l.dataStart());
        assertEquals(l.dataStart() + 4096L * 128256 * 2, l.fileSize());
    }

    @Test
    void everyKvTypeRoundTrips() {
        GgufWriter w = new GgufWriter();
        Map<String, GgufValue> values = new java.util.LinkedHashMap<>();
        values.put("k.u8", new GgufValue.Int(GgufValueType.UINT8, 255));
        values.put("k.i8", new GgufValue.Int(GgufValueType.INT8, -128));
        values.put("k.u16", new GgufValue.Int(GgufValueType.UINT16, 65535));
        values.put("k.i16", new GgufValue.Int(GgufValueType.INT16, -32768));
        values.put("k.u32", GgufValue.u32(0xFFFFFFFFL));
        values.put("k.i32", GgufValue.i32(Integer.MIN_VALUE));
        values.put("k.f32", GgufValue.f32(1e-5f));
        values.put("k.bool", GgufValue.bool(false));
        values.put("k.str", GgufValue.str("Ġthé ✓ \n"));
        values.put("k.u64", GgufValue.u64(-1L));
        values.put("k.i64", new GgufValue.Int(GgufValueType.INT64, Long.MIN_VALUE));
        values.put("k.f64", new GgufValue.Float(GgufValueType.FLOAT64, Math.PI));
        values.put("k.arr.str", GgufValue.strings(List.of("", "x", "Ġ Ġ")));
        values.put("k.arr.i32", GgufValue.i32s(1, -2, 3));
        values.put("k.arr.u8", new GgufValue.IntArray(GgufValueType.UINT8, new long[] {0, 255}));
        values.put("k.arr.u64", new GgufValue.IntArray(GgufValueType.UINT64, new long[] {-1L, 5}));
        values.put("k.arr.f32", GgufValue.f32s(0.48145466f, 0.4578275f));
        values.put("k.arr.f64", new GgufValue.FloatArray(GgufValueType.FLOAT64, new double[] {1.0 / 3}));
        values.put("k.arr.bool", new GgufValue.BoolArray(new boolean[] {true, false}));
        values.forEach(w::put);
        Path p = tmp.resolve("kv.gguf");
        w.write(p, false, Progress.NONE, 1);
        try (GgufFile g = GgufFile.open(p)) {
            assertEquals(new ArrayList<>(values.keySet()), new ArrayList<>(g.kv().keySet()), "order kept");
            values.forEach((k, v) -> assertEquals(v, g.kv().get(k), k));
            assertEquals(0, g.tensors().size());
            assertEquals(3, g.version());
        }
    }

    @Test
    void tensorsRoundTripExactlyForFloatTypesAndWithinBoundsForQuantized() throws Exception {
        int ne0 = 256, rows = 6;
        float[] x = GgufTestFiles.gaussian(11, ne0 * rows, 0.7f);
        x[5] = 1e-9f; // subnormal in f16
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", GgufValue.str("test"));
        GgmlType[] types = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K};
        for (GgmlType t : types) w.addTensor("t." + t.name().toLowerCase() + ".weight", t, new long[] {rows, ne0}, GgufTestFiles.rowsOf(x, ne0, t));
        Path p = tmp.resolve("types.gguf");
        w.write(p, false, Progress.NONE, 3);
        try (GgufFile g = GgufFile.open(p)) {
            for (GgmlType t : types) {
                String name = "t." + t.name().toLowerCase() + ".weight";
                GgufTensorInfo info = g.tensorInfo(name);
                assertEquals(t, info.type());
                assertArrayEquals(new long[] {rows, ne0}, info.shape());
                float[] y = g.dequantize(name);
                double err = 0, ref = 0;
                for (int i = 0; i < x.length; i++) {
                    float expect = switch (t) {
                        case F32 -> x[i];
                        case F16 -> Float.float16ToFloat(Float.floatToFloat16(x[i]));
                        case BF16 -> Float.intBitsToFloat((PlainCodec.toBf16(x[i]) & 0xFFFF) << 16);
                        default -> Float.NaN;
                    };
                    if (!Float.isNaN(expect)) assertEquals(Float.floatToIntBits(expect), Float.floatToIntBits(y[i]), name + " element " + i);
                    err += (x[i] - y[i]) * (double) (x[i] - y[i]);
                    ref += x[i] * (double) x[i];
                }
                double rel = Math.sqrt(err / ref);
                double bound = switch (t) {
                    case F32 -> 0;
                    case F16 -> 1e-3;
                    case BF16 -> 5e-3;
                    case Q8_0 -> 0.01;
                    case Q6_K -> 0.02;
                    case Q5_0 -> 0.05;
                    case Q4_K -> 0.1;
                    case Q4_0 -> 0.12;
                    default -> 1;
                };
                assertTrue(rel <= bound, t + ": relative RMSE " + rel + " above " + bound);
                if (t == GgmlType.Q8_0) assertQ8Bound(x, y);
            }
            // TensorStore view: dtype F32 for quantized tensors, F16 mapped as is
            assertEquals(DType.F32, g.info("t.q8_0.weight").orElseThrow().dtype());
            assertEquals(DType.F16, g.info("t.f16.weight").orElseThrow().dtype());
            try (TensorHandle h = g.open("t.q4_k.weight")) {
                Tensor tt = h.tensor();
                assertEquals(g.dequantize("t.q4_k.weight")[100], tt.getFloat(100));
            }
            assertTrue(g.region("t.f16.weight").isPresent());
            assertTrue(g.region("t.q8_0.weight").isEmpty());
        }
    }

    /** Per block: |x − x̂| ≤ d/2 (rounding) + |q|·|d − fp16(d)| (scale rounding) with d = amax/127. */
    static void assertQ8Bound(float[] x, float[] y) {
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
            double d = amax / 127.0;
            double dh = Float.float16ToFloat(Float.floatToFloat16((float) d));
            for (int j = 0; j < 32; j++) {
                int i = 32 * b + j;
                double bound = d / 2 * (1 + 1e-6) + 127 * Math.abs(d - dh) + 1e-12;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, "q8_0 element " + i + ": " + x[i] + " vs " + y[i] + " bound " + bound);
            }
        }
    }

    @Test
    void layoutIsContiguousAlignedAndPaddedAfterTheLastTensor() throws Exception {
        Path p = GgufTestFiles.small(tmp);
        byte[] bytes = Files.readAllBytes(p);
        try (GgufFile g = GgufFile.open(p)) {
            assertEquals(0, g.dataStart() % 32);
            long expected = 0;
            for (GgufTensorInfo t : g.tensorInfos()) {
                assertEquals(expected, t.offset(), t.name());
                assertEquals(0, t.offset() % 32);
                long end = g.dataStart() + t.offset() + t.bytes();
                long padded = GgufWriter.pad(t.offset() + t.bytes(), 32);
                for (long i = end; i < g.dataStart() + padded; i++) assertEquals(0, bytes[(int) i], "padding byte " + i);
                expected = padded;
            }
            assertEquals(g.dataStart() + expected, bytes.length, "file ends with the last tensor's padding");
        }
    }

    @Test
    void outputIsDeterministicWhateverTheThreadCount() throws Exception {
        float[] x = GgufTestFiles.gaussian(5, 300 * 512, 1);
        byte[][] outs = new byte[3][];
        int[] threads = {1, 2, 7};
        for (int k = 0; k < 3; k++) {
            GgufWriter w = new GgufWriter();
            w.put("general.architecture", GgufValue.str("x"));
            w.addTensor("q.weight", GgmlType.Q4_K, new long[] {300, 512}, GgufTestFiles.rowsOf(x, 512, GgmlType.Q4_K));
            w.addTensor("h.weight", GgmlType.F16, new long[] {300, 512}, GgufTestFiles.rowsOf(x, 512, GgmlType.F16));
            Path p = tmp.resolve("d" + k + ".gguf");
            w.write(p, false, Progress.NONE, threads[k]);
            outs[k] = Files.readAllBytes(p);
        }
        assertArrayEquals(outs[0], outs[1]);
        assertArrayEquals(outs[0], outs[2]);
    }

    @Test
    void writerRefusesWhatLlamaCppRejects() {
        GgufWriter w = new GgufWriter();
        w.put("a", GgufValue.u32(1));
        assertThrows(IllegalArgumentException.class, () -> w.put("a", GgufValue.u32(2)), "duplicate key");
        assertThrows(IllegalArgumentException.class, () -> w.put("", GgufValue.u32(2)), "empty key");
        assertThrows(IllegalArgumentException.class, () -> w.put("e", GgufValue.strings(List.of())), "empty array");
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValue.u64(32)), "alignment must be u32");
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValue.u32(48)), "power of two");
        GgufWriter.TensorSource none = (f, c, d) -> {};
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), GgmlType.F32, new long[] {4}, none), "64-byte name");
        w.addTensor("x".repeat(63), GgmlType.F32, new long[] {4}, none);
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(63), GgmlType.F32, new long[] {4}, none), "duplicate tensor");
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", GgmlType.Q8_0, new long[] {2, 48}, none), "48 % 32");
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q5", GgmlType.F32, new long[] {1, 1, 1, 1, 2}, none), "5 dims");
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q1", GgmlType.Q4_1, new long[] {32}, none), "not written");
        assertThrows(IllegalArgumentException.class, () -> GgufValue.u32(-1));
        assertThrows(IllegalArgumentException.class, () -> new GgufValue.Float(GgufValueType.FLOAT32, 0.1), "0.1 is not a float32");
    }

    @Test
    void customAlignmentIsHonoured() {
        GgufWriter w = new GgufWriter();
        w.put("general.alignment", GgufValue.u32(64));
        float[] x = GgufTestFiles.gaussian(1, 40, 1);
        w.addTensor("a", GgmlType.F32, new long[] {40}, GgufTestFiles.rowsOf(x, 40, GgmlType.F32));
        w.addTensor("b", GgmlType.F32, new long[] {40}, GgufTestFiles.rowsOf(x, 40, GgmlType.F32));
        Path p = tmp.resolve("a64.gguf");
        w.write(p, false, Progress.NONE, 1);
        try (GgufFile g = GgufFile.open(p)) {
            assertEquals(64, g.alignment());
            assertEquals(0, g.dataStart() % 64);
            assertEquals(192, g.tensorInfo("b").offset());
            assertArrayEquals(x, g.dequantize("b"));
            assertInstanceOf(GgufValue.Int.class, g.kv().get("general.alignment"));
        }
    }
}
