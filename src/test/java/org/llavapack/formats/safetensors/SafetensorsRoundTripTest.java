package org.llavapack.formats.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.OutputException;
import org.llavapack.TestPaths;
import org.llavapack.convert.Reshard;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

class SafetensorsRoundTripTest {

    @TempDir
    Path tmp;

    /** The byte sequences of safetensors' own serializer tests (formats/safetensors/vectors), reproduced exactly. */
    @Test
    void writerReproducesReferenceVectors() throws IOException {
        Path vectors = TestPaths.repo().resolve("formats/safetensors/vectors");
        float[] values = {0, 1, 2, 3, 4, 5};
        assertSameBytes(vectors.resolve("serialize-f32-1x2x3.safetensors"), Map.of(),
                List.of(new TensorInfo("attn.0", DType.F32, new long[] {1, 2, 3})), values);
        assertSameBytes(vectors.resolve("forced-alignment-f32-1x1x2x3.safetensors"), Map.of(),
                List.of(new TensorInfo("attn0", DType.F32, new long[] {1, 1, 2, 3})), values);
        assertSameBytes(vectors.resolve("empty.safetensors"), Map.of(), List.of(), values);
        assertSameBytes(vectors.resolve("empty-with-metadata.safetensors"), Map.of("framework", "pt"), List.of(), values);
    }

