package org.llavapack.convert.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;

class LoraAndMmprojExportTest {
    @TempDir
    Path tmp;

    static final Path TINY = TestPaths.checkpoint("tiny-llama");

    private Path lora(String adapter, OutType t) {
        Path out = tmp.resolve(adapter + "-" + t.cliName() + ".gguf");
        LoraGgufExport.run(TestPaths.checkpoint(adapter), TINY, out, new LoraGgufExport.Options(t, true, 2, null), Progress.NONE);
        return out;
    }

    private static float alpha(GgufFile g) {
        return (float) ((GgufValue.Float) g.kv().get("adapter.lora.alpha")).value();
    }

    @Test
    void loraAdapterLayoutAndPermutedB() {
        Path out = lora("tiny-llama-lora", OutType.F32);
        try (GgufFile g = GgufFile.open(out); SafetensorsFile src = SafetensorsFile.open(TestPaths.checkpoint("tiny-llama-lora/adapter_model.safetensors"))) {
            assertEquals(GgufValue.str("adapter"), g.kv().get("general.type"));
            assertEquals(GgufValue.str("lora"), g.kv().get("adapter.type"));
            assertEquals(GgufValue.str("llama"), g.kv().get("general.architecture"));
            assertEquals(GgufValue.f32(16f), g.kv().get("adapter.lora.alpha"));
            assertFalse(g.kv().containsKey("general.file_type"));
            assertFalse(g.kv().containsKey("llama.block_count"));
            assertEquals(28, g.tensorInfos().size());
            // ne: lora_a [in, r], lora_b [r, out]
            assertArrayEquals(new long[] {64, 8}, g.tensorInfo("blk.0.attn_q.weight.lora_a").ne());
            assertArrayEquals(new long[] {8, 64}, g.tensorInfo("blk.0.attn_q.weight.lora_b").ne());
            assertArrayEquals(new long[] {8, 32}, g.tensorInfo("blk.1.attn_k.weight.lora_b").ne());
            assertArrayEquals(new long[] {160, 8}, g.tensorInfo("blk.1.ffn_down.weight.lora_a").ne());
            String p = "base_model.model.model.layers.0.self_attn.";
            assertArrayEquals(src.tensor(p + "q_proj.lora_A.weight").toFloatArray(), g.dequantize("blk.0.attn_q.weight.lora_a"), "A unchanged");
            assertArrayEquals(LlamaGgufExportTest.permuteLikeNumpy(src.tensor(p + "q_proj.lora_B.weight").toFloatArray(), 64, 8, 4),
                    g.dequantize("blk.0.attn_q.weight.lora_b"), "B permuted with n_head");
            assertArrayEquals(LlamaGgufExportTest.permuteLikeNumpy(src.tensor(p + "k_proj.lora_B.weight").toFloatArray(), 32, 8, 2),
                    g.dequantize("blk.0.attn_k.weight.lora_b"), "B permuted with n_head_kv");
            assertArrayEquals(src.tensor(p + "v_proj.lora_B.weight").toFloatArray(), g.dequantize("blk.0.attn_v.weight.lora_b"));
            for (var t : g.tensorInfos()) assertEquals(GgmlType.F32, t.type());
        }
        try (GgufFile g = GgufFile.open(lora("tiny-llama-lora", OutType.Q8_0))) {
            assertEquals(GgmlType.Q8_0, g.tensorInfo("blk.0.attn_q.weight.lora_a").type());
            assertEquals(GgmlType.F16, g.tensorInfo("blk.0.attn_q.weight.lora_b").type(), "r = 8 < 32: F16 fallback");
        }
    }

