package org.llavapack.formats.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.llavapack.progress.Progress;

/**
 * Write → read → equal for the GGUF writer over random tensor sets (issue #9): every writable ggml type, 1-D to 3-D
 * shapes, random values and KV metadata. The file read back must hold the same KV pairs in order, the same tensor
 * infos, and for every tensor exactly the bytes the type's codec produces for those values (quantized types
 * included: the writer must not alter, reorder or misalign rows).
 */
class GgufRoundTripPropertyTest {
    private static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K};

    record Spec(GgmlType type, long[] ne, long seed) {
        float[] values() {
            long n = 1;
            for (long d : ne) n *= d;
            Random r = new Random(seed);
            float[] v = new float[Math.toIntExact(n)];
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
            return v;
        }
    }

    @Provide
    Arbitrary<List<Spec>> tensorSets() {
        Arbitrary<Spec> one = Combinators.combine(
                Arbitraries.of(TYPES), Arbitraries.integers().between(1, 3), Arbitraries.integers().between(1, 4),
                Arbitraries.integers().between(1, 5), Arbitraries.integers().between(1, 3), Arbitraries.longs())
                .as((type, blocks, rows, planes, rank, seed) -> {
                    long ne0 = (long) blocks * type.blockSize() * (type.blockSize() == 1 ? 7 : 1);
                    long[] ne = switch (rank) {
                        case 1 -> new long[] {ne0};
                        case 2 -> new long[] {ne0, rows};
                        default -> new long[] {ne0, rows, planes};
                    };
                    return new Spec(type, ne, seed);
                });
        return one.list().ofMinSize(0).ofMaxSize(5);
    }

    @Provide
    Arbitrary<Map<String, String>> metadata() {
        return Arbitraries.maps(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(12).map(s -> "test." + s),
                Arbitraries.strings().ofMaxLength(40)).ofMaxSize(6);
    }

    @Property(tries = 60)
    void writtenFilesReadBackEqual(@ForAll("tensorSets") List<Spec> specs, @ForAll("metadata") Map<String, String> meta,
                                   @ForAll boolean parallel) throws IOException {
        Path dir = Files.createTempDirectory("gguf-prop");
        Path file = dir.resolve("m.gguf");
        try {
            GgufWriter w = new GgufWriter();
            Map<String, GgufValue> kv = new LinkedHashMap<>();
            kv.put("general.architecture", GgufValue.str("llama"));
            kv.put("test.count", GgufValue.u32(specs.size()));
            meta.forEach((k, v) -> kv.put(k, GgufValue.str(v)));
            kv.forEach(w::put);
            List<byte[]> expected = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                Spec s = specs.get(i);
                float[] v = s.values();
                BlockCodec codec = BlockCodec.of(s.type());
                long ne0 = s.ne()[0];
                byte[] bytes = new byte[Math.toIntExact(s.type().rowBytes(ne0) * (v.length / ne0))];
                codec.quantize(v, 0, v.length, bytes, 0);
                expected.add(bytes);
                w.addTensorNe("t" + i + "." + s.type(), s.type(), s.ne(),
                        (first, count, dst) -> codec.quantize(v, Math.toIntExact(first * ne0), Math.toIntExact(count * ne0), dst, 0));
            }
            w.write(file, false, Progress.NONE, parallel ? 3 : 1);
            try (GgufFile g = GgufFile.open(file)) {
                assertEquals(new ArrayList<>(kv.keySet()), new ArrayList<>(g.kv().keySet()));
                kv.forEach((k, v) -> assertEquals(v, g.kv().get(k), k));
                assertEquals(specs.size(), g.tensorInfos().size());
                for (int i = 0; i < specs.size(); i++) {
                    Spec s = specs.get(i);
                    GgufTensorInfo t = g.tensorInfos().get(i);
                    assertEquals("t" + i + "." + s.type(), t.name());
                    assertEquals(s.type(), t.type());
                    assertArrayEquals(s.ne(), t.ne());
                    assertEquals(0, (g.dataStart() + t.offset()) % g.alignment(), "tensor data aligned");
                    assertArrayEquals(expected.get(i), g.rawData(t.name()).toArray(ValueLayout.JAVA_BYTE), t.name());
                }
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }
}