    private void assertSameBytes(Path expected, Map<String, String> meta, List<TensorInfo> infos, float[] values) throws IOException {
        Path out = tmp.resolve("v-" + expected.getFileName());
        SafetensorsWriter.writeFile(out, meta, infos, (info, sink) -> sink.writeFloats(values, 0, (int) info.numel()), Progress.NONE);
        assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(out), expected.getFileName().toString());
        try (SafetensorsFile f = SafetensorsFile.open(expected)) {
            assertEquals(infos, f.tensors());
            assertEquals(meta, f.metadata());
        }
    }

    /** Each shard written by the fixture generator's independent Python writer is reproduced byte for byte. */
    @Test
    void writerReproducesIndependentPythonWriterOnFixtureShards() throws IOException {
        Path model = TestPaths.checkpoint("tiny-llama");
        List<Path> files;
        try (Stream<Path> s = Files.list(model)) {
            files = s.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
        }
        assertEquals(2, files.size());
        for (Path shard : files) {
            try (SafetensorsFile f = SafetensorsFile.open(shard)) {
                Path out = tmp.resolve(shard.getFileName());
                SafetensorsWriter.writeFile(out, f.metadata(), f.tensors(), (info, sink) -> sink.write(f.tensor(info.name()).data()), Progress.NONE);
                assertArrayEquals(Files.readAllBytes(shard), Files.readAllBytes(out), shard.toString());
            }
        }
    }

    @Test
    void shardedFolderReadsThroughIndexInStateDictOrder() {
        try (TensorStore store = ShardedSafetensors.open(TestPaths.checkpoint("tiny-llama"))) {
            assertEquals(21, store.tensors().size());
            assertEquals("model.embed_tokens.weight", store.tensors().getFirst().name());
            TensorInfo q = store.info("model.layers.0.self_attn.k_proj.weight").orElseThrow();
            assertEquals(DType.BF16, q.dtype());
            assertArrayEquals(new long[] {32, 64}, q.shape());
            Tensor t = store.tensor("lm_head.weight");
            assertEquals(512 * 64, t.toFloatArray().length);
        }
    }

    @Test
    void reshardToSmallShardsAndBackIsLossless() throws IOException {
        Path src = TestPaths.checkpoint("tiny-llama");
        Path small = tmp.resolve("small");
        Path single = tmp.resolve("single");
        try (TensorStore store = ShardedSafetensors.open(src)) {
            var r = Reshard.run(store, src, small, new Reshard.Options(50_000, Optional.empty(), false), Progress.NONE);
            assertTrue(r.files().size() > 3, "expected several shards: " + r.files());
            assertTrue(Files.exists(small.resolve("model.safetensors.index.json")));
            assertTrue(Files.exists(small.resolve("tokenizer.json")), "tokenizer copied");
            assertArrayEquals(Files.readAllBytes(src.resolve("config.json")), Files.readAllBytes(small.resolve("config.json")));
        }
        try (TensorStore a = ShardedSafetensors.open(src); TensorStore b = ShardedSafetensors.open(small)) {
            assertEquals(sortedByName(a.tensors()), sortedByName(b.tensors()));
            for (TensorInfo t : a.tensors()) {
                assertEquals(-1L, a.tensor(t.name()).data().mismatch(b.tensor(t.name()).data()), t.name());
            }
            Reshard.run(b, small, single, new Reshard.Options(ByteSize.parse("5GB"), Optional.empty(), false), Progress.NONE);
        }
        assertTrue(Files.exists(single.resolve("model.safetensors")));
        assertFalse(Files.exists(single.resolve("model.safetensors.index.json")));
    }

    @Test
    void castToF32AndBackRestoresBf16Exactly() {
        Path src = TestPaths.checkpoint("tiny-llama");
        Path f32 = tmp.resolve("f32");
        Path bf16 = tmp.resolve("bf16");
        try (TensorStore store = ShardedSafetensors.open(src)) {
            Reshard.run(store, src, f32, new Reshard.Options(1_000_000_000, Optional.of(DType.F32), false), Progress.NONE);
        }
        String config = readString(f32.resolve("config.json"));
        assertTrue(config.contains("\"torch_dtype\": \"float32\""), config);
        try (TensorStore store = ShardedSafetensors.open(f32)) {
            assertTrue(store.tensors().stream().allMatch(t -> t.dtype() == DType.F32));
            Reshard.run(store, f32, bf16, new Reshard.Options(1_000_000_000, Optional.of(DType.BF16), false), Progress.NONE);
        }
        try (TensorStore a = ShardedSafetensors.open(src); TensorStore b = ShardedSafetensors.open(bf16)) {
            for (TensorInfo t : a.tensors()) {
                assertEquals(-1L, a.tensor(t.name()).data().mismatch(b.tensor(t.name()).data()), t.name());
            }
        }
        assertEquals(readString(src.resolve("config.json")).replace("\n", ""), readString(bf16.resolve("config.json")).replace("\n", ""));
    }

    private static List<TensorInfo> sortedByName(List<TensorInfo> ts) {
        return ts.stream().sorted(java.util.Comparator.comparing(TensorInfo::name)).toList();
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void sameInputGivesSameBytes() throws IOException {
        Path src = TestPaths.checkpoint("tiny-llama");
        for (String name : List.of("a", "b")) {
            try (TensorStore store = ShardedSafetensors.open(src)) {
                Reshard.run(store, src, tmp.resolve(name), new Reshard.Options(60_000, Optional.empty(), false), Progress.NONE);
            }
        }
        try (Stream<Path> s = Files.list(tmp.resolve("a"))) {
            for (Path f : s.toList()) {
                assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(tmp.resolve("b").resolve(f.getFileName())), f.toString());
            }
        }
    }

    @Test
    void failedWriteLeavesNoOutputAndNoTemporary() throws IOException {
        Path target = tmp.resolve("out");
        try (TensorStore store = ShardedSafetensors.open(TestPaths.checkpoint("tiny-llama"))) {
            int[] count = {0};
            assertThrows(IllegalStateException.class, () -> {
                try (AtomicOutput out = AtomicOutput.directory(target, false)) {
                    SafetensorsWriter.writeSharded(out.path(), "model", SafetensorsWriter.PT_METADATA, store.tensors(), 100_000,
                            (info, sink) -> {
                                if (++count[0] == 10) throw new IllegalStateException("simulated crash");
                                sink.write(store.tensor(info.name()).data());
                            }, Progress.NONE);
                    out.commit();
                }
            });
        }
        assertFalse(Files.exists(target));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.toList(), "temporaries removed");
        }
    }

    @Test
    void existingOutputIsNotOverwrittenWithoutForce() throws IOException {
        Path target = Files.createDirectory(tmp.resolve("exists"));
        Files.writeString(target.resolve("keep.txt"), "precious");
        var e = assertThrows(OutputException.class, () -> AtomicOutput.directory(target, false));
        assertTrue(e.getMessage().contains("already exists"));
        assertEquals("precious", Files.readString(target.resolve("keep.txt")));
    }

    @Test
    void shardPlanFollowsHuggingfaceHub() {
        List<TensorInfo> ts = List.of(f32("a", 10), f32("b", 10), f32("c", 30), f32("d", 5), f32("e", 5), f32("f", 12));
        // limit 80 bytes: a(40)+b(40)=80 fits; c (120) exceeds the limit and is listed alone at once, while [a, b] is
        // still open (huggingface_hub appends it immediately); d tips [a, b] over; f(48) tips [d, e] over.
        ShardPlan plan = ShardPlan.of(ts, 80);
        List<List<String>> names = plan.shards().stream().map(s -> s.stream().map(TensorInfo::name).toList()).toList();
        assertEquals(List.of(List.of("c"), List.of("a", "b"), List.of("d", "e"), List.of("f")), names);
        assertEquals("model-00002-of-00004.safetensors", plan.fileName("model", 1));
        assertEquals(40 + 40 + 120 + 20 + 20 + 48, plan.totalBytes());
    }

    private static TensorInfo f32(String name, long n) {
        return new TensorInfo(name, DType.F32, new long[] {n});
    }

    @Test
    void byteSizesUseDecimalAndBinaryUnits() {
        assertEquals(5_000_000_000L, ByteSize.parse("5GB"));
        assertEquals(500_000_000L, ByteSize.parse("500MB"));
        assertEquals(2L << 30, ByteSize.parse("2GiB"));
        assertEquals(1234, ByteSize.parse("1234"));
        assertEquals(1_500_000_000L, ByteSize.parse("1.5GB"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("5 parsecs"));
    }

    // ---- property: write → read → equal, for random shapes and dtypes ----

    record Spec(String name, DType dtype, long[] shape, byte[] data) {}

    @Provide
    Arbitrary<List<Spec>> tensorSets() {
        Arbitrary<Spec> one = Combinators.combine(
                        Arbitraries.strings().withCharRange('a', 'z').withChars('.', '_', '0', '1').ofMinLength(1).ofMaxLength(12),
                        Arbitraries.of(DType.values()),
                        Arbitraries.longs().between(0, 5).list().ofMinSize(0).ofMaxSize(4))
                .as((name, dtype, dims) -> {
                    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
                    long n = 1;
                    for (long d : shape) n *= d;
                    byte[] data = new byte[(int) (n * dtype.size())];
                    new java.util.Random(name.hashCode()).nextBytes(data);
                    return new Spec(name, dtype, shape, data);
                });
        return one.list().ofMinSize(0).ofMaxSize(8).uniqueElements(Spec::name);
    }

    @Property(tries = 200)
    void writeThenReadGivesTheSameTensors(@ForAll("tensorSets") @Size(max = 8) List<Spec> specs) throws IOException {
        Path out = Files.createTempFile("prop", ".safetensors");
        try {
            Map<String, Spec> byName = new HashMap<>();
            List<TensorInfo> infos = new ArrayList<>();
            for (Spec s : specs) {
                byName.put(s.name(), s);
                infos.add(new TensorInfo(s.name(), s.dtype(), s.shape()));
            }
            SafetensorsWriter.writeFile(out, Map.of("format", "pt"), infos,
                    (info, sink) -> sink.write(MemorySegment.ofArray(byName.get(info.name()).data())), Progress.NONE);
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                assertEquals(specs.size(), f.tensors().size());
                for (Spec s : specs) {
                    TensorInfo info = f.info(s.name()).orElseThrow();
                    assertEquals(new TensorInfo(s.name(), s.dtype(), s.shape()), info);
                    assertArrayEquals(s.data(), f.tensor(s.name()).data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }
                long header = f.dataStart() - 8;
                assertEquals(0, header % 8, "header padded to 8 bytes");
            }
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
