package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.formats.deepspeed.Consolidation;
import org.llavapack.formats.deepspeed.FlatPartition;
import org.llavapack.formats.deepspeed.FragmentAddress;
import org.llavapack.formats.deepspeed.SelfCheck;
import org.llavapack.formats.deepspeed.ZeroConsolidator;
import org.llavapack.formats.deepspeed.ZeroModelStates;
import org.llavapack.formats.deepspeed.ZeroRankState;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;

/**
 * The whole pth-to-hf pipeline except the pickle reader, on the committed fixtures: the generator's fp32 masters are
 * re-partitioned exactly as DeepSpeed lays out each variant (W, groups, registration order from
 * test-checkpoints/README.md), consolidated, self-checked against the generator's PyTorch-rounded 16-bit copies, and
 * exported; the adapter and projector files must equal the generator's expected files byte for byte.
 */
class PthToHfEndToEndTest {
    static final List<String> BUFFERS = List.of("visual_encoder.vision_model.embeddings.position_ids",
            "projector.model.bert.embeddings.position_ids");
    static final Path CONFIG = TestPaths.checkpoint("xtuner-workdir/pallava_tiny_config.py");

    static final List<SafetensorsFile> OPEN = new ArrayList<>();

    @AfterAll
    static void close() {
        OPEN.forEach(SafetensorsFile::close);
    }

    static SafetensorsFile open(String name) {
        SafetensorsFile f = SafetensorsFile.open(Fixtures.expected(name));
        OPEN.add(f);
        return f;
    }

