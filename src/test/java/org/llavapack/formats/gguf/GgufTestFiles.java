package org.llavapack.formats.gguf;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.llavapack.progress.Progress;

/** Small GGUF files for tests, written by {@link GgufWriter}. */
final class GgufTestFiles {
    private GgufTestFiles() {}

    /** A source that encodes rows of {@code values} (row-major, rows of ne0) with the target type's codec. */
    static GgufWriter.TensorSource rowsOf(float[] values, long ne0, GgmlType type) {
        return (first, count, dst) -> BlockCodec.of(type).quantize(values, Math.toIntExact(first * ne0), Math.toIntExact(count * ne0), dst, 0);
    }

    static float[] gaussian(long seed, int n, float std) {
        Random r = new Random(seed);
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (r.nextGaussian() * std);
        return f;
    }

    /** A small valid file: a few KV types and three tensors (F32 1-D, F16 2-D, Q8_0 2-D). */
    static Path small(Path dir) {
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", GgufValue.str("llama"));
        w.put("test.u32", GgufValue.u32(7));
        w.put("test.f32", GgufValue.f32(0.5f));
        w.put("test.bool", GgufValue.bool(true));
        w.put("test.strings", GgufValue.strings(List.of("a", "bc", "Ġthe")));
        w.put("test.ints", GgufValue.i32s(1, 2, 3));
        float[] a = gaussian(1, 64, 1), b = gaussian(2, 3 * 64, 1), c = gaussian(3, 2 * 64, 1);
        w.addTensor("a.weight", GgmlType.F32, new long[] {64}, rowsOf(a, 64, GgmlType.F32));
        w.addTensor("b.weight", GgmlType.F16, new long[] {3, 64}, rowsOf(b, 64, GgmlType.F16));
        w.addTensor("c.weight", GgmlType.Q8_0, new long[] {2, 64}, rowsOf(c, 64, GgmlType.Q8_0));
        Path p = dir.resolve("small.gguf");
        try {
            Files.deleteIfExists(p);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        w.write(p, true, Progress.NONE, 2);
        return p;
    }
}
