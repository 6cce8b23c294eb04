package org.llavapack.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.formats.safetensors.ShardedSafetensors;
import org.llavapack.json.PythonJson;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * merge-lora against the PyTorch references in test-checkpoints/expected (README: "Tiny Llama-3 model, LoRA adapters
 * and merge references"), plus the folder it writes and the adapters it must refuse.
 */
class MergeLoraTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private final List<String> warnings = new ArrayList<>();

    private static Path ckpt(String name) {
        return TestPaths.checkpoint(name);
    }

    private static Path expected(String name) {
        return TestPaths.checkpoint("expected").resolve(name);
    }

    private Path merge(Path base, Path adapterDir, String outName, Optional<DType> dtype, long maxShard, int threads) {
        Path out = tmp.resolve(outName);
        try (TensorStore store = TensorStores.open(base); PeftAdapter adapter = PeftAdapter.open(adapterDir, store, base)) {
            warnings.addAll(adapter.warnings());
            MergeLora.run(store, base, adapter, out, new MergeLora.Options(dtype, maxShard, threads, false), Progress.NONE, warnings::add);
        }
        return out;
    }

    private Path merge(String base, String adapter, String outName) {
        return merge(ckpt(base), ckpt(adapter), outName, Optional.empty(), 5_000_000_000L, 3);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Values

    @ParameterizedTest
    @ValueSource(strings = {"lora", "lora-rslora", "lora-patterns", "lora-dora", "lora-modules-to-save", "lora-bf16"})
    void bf16MergesMatchPyTorchWithinOneUlp(String variant) {
        Path out = merge("tiny-llama", "tiny-llama-" + variant, variant);
        Set<String> changed = assertBf16Close(out, expected("merged-" + variant + ".safetensors"));
        assertUntouchedByteIdentical(ckpt("tiny-llama"), out, changed);
        assertTrue(warnings.isEmpty(), warnings.toString());
    }

    @Test
    void modulesToSaveCopyIsBitIdentical() throws IOException {
        Path out = merge("tiny-llama", "tiny-llama-lora-modules-to-save", "mts");
        try (TensorStore o = TensorStores.open(out); TensorStore a = TensorStores.open(ckpt("tiny-llama-lora-modules-to-save").resolve("adapter_model.safetensors"))) {
            assertSameBytes(a.tensor("base_model.model.lm_head.weight"), o.tensor("lm_head.weight"));
        }
    }

    @Test
    void fp32OutputMatchesUnroundedSums() {
        Path out = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora"), "f32", Optional.of(DType.F32), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore e = TensorStores.open(expected("merged-lora-f32.safetensors"));
             TensorStore b = TensorStores.open(ckpt("tiny-llama"))) {
            assertEquals(14, e.tensors().size());
            for (TensorInfo t : e.tensors()) assertAbsClose(e.tensor(t.name()), o.tensor(t.name()), 1e-6);
            for (TensorInfo t : b.tensors()) {
                assertEquals(DType.F32, o.info(t.name()).orElseThrow().dtype());
                if (e.contains(t.name())) continue;
                Tensor bt = b.tensor(t.name()), ot = o.tensor(t.name());
                for (long i = 0; i < bt.numel(); i++) assertEquals(bt.getFloat(i), ot.getFloat(i), 0.0, t.name() + " widened exactly");
            }
        }
        JsonNode config = HfFolder.readJson(out.resolve("config.json"));
        assertEquals("float32", config.get("torch_dtype").asText(), "torch_dtype follows --dtype");
    }

    /** GPT-2 Conv1D weights are [in, out]: the delta is transposed (fan_in_fan_out), and F32 is kept. */
    @Test
    void conv1dFanInFanOut() {
        Path out = merge("tiny-conv1d-base", "tiny-conv1d-lora", "conv1d");
        Set<String> changed = new java.util.HashSet<>();
        try (TensorStore o = TensorStores.open(out); TensorStore e = TensorStores.open(expected("merged-conv1d-lora.safetensors"))) {
            assertEquals(2, e.tensors().size());
            for (TensorInfo t : e.tensors()) {
                assertAbsClose(e.tensor(t.name()), o.tensor(t.name()), 1e-6);
                changed.add(t.name());
            }
        }
        assertUntouchedByteIdentical(ckpt("tiny-conv1d-base"), out, changed);
    }

    /** DoRA on a Conv1D layer normalises stored columns: a two-pass merge, checked against a plain double loop. */
    @Test
    void doraOnTransposedWeightsNormalisesColumns() throws IOException {
        Path adapter = copyAdapter("tiny-conv1d-lora", "conv1d-dora");
        editConfig(adapter, c -> c.put("use_dora", true));
        Map<String, float[]> mags = new LinkedHashMap<>();
        for (int i = 0; i < 2; i++) {
            float[] m = new float[96];
            for (int j = 0; j < 96; j++) m[j] = 0.5f + 0.01f * j;
            mags.put("base_model.model.transformer.h." + i + ".attn.c_attn.lora_magnitude_vector", m);
        }
        rewriteWeights(adapter, Map.of(), mags);
        Path out = merge(ckpt("tiny-conv1d-base"), adapter, "conv1d-dora-out", Optional.empty(), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore b = TensorStores.open(ckpt("tiny-conv1d-base"));
             TensorStore a = TensorStores.open(adapter.resolve("adapter_model.safetensors"))) {
            for (int layer = 0; layer < 2; layer++) {
                String mod = "transformer.h." + layer + ".attn.c_attn";
                float[] w = b.tensor(mod + ".weight").toFloatArray();
                float[] la = a.tensor("base_model.model." + mod + ".lora_A.weight").toFloatArray();
                float[] lb = a.tensor("base_model.model." + mod + ".lora_B.weight").toFloatArray();
                float[] m = mags.get("base_model.model." + mod + ".lora_magnitude_vector");
                double[] v = new double[32 * 96];
                double[] norm = new double[96];
                for (int i = 0; i < 32; i++) {
                    for (int o2 = 0; o2 < 96; o2++) {
                        double d = 0;
                        for (int p = 0; p < 4; p++) d += (double) lb[o2 * 4 + p] * la[p * 32 + i];
                        v[i * 96 + o2] = w[i * 96 + o2] + 3.0 * d;
                        norm[o2] += v[i * 96 + o2] * v[i * 96 + o2];
                    }
                }
                Tensor got = o.tensor(mod + ".weight");
                for (int i = 0; i < 32 * 96; i++) {
                    double want = m[i % 96] / Math.sqrt(norm[i % 96]) * v[i];
                    assertEquals(want, got.getFloat(i), 1e-6, mod + " element " + i);
                }
            }
        }
    }

    /** peft's Embedding LoRA: lora_embedding_A [r, vocab], lora_embedding_B [dim, r], W [vocab, dim] += s·(B·A)ᵀ. */
    @Test
    void embeddingLora() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "embedding");
        editConfig(a, c -> c.putArray("target_modules").add("q_proj").add("k_proj").add("v_proj").add("o_proj")
                .add("gate_proj").add("up_proj").add("down_proj").add("embed_tokens"));
        int r = 8, vocab = 512, dim = 64;
        float[] ea = new float[r * vocab], eb = new float[dim * r];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        for (int i = 0; i < ea.length; i++) ea[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < eb.length; i++) eb[i] = (float) (rnd.nextGaussian() * 0.05);
        rewriteWeights(a, Map.of(), Map.of("base_model.model.model.embed_tokens.lora_embedding_A", ea,
                        "base_model.model.model.embed_tokens.lora_embedding_B", eb),
                Map.of("base_model.model.model.embed_tokens.lora_embedding_A", new long[] {r, vocab},
                        "base_model.model.model.embed_tokens.lora_embedding_B", new long[] {dim, r}));
        Path out = merge(ckpt("tiny-llama"), a, "embedding-out", Optional.of(DType.F32), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore b = TensorStores.open(ckpt("tiny-llama"))) {
            Tensor w = b.tensor("model.embed_tokens.weight"), got = o.tensor("model.embed_tokens.weight");
            for (int v = 0; v < vocab; v++) {
                for (int d = 0; d < dim; d++) {
                    double delta = 0;
                    for (int p = 0; p < r; p++) delta += (double) eb[d * r + p] * ea[p * vocab + v];
                    assertEquals(w.getFloat(v * dim + d) + 2.0 * delta, got.getFloat(v * dim + d), 1e-6, "embed[" + v + "," + d + "]");
                }
            }
        }
    }

    /** bias = "all": peft saves every trained bias (under the wrapper's base_layer name) and they replace the base's. */
    @Test
    void trainedBiasesReplaceTheBase() throws IOException {
        Path a = copyAdapter("tiny-conv1d-lora", "bias-all");
        editConfig(a, c -> c.put("bias", "all"));
        float[] bias = new float[96];
        java.util.Arrays.fill(bias, 0.25f);
        float[] ln = new float[32];
        java.util.Arrays.fill(ln, -1.5f);
        rewriteWeights(a, Map.of(), Map.of("base_model.model.transformer.h.0.attn.c_attn.base_layer.bias", bias,
                "base_model.model.transformer.h.1.ln_2.bias", ln));
        Path out = merge(ckpt("tiny-conv1d-base"), a, "bias-all-out", Optional.empty(), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out)) {
            for (int i = 0; i < 96; i++) assertEquals(0.25f, o.tensor("transformer.h.0.attn.c_attn.bias").getFloat(i));
            for (int i = 0; i < 32; i++) assertEquals(-1.5f, o.tensor("transformer.h.1.ln_2.bias").getFloat(i));
        }
        editConfig(a, c -> c.put("bias", "none"));
        assertThrows(BadInputException.class, () -> merge(ckpt("tiny-conv1d-base"), a, "bias-none-out", Optional.empty(), 5_000_000_000L, 2));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The folder

    @Test
    void writesACompleteHfFolderWithAConsistentIndex() throws IOException {
        Path out = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora"), "sharded", Optional.empty(), 100_000, 2);
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")) {
            assertArrayEquals(Files.readAllBytes(ckpt("tiny-llama").resolve(f)), Files.readAllBytes(out.resolve(f)), f + " copied verbatim");
        }
        JsonNode index = JSON.readTree(out.resolve("model.safetensors.index.json").toFile());
        JsonNode wm = index.get("weight_map");
        List<String> shards;
        try (Stream<Path> s = Files.list(out)) {
            shards = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted().toList();
        }
        assertTrue(shards.size() >= 3, shards.toString());
        for (int i = 0; i < shards.size(); i++) {
            assertEquals(String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size()), shards.get(i));
        }
        long total = 0;
        try (TensorStore base = TensorStores.open(ckpt("tiny-llama"));
             ShardedSafetensors merged = ShardedSafetensors.openIndex(out.resolve("model.safetensors.index.json"))) {
            assertEquals(base.tensors().size(), wm.size());
            for (TensorInfo t : base.tensors()) {
                assertTrue(wm.has(t.name()), t.name());
                TensorInfo m = merged.info(t.name()).orElseThrow();
                assertEquals(t.dtype(), m.dtype());
                assertArrayEquals(t.shape(), m.shape());
                total += m.byteSize();
            }
            // Shards are cut in the base's state-dict order (within a file, safetensors sorts by dtype and name).
            List<String> order = base.tensors().stream().map(TensorInfo::name).toList();
            int last = -1;
            for (var shard : merged.shards()) {
                List<Integer> positions = shard.tensors().stream().map(t -> order.indexOf(t.name())).sorted().toList();
                assertTrue(positions.getFirst() > last, "shard " + shard.source().getFileName() + " continues the base order");
                assertEquals(positions.getLast() - positions.getFirst() + 1, positions.size(), "a contiguous run of the base order");
                last = positions.getLast();
            }
        }
        assertEquals(total, index.get("metadata").get("total_size").asLong());
        Set<String> changed = assertBf16Close(out, expected("merged-lora.safetensors"));
        assertUntouchedByteIdentical(ckpt("tiny-llama"), out, changed);
    }

    @Test
    void deterministicWhateverTheThreadCount() throws IOException {
        Path a = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora-dora"), "run1", Optional.empty(), 150_000, 1);
        Path b = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora-dora"), "run2", Optional.empty(), 150_000, 4);
        Path c = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora-dora"), "run3", Optional.empty(), 150_000, 4);
        List<String> files;
        try (Stream<Path> s = Files.list(a)) {
            files = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        for (Path other : List.of(b, c)) {
            try (Stream<Path> s = Files.list(other)) {
                assertEquals(files, s.map(p -> p.getFileName().toString()).sorted().toList());
            }
            for (String f : files) assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(other.resolve(f)), f);
        }
    }

    /**
     * The same bytes before and after TileWarmup has the vector kernels compiled by C2: the Vector API's Java
     * fallbacks (interpreter, C1) and its intrinsics must round identically, or output would depend on JIT timing.
     */
    @Test
    void sameBytesWhateverTheJitTier() throws IOException {
        Path before = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora-rslora"), "tier-before", Optional.empty(), 5_000_000_000L, 2);
        long t0 = System.nanoTime();
        TileWarmup.await();
        assertTrue(System.nanoTime() - t0 < 60_000_000_000L, "the warm-up ends");
        Path after = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora-rslora"), "tier-after", Optional.empty(), 5_000_000_000L, 2);
        assertArrayEquals(Files.readAllBytes(before.resolve("model.safetensors")), Files.readAllBytes(after.resolve("model.safetensors")));
    }

    @Test
    void fp16OutputRoundsOnceAndUpdatesTorchDtype() {
        Path out = merge(ckpt("tiny-llama"), ckpt("tiny-llama-lora"), "f16", Optional.of(DType.F16), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore e = TensorStores.open(expected("merged-lora-f32.safetensors"))) {
            for (TensorInfo t : e.tensors()) {
                Tensor want = e.tensor(t.name()), got = o.tensor(t.name());
                assertEquals(DType.F16, got.dtype());
                int off = 0;
                for (long i = 0; i < want.numel(); i++) {
                    // One rounding of the (same up to summation order) fp32 sum: at most one fp16 ulp away.
                    short w = Float.floatToFloat16(want.getFloat(i));
                    short g = Float.floatToFloat16(got.getFloat(i));
                    if (w != g) off++;
                    assertTrue(Math.abs(ordered(w) - ordered(g)) <= 1, t.name() + "[" + i + "]");
                }
                assertTrue(off <= want.numel() / 1000 + 1, t.name() + ": " + off + " elements off by one ulp");
            }
        }
        assertEquals("float16", HfFolder.readJson(out.resolve("config.json")).get("torch_dtype").asText());
    }

    /** The adapter that `convert pth-to-hf` writes from the tiny XTuner checkpoint (spec §6: 0.11 keys, PEFT names). */
    @Test
    void mergesTheAdapterThatPthToHfWrites() throws IOException {
        Path adapter = tmp.resolve("llm_adapter");
        Files.createDirectories(adapter);
        Files.copy(ckpt("tiny-llama-lora").resolve("adapter_config.json"), adapter.resolve("adapter_config.json"));
        Files.copy(expected("xtuner-zero2-bf16-adapter-f32.safetensors"), adapter.resolve("adapter_model.safetensors"));
        Path out = merge(ckpt("tiny-llama"), adapter, "from-xtuner", Optional.empty(), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore b = TensorStores.open(ckpt("tiny-llama"))) {
            assertEquals(21, o.tensors().size());
            assertFalse(sameBytes(b.tensor("model.layers.0.self_attn.q_proj.weight"), o.tensor("model.layers.0.self_attn.q_proj.weight")));
            assertTrue(sameBytes(b.tensor("model.embed_tokens.weight"), o.tensor("model.embed_tokens.weight")));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Refusals: every one is a single-line exit-3 error that names the file and the problem

    @Test
    void rankInConfigDisagreesWithTensors() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-r");
        editConfig(a, c -> c.put("r", 4));
        assertRefused(a, "rank mismatch", "adapter_config.json gives r=4", "have r=8");
    }

    @Test
    void rankOfAAndBDisagree() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-ab");
        rewriteWeights(a, Map.of("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", new long[] {64, 4}), Map.of());
        assertRefused(a, "rank mismatch in module 'model.layers.0.self_attn.q_proj'", "r=8", "r=4");
    }

    @Test
    void inFeaturesDisagreeWithTheBase() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-in");
        rewriteWeights(a, Map.of("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", new long[] {8, 64}), Map.of());
        assertRefused(a, "shape mismatch in module 'model.layers.1.mlp.down_proj'", "[64, 160]");
    }

    @Test
    void moduleMissingFromTheBase() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-module");
        Map<String, float[]> extra = new LinkedHashMap<>();
        extra.put("base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight", new float[8 * 64]);
        extra.put("base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight", new float[64 * 8]);
        rewriteWeights(a, Map.of(), extra, Map.of(
                "base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight", new long[] {8, 64},
                "base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight", new long[] {64, 8}));
        assertRefused(a, "no tensor 'model.layers.7.self_attn.q_proj.weight'");
    }

    @Test
    void targetModulesThatMatchNothing() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-targets");
        editConfig(a, c -> c.putArray("target_modules").add("query_key_value"));
        assertRefused(a, "adapter_config.json: target_modules [query_key_value] match no layer of the base model");
        editConfig(a, c -> c.put("target_modules", "nothing\\.matches"));
        assertRefused(a, "target_modules 'nothing\\.matches' match no layer");
        // Targets that exist, but not for every module the adapter has weights for: peft would drop those weights.
        editConfig(a, c -> c.putArray("target_modules").add("q_proj").add("k_proj"));
        assertRefused(a, "module 'model.layers.0.mlp.down_proj' has LoRA weights but target_modules/layers_to_transform", "do not select it");
        editConfig(a, c -> {
            c.put("target_modules", ".*_proj");
            c.putArray("layers_to_transform").add(1);
        });
        assertRefused(a, "module 'model.layers.0.mlp.down_proj'", "do not select it");
    }

    @Test
    void unknownExtraTensor() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-extra");
        rewriteWeights(a, Map.of(), Map.of("base_model.model.model.norm.weight", new float[64]), Map.of("base_model.model.model.norm.weight", new long[] {64}));
        assertRefused(a, "unknown tensor 'base_model.model.model.norm.weight'", "modules_to_save");
        Path b = copyAdapter("tiny-llama-lora", "bad-named");
        rewriteWeights(b, Map.of(), Map.of("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", new float[8 * 64]),
                Map.of("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", new long[] {8, 64}));
        assertRefused(b, "unrecognised LoRA tensor");
    }

    @Test
    void doraWithoutMagnitudesAndMagnitudesWithoutDora() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "bad-dora");
        editConfig(a, c -> c.put("use_dora", true));
        assertRefused(a, "use_dora is true but module", "no lora_magnitude_vector");
        Path b = copyAdapter("tiny-llama-lora-dora", "bad-nodora");
        editConfig(b, c -> c.put("use_dora", false));
        assertRefused(b, "lora_magnitude_vector", "use_dora false");
    }

    @Test
    void notALoraAdapter() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "ia3");
        editConfig(a, c -> c.put("peft_type", "IA3"));
        assertRefused(a, "peft_type is 'IA3'");
        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty);
        assertRefused(empty, "no adapter_config.json");
        Path noWeights = tmp.resolve("no-weights");
        Files.createDirectories(noWeights);
        Files.copy(ckpt("tiny-llama-lora").resolve("adapter_config.json"), noWeights.resolve("adapter_config.json"));
        assertRefused(noWeights, "no adapter_model.safetensors or adapter_model.bin");
    }

    @Test
    void nanProducedByTheMergeNamesTheTensor() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "nan");
        float[] b = new float[160 * 8];
        b[37] = Float.NaN;
        rewriteWeights(a, Map.of(), Map.of("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight", b));
        BadInputException e = assertRefused(a, "model.layers.1.mlp.up_proj.weight: ", "NaN", "[4, ");
        assertFalse(e.getMessage().contains("already"), e.getMessage());
    }

    @Test
    void overflowToFp16IsReported() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "huge");
        float[] b = new float[64 * 8];
        java.util.Arrays.fill(b, 3e5f);
        rewriteWeights(a, Map.of(), Map.of("base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight", b));
        BadInputException e = assertThrows(BadInputException.class,
                () -> merge(ckpt("tiny-llama"), a, "huge-out", Optional.of(DType.F16), 5_000_000_000L, 2));
        assertTrue(e.getMessage().startsWith("model.layers.0.self_attn.o_proj.weight: "), e.getMessage());
        assertTrue(e.getMessage().contains("overflows F16"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("huge-out")), "nothing is left under the output name");
        // Untouched tensors are checked too when --dtype narrows them: a base value above 65504.
        Path base = tmp.resolve("big-base");
        copyTree(ckpt("tiny-llama"), base);
        float[] norm = new float[64];
        java.util.Arrays.fill(norm, 1f);
        norm[3] = 70000f;
        rewriteFile(base.resolve("model-00002-of-00002.safetensors"), Map.of(), Map.of("model.norm.weight", norm), Map.of());
        BadInputException e2 = assertThrows(BadInputException.class,
                () -> merge(base, ckpt("tiny-llama-lora"), "big-out", Optional.of(DType.F16), 5_000_000_000L, 2));
        assertTrue(e2.getMessage().contains("'model.norm.weight': 1 value(s) overflow F16"), e2.getMessage());
    }

    @Test
    void warnsWhenTheAdapterWasTrainedOnAnotherModel() throws IOException {
        Path a = copyAdapter("tiny-llama-lora", "other-base");
        editConfig(a, c -> c.put("base_model_name_or_path", "meta-llama/Meta-Llama-3-8B-Instruct"));
        merge(ckpt("tiny-llama"), a, "w1", Optional.empty(), 5_000_000_000L, 1);
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("'meta-llama/Meta-Llama-3-8B-Instruct'"), warnings.getFirst());
        warnings.clear();
        editConfig(a, c -> c.put("base_model_name_or_path", ckpt("tiny-conv1d-base").toString()));
        merge(ckpt("tiny-llama"), a, "w2", Optional.empty(), 5_000_000_000L, 1);
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("model_type \"gpt2\" vs \"llama\""), warnings.getFirst());
    }

    @Test
    void loraBiasIsAddedToTheBaseBias() throws IOException {
        Path a = copyAdapter("tiny-conv1d-lora", "lora-bias");
        editConfig(a, c -> c.put("lora_bias", true));
        float[] lb = new float[96];
        for (int i = 0; i < 96; i++) lb[i] = 0.01f * i - 0.3f;
        rewriteWeights(a, Map.of(), Map.of("base_model.model.transformer.h.1.attn.c_attn.lora_B.bias", lb),
                Map.of("base_model.model.transformer.h.1.attn.c_attn.lora_B.bias", new long[] {96}));
        Path out = merge(ckpt("tiny-conv1d-base"), a, "bias", Optional.empty(), 5_000_000_000L, 2);
        try (TensorStore o = TensorStores.open(out); TensorStore b = TensorStores.open(ckpt("tiny-conv1d-base"))) {
            Tensor before = b.tensor("transformer.h.1.attn.c_attn.bias"), after = o.tensor("transformer.h.1.attn.c_attn.bias");
            for (int i = 0; i < 96; i++) assertEquals(before.getFloat(i) + lb[i] * 3f, after.getFloat(i), 0f, "bias[" + i + "]");
            assertTrue(sameBytes(b.tensor("transformer.h.0.attn.c_attn.bias"), o.tensor("transformer.h.0.attn.c_attn.bias")));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Helpers

    private BadInputException assertRefused(Path adapterDir, String... fragments) {
        BadInputException e = assertThrows(BadInputException.class,
                () -> merge(ckpt("tiny-llama"), adapterDir, "refused-" + adapterDir.getFileName(), Optional.empty(), 5_000_000_000L, 2));
        String msg = e.getMessage();
        assertFalse(msg.contains("\n"), "one line: " + msg);
        assertEquals(3, e.exitCode());
        for (String f : fragments) assertTrue(msg.contains(f), () -> "'" + f + "' missing in: " + msg);
        assertFalse(Files.exists(tmp.resolve("refused-" + adapterDir.getFileName())));
        return e;
    }

    /**
     * Compares every tensor of {@code expectedFile} with the merged folder: BF16, at most one ulp apart and at least
     * 99.9 % bit-identical. Returns the names compared.
     */
    private static Set<String> assertBf16Close(Path out, Path expectedFile) {
        Set<String> names = new java.util.HashSet<>();
        try (TensorStore o = TensorStores.open(out); TensorStore e = TensorStores.open(expectedFile)) {
            for (TensorInfo t : e.tensors()) {
                Tensor want = e.tensor(t.name());
                Tensor got = o.tensor(t.name());
                assertEquals(DType.BF16, got.dtype(), t.name());
                assertArrayEquals(t.shape(), got.info().shape());
                long differ = 0;
                for (long i = 0; i < want.numel(); i++) {
                    short w = want.data().get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i);
                    short g = got.data().get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i);
                    if (w == g) continue;
                    differ++;
                    long fi = i;
                    assertTrue(Math.abs(ordered(w) - ordered(g)) <= 1, () -> t.name() + "[" + fi + "]: " + BFloat16.toFloat(g) + " vs " + BFloat16.toFloat(w));
                }
                assertTrue(differ * 1000 <= want.numel(), t.name() + ": " + differ + " of " + want.numel() + " differ");
                names.add(t.name());
            }
        }
        return names;
    }

    /** Position on the number line, so adjacent values (also across ±0) are one apart. */
    private static int ordered(short bits) {
        int b = bits & 0xFFFF;
        return (b & 0x8000) != 0 ? -(b & 0x7FFF) : b;
    }

    private static void assertAbsClose(Tensor want, Tensor got, double tol) {
        assertArrayEquals(want.info().shape(), got.info().shape());
        for (long i = 0; i < want.numel(); i++) {
            assertEquals(want.getFloat(i), got.getFloat(i), tol, want.name() + "[" + i + "]");
        }
    }

    private static void assertUntouchedByteIdentical(Path base, Path out, Set<String> changed) {
        try (TensorStore b = TensorStores.open(base); TensorStore o = TensorStores.open(out)) {
            assertEquals(b.tensors().size(), o.tensors().size());
            for (TensorInfo t : b.tensors()) {
                Tensor bt = b.tensor(t.name()), ot = o.tensor(t.name());
                assertEquals(t.dtype(), ot.dtype(), t.name());
                if (!changed.contains(t.name())) assertTrue(sameBytes(bt, ot), t.name() + " is copied byte for byte");
            }
        }
    }

    private static void assertSameBytes(Tensor a, Tensor b) {
        assertTrue(sameBytes(a, b), a.name() + " vs " + b.name());
    }

    private static boolean sameBytes(Tensor a, Tensor b) {
        return a.info().byteSize() == b.info().byteSize() && MemorySegment.mismatch(a.data(), 0, a.data().byteSize(), b.data(), 0, b.data().byteSize()) == -1;
    }

    private Path copyAdapter(String fixture, String name) throws IOException {
        Path dir = tmp.resolve(name);
        copyTree(ckpt(fixture), dir);
        return dir;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) Files.copy(p, to.resolve(p.getFileName().toString()));
        }
    }

    private static void editConfig(Path adapterDir, Consumer<ObjectNode> edit) throws IOException {
        Path f = adapterDir.resolve("adapter_config.json");
        ObjectNode c = (ObjectNode) JSON.readTree(f.toFile());
        edit.accept(c);
        Files.writeString(f, PythonJson.dumps(c, 2, true));
    }

    /** Rewrites adapter_model.safetensors: reshaped (zero-filled) tensors, new values, new tensors. */
    private static void rewriteWeights(Path adapterDir, Map<String, long[]> reshape, Map<String, float[]> values) throws IOException {
        rewriteWeights(adapterDir, reshape, values, Map.of());
    }

    private static void rewriteWeights(Path adapterDir, Map<String, long[]> reshape, Map<String, float[]> values, Map<String, long[]> newShapes) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>(reshape);
        shapes.putAll(newShapes);
        rewriteFile(adapterDir.resolve("adapter_model.safetensors"), shapes, values, Map.of());
    }

    /**
     * Writes a safetensors file anew with SafetensorsWriter: existing tensors keep their bytes unless reshaped
     * (zeros) or given values; names in {@code values} that the file lacks are added as F32 with {@code shapes}
     * (or as vectors).
     */
    private static void rewriteFile(Path file, Map<String, long[]> shapes, Map<String, float[]> values, Map<String, DType> dtypes) throws IOException {
        Path tmpFile = file.resolveSibling(file.getFileName() + ".new");
        try (TensorStore src = TensorStores.open(file)) {
            List<TensorInfo> infos = new ArrayList<>();
            for (TensorInfo t : src.tensors()) infos.add(shapes.containsKey(t.name()) ? t.withShape(shapes.get(t.name())) : t);
            for (String n : values.keySet()) {
                if (src.contains(n)) continue;
                long[] shape = shapes.getOrDefault(n, new long[] {values.get(n).length});
                infos.add(new TensorInfo(n, dtypes.getOrDefault(n, DType.F32), shape));
            }
            for (String n : shapes.keySet()) {
                if (!src.contains(n) && !values.containsKey(n)) infos.add(new TensorInfo(n, DType.F32, shapes.get(n)));
            }
            SafetensorsWriter.writeFile(tmpFile, SafetensorsWriter.PT_METADATA, infos, (info, sink) -> {
                if (values.containsKey(info.name())) {
                    sink.writeFloats(values.get(info.name()), 0, (int) info.numel());
                } else if (src.contains(info.name()) && !shapes.containsKey(info.name())) {
                    sink.transferFrom(src.region(info.name()).orElseThrow());
                } else {
                    sink.writeFloats(new float[(int) info.numel()], 0, (int) info.numel());
                }
            }, Progress.NONE);
        }
        Files.move(tmpFile, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