    /** Checkpoint names in named_parameters() order (LLM LoRA q,k,v,o,gate,up,down × A,B; then the Q-Former). */
    static List<String> registrationOrder(boolean xattn) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            for (String m : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")) {
                for (String ab : List.of("A", "B")) out.add("llm.base_model.model.model.layers." + i + "." + m + ".lora_" + ab + ".default.weight");
            }
        }
        for (int j = 0; j < 2; j++) {
            String p = "projector.model.bert.encoder.layer." + j + ".";
            List<String> blocks = xattn ? List.of("attention", "crossattention") : List.of("attention");
            for (String b : blocks) {
                for (String sub : List.of("self.query", "self.key", "self.value", "output.dense", "output.LayerNorm")) {
                    out.add(p + b + "." + sub + ".weight");
                    out.add(p + b + "." + sub + ".bias");
                }
            }
            for (String sub : List.of("intermediate_query.dense", "output_query.dense", "output_query.LayerNorm")) {
                out.add(p + sub + ".weight");
                out.add(p + sub + ".bias");
            }
        }
        out.addAll(List.of("projector.model.mlp.model.0.weight", "projector.model.mlp.model.0.bias",
                "projector.model.norm.weight", "projector.model.norm.bias"));
        return out;
    }

    record Variant(String tag, int w, int stage, DType dt16, boolean xattn, List<Predicate<String>> groups, boolean perParam) {}

    static final Variant ZERO2_BF16 = new Variant("zero2-bf16", 11, 2, DType.BF16, false,
            List.of(n -> n.contains(".layers.0."), n -> n.contains(".layers.1."), n -> n.startsWith("projector.")), false);
    static final Variant ZERO2_FP16 = new Variant("zero2-fp16", 11, 2, DType.F16, false, List.of(), true);
    static final Variant XATTN = new Variant("zero2-bf16-xattn", 4, 2, DType.BF16, true,
            List.of(n -> n.startsWith("llm."), n -> n.startsWith("projector.")), false);
    static final Variant ZERO3 = new Variant("zero3-bf16", 3, 3, DType.BF16, false,
            List.of(n -> n.startsWith("llm."), n -> n.startsWith("projector.")), false);
    static final Variant WORKDIR = new Variant("workdir-iter_8", 2, 2, DType.BF16, false, List.of(n -> true), false);

    record Built(ZeroModelStates model, List<ZeroRankState> ranks, List<List<String>> groups, Map<String, float[]> masters) {}

    static Built build(Variant v) {
        SafetensorsFile master = open("xtuner-" + v.tag() + "-master-f32.safetensors");
        List<String> order = registrationOrder(v.xattn());
        assertEquals(new TreeSet<>(order), new TreeSet<>(master.tensors().stream().map(t -> t.name()).toList()));
        List<List<String>> groups = new ArrayList<>();
        if (v.perParam()) {
            for (String n : order) groups.add(List.of(n));
        } else {
            for (Predicate<String> g : v.groups()) groups.add(order.stream().filter(g).toList());
        }
        Map<String, float[]> masters = new LinkedHashMap<>();
        for (String n : order) masters.put(n, master.tensor(n).toFloatArray());
        List<LinkedHashMap<String, long[]>> shapes = new ArrayList<>();
        for (List<String> g : groups) {
            LinkedHashMap<String, long[]> m = new LinkedHashMap<>();
            for (String n : g) m.put(n, master.info(n).orElseThrow().shape());
            shapes.add(m);
        }
        Map<String, Tensor> module = new LinkedHashMap<>();
        if (v.stage() == 3) {
            SafetensorsFile proj = open("xtuner-" + v.tag() + "-projector-f32.safetensors");
            Tensor pos = proj.tensor("model.bert.embeddings.position_ids");
            module.put(BUFFERS.get(1), new Tensor(pos.info().withName(BUFFERS.get(1)), pos.data()));
        } else {
            SafetensorsFile mod = open("xtuner-" + v.tag() + "-module-16.safetensors");
            module.put(BUFFERS.get(1), mod.tensor(BUFFERS.get(1)));
            for (String n : order) module.put(n, mod.tensor(n));
        }
        Path dir = Path.of(v.tag(), "iter_8.pth");
        ZeroModelStates model = new ZeroModelStates(dir.resolve("mp_rank_00_model_states.pt"), v.stage(), shapes, BUFFERS, module,
                Map.of(), Optional.empty(), "0.14.2", Optional.of(v.dt16()));
        List<ZeroRankState> ranks = v.stage() == 3 ? zero3(v, groups, masters, dir) : zero2(v, groups, masters, dir);
        return new Built(model, ranks, groups, masters);
    }

    /** DeepSpeed 0.14 stage_1_and_2.py, as test-checkpoints/README.md describes it ("ZeRO-2 padding"). */
    static List<ZeroRankState> zero2(Variant v, List<List<String>> groups, Map<String, float[]> masters, Path dir) {
        int w = v.w();
        List<ZeroRankState> ranks = new ArrayList<>();
        List<float[]> flats = new ArrayList<>();
        List<int[]> layouts = new ArrayList<>(); // numel, ps, padding
        for (List<String> g : groups) {
            int numel = g.stream().mapToInt(n -> masters.get(n).length).sum();
            int padded = Math.ceilDiv(numel, 2 * w) * 2 * w;
            float[] flat = new float[padded];
            int off = 0;
            for (String n : g) {
                System.arraycopy(masters.get(n), 0, flat, off, masters.get(n).length);
                off += masters.get(n).length;
            }
            flats.add(flat);
            layouts.add(new int[] {numel, padded / w, padded - numel});
        }
        for (int r = 0; r < w; r++) {
            List<FlatPartition> parts = new ArrayList<>();
            List<Long> paddings = new ArrayList<>();
            List<Map<String, FragmentAddress>> mappings = new ArrayList<>();
            for (int gi = 0; gi < groups.size(); gi++) {
                int ps = layouts.get(gi)[1];
                int padding = r == w - 1 ? layouts.get(gi)[2] : 0;
                int stop = ps - padding;
                int keep = stop >= 0 ? stop : Math.max(0, ps + stop); // Python slicing
                float[] saved = new float[keep];
                System.arraycopy(flats.get(gi), r * ps, saved, 0, keep);
                parts.add(FlatPartition.of(saved));
                paddings.add((long) padding);
                Map<String, FragmentAddress> m = new LinkedHashMap<>();
                int o = 0;
                for (String n : groups.get(gi)) {
                    int k = masters.get(n).length;
                    int start = r * ps;
                    if (o < start + ps && o + k > start) {
                        m.put(n, new FragmentAddress(Math.min(o + k, start + ps) - Math.max(o, start), Math.max(o, start) - start));
                    }
                    o += k;
                }
                mappings.add(m);
            }
            List<Integer> counts = Collections.nCopies(groups.size(), w);
            ranks.add(ZeroRankState.zero12(dir.resolve("bf16_zero_pp_rank_" + r + "_mp_rank_00_optim_states.pt"), r, 2, counts,
                    parts, paddings, mappings));
        }
        return ranks;
    }

    static List<ZeroRankState> zero3(Variant v, List<List<String>> groups, Map<String, float[]> masters, Path dir) {
        int w = v.w();
        Random garbage = new Random(99);
        List<ZeroRankState> ranks = new ArrayList<>();
        for (int r = 0; r < w; r++) {
            List<FlatPartition> flats = new ArrayList<>();
            for (List<String> g : groups) {
                int total = g.stream().mapToInt(n -> Math.ceilDiv(masters.get(n).length, w)).sum();
                float[] flat = new float[total];
                int o = 0;
                for (String n : g) {
                    float[] m = masters.get(n);
                    int p = Math.ceilDiv(m.length, w);
                    for (int i = 0; i < p; i++) flat[o + i] = r * p + i < m.length ? m[r * p + i] : 1000f * (float) garbage.nextGaussian();
                    o += p;
                }
                flats.add(FlatPartition.of(flat));
            }
            ranks.add(ZeroRankState.zero3(dir.resolve("bf16_zero_pp_rank_" + r + "_mp_rank_00_optim_states.pt"), r, w, flats));
        }
        return ranks;
    }

    static XtunerExport.Options options(DType dtype) {
        return new XtunerExport.Options(dtype, 5_000_000_000L, Optional.empty(), false);
    }

    @Test
    void everyVariantReproducesTheExpectedFilesByteForByte(@TempDir Path tmp) throws Exception {
        XtunerConfig cfg = XtunerConfig.read(CONFIG);
        for (Variant v : List.of(ZERO2_BF16, ZERO2_FP16, XATTN, ZERO3, WORKDIR)) {
            Built b = build(v);
            List<ZeroRankState> shuffled = new ArrayList<>(b.ranks());
            Collections.shuffle(shuffled, new Random(v.tag().hashCode()));
            Consolidation c = ZeroConsolidator.fromMasters(b.model(), shuffled);
            SelfCheck.Result check = SelfCheck.run(c, b.model()).enforce();
            if (v.stage() == 3) {
                assertTrue(check.skipped().isPresent());
            } else {
                assertTrue(check.passed(), v.tag() + ": " + check.summary());
                assertEquals(64 + (v.xattn() ? 20 : 0), check.tensorsChecked());
            }
            if (v == ZERO2_FP16) assertFalse(c.report().warnings().isEmpty(), "20 groups use DeepSpeed's alignment tolerance");

            Path out = tmp.resolve(v.tag() + "-f32");
            XtunerExport.Result r = XtunerExport.write(c.tensors(), Optional.of(cfg), v.tag(), out, options(DType.F32),
                    folder -> { }, Progress.NONE);
            assertArrayEquals(Files.readAllBytes(Fixtures.expected("xtuner-" + v.tag() + "-adapter-f32.safetensors")),
                    Files.readAllBytes(out.resolve("llm_adapter/adapter_model.safetensors")), v.tag() + " adapter");
            assertArrayEquals(Files.readAllBytes(Fixtures.expected("xtuner-" + v.tag() + "-projector-f32.safetensors")),
                    Files.readAllBytes(out.resolve("projector/model.safetensors")), v.tag() + " projector");
            ConnectorLayout.QFormer q = (ConnectorLayout.QFormer) r.connector().orElseThrow();
            assertEquals(v.xattn(), q.crossAttention());
            String adapterConfig = Files.readString(out.resolve("llm_adapter/adapter_config.json"));
            assertEquals(AdapterConfigTest.peftExpected("tiny-llama-lora", "test-checkpoints/tiny-llama"), adapterConfig);
            String projectorConfig = Files.readString(out.resolve("projector/config.json"));
            assertTrue(projectorConfig.contains("\"torch_dtype\": \"float32\""), projectorConfig);
            assertEquals(v.xattn() ? 1 : 0, r.warnings().size(), r.warnings().toString()); // xattn vs config's False
        }
    }

    @Test
    void roundingMastersOnceGivesTheModuleCopies(@TempDir Path tmp) throws Exception {
        for (Variant v : List.of(ZERO2_BF16, ZERO2_FP16)) {
            Built b = build(v);
            Consolidation masters = ZeroConsolidator.fromMasters(b.model(), b.ranks());
            Path fromMaster = tmp.resolve(v.tag() + "-master");
            XtunerExport.write(masters.tensors(), Optional.empty(), v.tag(), fromMaster,
                    new XtunerExport.Options(v.dt16(), 5_000_000_000L, Optional.<Number>of(16L), false), f -> { }, Progress.NONE);
            Consolidation module = ZeroConsolidator.fromModule(b.model());
            Path fromModule = tmp.resolve(v.tag() + "-module");
            XtunerExport.write(module.tensors(), Optional.empty(), v.tag(), fromModule,
                    new XtunerExport.Options(v.dt16(), 5_000_000_000L, Optional.<Number>of(16L), false),
                    f -> Files.writeString(f.resolve("conversion.json"), "{}"), Progress.NONE);
            for (String file : List.of("llm_adapter/adapter_model.safetensors", "projector/model.safetensors",
                    "llm_adapter/adapter_config.json", "projector/config.json")) {
                assertArrayEquals(Files.readAllBytes(fromMaster.resolve(file)), Files.readAllBytes(fromModule.resolve(file)),
                        v.tag() + " " + file);
            }
            assertTrue(Files.exists(fromModule.resolve("conversion.json")));
            try (SafetensorsFile adapter = SafetensorsFile.open(fromMaster.resolve("llm_adapter/adapter_model.safetensors"));
                 SafetensorsFile mod = SafetensorsFile.open(Fixtures.expected("xtuner-" + v.tag() + "-module-16.safetensors"))) {
                for (String n : registrationOrder(false)) {
                    if (!n.startsWith("llm.")) continue;
                    String peft = n.substring(4).replace(".default.", ".");
                    Tensor got = adapter.tensor(peft);
                    assertEquals(v.dt16(), got.dtype());
                    assertEquals(mod.tensor(n).data().asByteBuffer(), got.data().asByteBuffer(), peft);
                }
            }
        }
    }

    @Test
    void lexicographicRankOrderCorruptsWhatTheGeneratorSays() {
        // test-checkpoints/README.md: a lexicographic sort corrupts 60 tensors (bf16) or 44 tensors (fp16)
        for (Variant v : List.of(ZERO2_BF16, ZERO2_FP16)) {
            Built b = build(v);
            List<ZeroRankState> byName = new ArrayList<>(b.ranks());
            byName.sort(Comparator.comparing(r -> r.file().getFileName().toString()));
            List<ZeroRankState> wrong = new ArrayList<>();
            for (int i = 0; i < byName.size(); i++) {
                ZeroRankState r = byName.get(i);
                wrong.add(new ZeroRankState(r.file(), i, r.stage(), r.partitionCount(), r.groups(), r.groupPaddings(), List.of()));
            }
            SelfCheck.Result check = SelfCheck.run(ZeroConsolidator.fromMasters(b.model(), wrong), b.model());
            assertEquals(v == ZERO2_BF16 ? 60 : 44, check.tensorsMismatched(), v.tag() + ": " + check.summary());
        }
    }
}