    @Test
    void rsloraAndPatternsKeepPeftsScales() {
        try (GgufFile g = GgufFile.open(lora("tiny-llama-lora-rslora", OutType.F32))) {
            assertEquals((float) (16 * Math.sqrt(8)), alpha(g), 1e-5f, "alpha' = alpha·sqrt(r) gives s = alpha/sqrt(r)");
        }
        Path pat = lora("tiny-llama-lora-patterns", OutType.F32);
        try (GgufFile g = GgufFile.open(pat); SafetensorsFile src = SafetensorsFile.open(TestPaths.checkpoint("tiny-llama-lora-patterns/adapter_model.safetensors"))) {
            assertEquals(16f, alpha(g));
            // k_proj: r 2, alpha 16 -> s = 8 = 16/2: exact without scaling
            assertArrayEquals(new long[] {2, 32}, g.tensorInfo("blk.0.attn_k.weight.lora_b").ne());
            // v_proj: r 8, alpha 32 -> s = 4; llama.cpp computes 16/8 = 2, so B carries a factor 2
            float[] vb = src.tensor("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight").toFloatArray();
            float[] gv = g.dequantize("blk.0.attn_v.weight.lora_b");
            for (int i = 0; i < vb.length; i++) assertEquals(vb[i] * 2f, gv[i]);
            // layers.1.mlp.down_proj: r 4, alpha 4 -> s = 1; llama.cpp 16/4 = 4, so factor 1/4
            float[] db = src.tensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").toFloatArray();
            float[] gd = g.dequantize("blk.1.ffn_down.weight.lora_b");
            for (int i = 0; i < db.length; i++) assertEquals(db[i] * 0.25f, gd[i]);
            float[] d0 = src.tensor("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").toFloatArray();
            assertArrayEquals(d0, g.dequantize("blk.0.ffn_down.weight.lora_b"), "layer 0 keeps r 8 alpha 16");
        }
    }

    @Test
    void loraRefusals() {
        var dora = assertThrows(BadInputException.class, () -> lora("tiny-llama-lora-dora", OutType.F32));
        assertTrue(dora.getMessage().contains("DoRA"), dora.getMessage());
        var mts = assertThrows(BadInputException.class, () -> lora("tiny-llama-lora-modules-to-save", OutType.F32));
        assertTrue(mts.getMessage().contains("not a lora_A or lora_B"), mts.getMessage());
        var conv = assertThrows(BadInputException.class, () -> LoraGgufExport.run(TestPaths.checkpoint("tiny-conv1d-lora"), TINY,
                tmp.resolve("c.gguf"), new LoraGgufExport.Options(OutType.F32, true, 1, null), Progress.NONE));
        assertTrue(conv.getMessage().contains("fan_in_fan_out"), conv.getMessage());
        try (GgufFile g = GgufFile.open(lora("tiny-llama-lora-bf16", OutType.F16))) {
            assertEquals(28, g.tensorInfos().size());
        }
    }

    /** A two-layer MLP projector folder as XTuner's ProjectorModel saves it (vision 32 -> 64 -> text 64). */
    static Path projector(Path dir, boolean withSecond) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"ProjectorModel\"], \"model_type\": \"projector\", \"depth\": 2, \"visual_hidden_size\": 32, \"llm_hidden_size\": 64, \"bias\": true}");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Random r = new Random(9);
        float[] w0 = new float[64 * 32], b0 = new float[64], w2 = new float[64 * 64], b2 = new float[64];
        for (float[] a : List.of(w0, b0, w2, b2)) for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian() * 0.1f;
        List<Fixtures.T> ts = new java.util.ArrayList<>(List.of(new Fixtures.T("model.0.weight", new long[] {64, 32}, w0), new Fixtures.T("model.0.bias", new long[] {64}, b0)));
        if (withSecond) ts.addAll(List.of(new Fixtures.T("model.2.weight", new long[] {64, 64}, w2), new Fixtures.T("model.2.bias", new long[] {64}, b2)));
        Fixtures.safetensors(dir.resolve("model.safetensors"), DType.F32, ts);
        return dir;
    }

    private Path mmproj(Path proj, OutType t, int featureLayer) {
        Path out = tmp.resolve("mmproj-" + t.cliName() + featureLayer + ".gguf");
        MmprojExport.run(TestPaths.checkpoint("tiny-plip"), proj, out, new MmprojExport.Options(t, featureLayer, true, 2, null), Progress.NONE);
        return out;
    }

    @Test
    void mmprojForClipPlusMlpProjector() {
        Path proj = projector(tmp.resolve("proj"), true);
        try (GgufFile g = GgufFile.open(mmproj(proj, OutType.F16, -2)); SafetensorsFile v = SafetensorsFile.open(TestPaths.checkpoint("tiny-plip/model.safetensors"))) {
            var kv = g.kv();
            assertEquals(GgufValue.str("clip"), kv.get("general.architecture"));
            assertEquals(GgufValue.str("mlp"), kv.get("clip.projector_type"));
            assertEquals(GgufValue.bool(true), kv.get("clip.has_vision_encoder"));
            assertEquals(GgufValue.u32(32), kv.get("clip.vision.image_size"));
            assertEquals(GgufValue.u32(8), kv.get("clip.vision.patch_size"));
            assertEquals(GgufValue.u32(32), kv.get("clip.vision.embedding_length"));
            assertEquals(GgufValue.u32(64), kv.get("clip.vision.feed_forward_length"));
            assertEquals(GgufValue.u32(4), kv.get("clip.vision.attention.head_count"));
            assertEquals(GgufValue.u32(2), kv.get("clip.vision.block_count"), "3 layers, feature layer -2: the first 2");
            assertEquals(GgufValue.i32s(2), kv.get("clip.vision.feature_layer"));
            assertEquals(GgufValue.u32(64), kv.get("clip.vision.projection_dim"));
            assertEquals(GgufValue.f32(1e-5f), kv.get("clip.vision.attention.layer_norm_epsilon"));
            assertEquals(GgufValue.f32s(0.48145466f, 0.4578275f, 0.40821073f), kv.get("clip.vision.image_mean"));
            assertEquals(GgufValue.f32s(0.26862954f, 0.26130258f, 0.27577711f), kv.get("clip.vision.image_std"));
            assertEquals(GgufValue.bool(false), kv.get("clip.use_gelu"), "quick_gelu");
            assertTrue(g.tensorInfos().stream().noneMatch(t -> t.name().startsWith("v.blk.2.") || t.name().startsWith("v.post_ln")));
            assertArrayEquals(new long[] {8, 8, 3, 32}, g.tensorInfo("v.patch_embd.weight").ne());
            assertEquals(GgmlType.F16, g.tensorInfo("v.patch_embd.weight").type());
            assertEquals(GgmlType.F32, g.tensorInfo("v.position_embd.weight").type());
            assertEquals(GgmlType.F32, g.tensorInfo("v.class_embd").type());
            assertEquals(GgmlType.F16, g.tensorInfo("v.blk.1.ffn_up.weight").type());
            assertArrayEquals(new long[] {32, 64}, g.tensorInfo("mm.0.weight").ne());
            assertArrayEquals(new long[] {64, 64}, g.tensorInfo("mm.2.weight").ne());
            assertArrayEquals(new long[] {32, 64}, g.tensorInfo("v.blk.0.ffn_up.weight").ne(), "fc1 (32 -> 64) is ffn_up");
            assertArrayEquals(v.tensor("vision_model.embeddings.position_embedding.weight").toFloatArray(), g.dequantize("v.position_embd.weight"));
            assertArrayEquals(v.tensor("vision_model.encoder.layers.1.self_attn.q_proj.bias").toFloatArray(), g.dequantize("v.blk.1.attn_q.bias"));
            assertEquals(2 * 16 + 5 + 4, g.tensorInfos().size());
        }
    }

    @Test
    void qformerAndSingleLinearProjectorsAreRefused() throws Exception {
        Path qf = tmp.resolve("qformer");
        Files.createDirectories(qf);
        Files.copy(TestPaths.checkpoint("expected/xtuner-zero2-bf16-projector-f32.safetensors"), qf.resolve("model.safetensors"));
        var e = assertThrows(BadInputException.class, () -> mmproj(qf, OutType.F16, -2));
        assertTrue(e.getMessage().contains("Q-Former") && e.getMessage().contains("ONNX") && e.getMessage().contains("bert.encoder"), e.getMessage());
        Path byConfig = tmp.resolve("qcfg");
        Files.createDirectories(byConfig);
        Files.writeString(byConfig.resolve("config.json"), "{\"model_type\": \"q_former_projector\"}");
        assertTrue(assertThrows(BadInputException.class, () -> mmproj(byConfig, OutType.F16, -2)).getMessage().contains("q_former_projector"));
        Path single = projector(tmp.resolve("single"), false);
        assertTrue(assertThrows(BadInputException.class, () -> mmproj(single, OutType.F16, -2)).getMessage().contains("single-Linear"));
    }
}
