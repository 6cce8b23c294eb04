package org.llavapack.convert.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.Weights;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.ImageProcessorConfig;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LlamaNames;
import org.llavapack.parity.ConnectorForward;
import org.llavapack.parity.LlamaForward;
import org.llavapack.parity.OnnxDecoder;
import org.llavapack.parity.OnnxModels;
import org.llavapack.parity.OnnxModels.Input;
import org.llavapack.parity.TorchEngine;
import org.llavapack.parity.VisionForward;

/**
 * Every exported file of the tiny models, run by onnxruntime 1.22.0, against the DJL/PyTorch reference forwards
 * (which ForwardReferenceTest checks against real PyTorch outputs): fp32 within 1e-4 per element, fp16 within 1e-2
 * relative L2, int4 within fp32 tolerance of a reference that uses the dequantized int4 weights; the KV-cache decode
 * loop against the reference's full-sequence greedy tokens.
 */
class OnnxExportTest {
    static final double TOL = 1e-4;
    static TorchEngine engine;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        engine = TorchEngine.open("cpu");
        TorchEngine.threads(1);
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    static Path tiny(String name) {
        return TestPaths.checkpoint(name);
    }

    static OnnxExport.Result export(Path model, String out, Precision p, Component... cs) {
        return OnnxExport.run(model, tmp.resolve(out), EnumSet.copyOf(List.of(cs)), p, false);
    }

    static VisionTower plip() {
        Path dir = tiny("tiny-plip");
        ClipVisionConfig cfg = ClipVisionConfig.read(dir.resolve("config.json"));
        return new VisionTower(cfg, Weights.of(TensorStores.open(dir), ""), ImageProcessorConfig.readOrDefault(dir, cfg.imageSize()),
                VisionTower.PALLAVA_SELECT_LAYER, "tiny-plip");
    }

    static Llama llama(Weights w) {
        Path dir = tiny("tiny-llama");
        return new Llama(LlamaConfig.read(dir.resolve("config.json")), w, Optional.empty(), Optional.of(dir), "tiny-llama");
    }

    static Weights llamaWeights() {
        return Weights.of(TensorStores.open(tiny("tiny-llama")), "");
    }

    // ---- vision ---------------------------------------------------------------------------------------------------

    float[] visionOnnx(Path dir, float[] pixels, int batch, ClipVisionConfig c) {
        try (OnnxModels m = new OnnxModels(dir, 1)) {
            return m.run("vision_encoder.onnx", Map.of("pixel_values", new Input.Floats(pixels, batch, c.channels(), c.imageSize(), c.imageSize())),
                    "vision_hidden_states");
        }
    }

    @Test
    void visionEncoderMatchesReferenceFp32AndFp16() throws Exception {
        VisionTower t = plip();
        ClipVisionConfig c = t.config();
        int batch = 2;
        float[] pixels = OnnxFixtures.normals(batch * c.channels() * c.imageSize() * c.imageSize(), 7);
        VisionForward.Output ref = VisionForward.run(engine, t, pixels, batch);
        float[] expected = ref.hiddenStates().get(t.selectedIndex());
        OnnxExport.Result r = export(tiny("tiny-plip"), "vision-fp32", Precision.FP32, Component.VISION);
        OnnxFixtures.assertClose(expected, visionOnnx(r.outDir(), pixels, batch, c), TOL, TOL, "vision fp32 hidden_states[-2]");
        OnnxExport.Result h = export(tiny("tiny-plip"), "vision-fp16", Precision.FP16, Component.VISION);
        OnnxFixtures.assertRelL2(expected, visionOnnx(h.outDir(), pixels, batch, c), 1e-2, "vision fp16");
        assertTrue(Files.size(h.outDir().resolve("vision_encoder.onnx_data")) < Files.size(r.outDir().resolve("vision_encoder.onnx_data")), "fp16 data is smaller");
    }

    // ---- connectors -----------------------------------------------------------------------------------------------

    float[] connectorOnnx(Path dir, Connector c, ConnectorForward.Input in) {
        Map<String, Input> feed = new LinkedHashMap<>();
        feed.put("vision_hidden_states", new Input.Floats(OnnxFixtures.withClassRow(in.features(), in.batch(), in.tokens(), c.inputDim()),
                in.batch(), in.tokens() + 1, c.inputDim()));
        if (in.patches() != null) {
            feed.put("patch_features", new Input.Floats(in.patches(), in.batch(), in.patchTokens(), in.patches().length / (in.batch() * in.patchTokens())));
            feed.put("patch_mask", new Input.Longs(in.patchMask(), in.batch(), in.patchTokens()));
        }
        try (OnnxModels m = new OnnxModels(dir, 1)) {
            return m.run("connector.onnx", feed, "image_features");
        }
    }

    void checkConnector(Path folder, Connector c, ConnectorForward.Input in, String label) {
        float[] expected = ConnectorForward.run(engine, c, in).output();
        OnnxExport.Result r = export(folder, label + "-fp32", Precision.FP32, Component.CONNECTOR);
        OnnxFixtures.assertClose(expected, connectorOnnx(r.outDir(), c, in), TOL, TOL, label + " fp32");
        OnnxExport.Result h = export(folder, label + "-fp16", Precision.FP16, Component.CONNECTOR);
        OnnxFixtures.assertRelL2(expected, connectorOnnx(h.outDir(), c, in), 1e-2, label + " fp16");
    }

    @Test
    void mlpProjectorMatchesReference() {
        Path folder = tiny("tiny-mlp-projector");
        Connector c = MlpProjector.detect(Weights.of(TensorStores.open(folder), ""), "", "gelu", "tiny-mlp-projector");
        int batch = 2, n = 16;
        checkConnector(folder, c, ConnectorForward.Input.of(batch, n, OnnxFixtures.normals(batch * n * c.inputDim(), 11)), "mlp-projector");
    }

    @Test
    void qformerSelfAttentionLayoutMatchesReference() throws Exception {
        Path folder = OnnxFixtures.qformerFolder(tmp.resolve("qformer-src"), false);
        QFormer q = OnnxFixtures.qformer(folder);
        assertTrue(!q.config().crossAttention());
        int batch = 2, n = 16;
        checkConnector(folder, q, ConnectorForward.Input.of(batch, n, OnnxFixtures.normals(batch * n * q.inputDim(), 12)), "qformer");
    }

    @Test
    void qformerCrossAttentionLayoutMatchesReference() throws Exception {
        Path folder = OnnxFixtures.qformerFolder(tmp.resolve("qformer-xattn-src"), true);
        QFormer q = OnnxFixtures.qformer(folder);
        assertTrue(q.config().crossAttention());
        int batch = 2, n = 16, t = 48;
        long[] mask = new long[batch * t];
        // Batch 0 sees two tiles, batch 1 one: the masked tiles must not change the output.
        for (int b = 0; b < batch; b++) for (int i = 0; i < t; i++) mask[b * t + i] = i < (b == 0 ? 32 : 16) ? 1 : 0;
        ConnectorForward.Input in = new ConnectorForward.Input(batch, n, OnnxFixtures.normals(batch * n * q.inputDim(), 13), t,
                OnnxFixtures.normals(batch * t * q.config().encoderWidth(), 14), mask);
        checkConnector(folder, q, in, "qformer-xattn");
    }

    // ---- LLM ------------------------------------------------------------------------------------------------------

    static final int[] PROMPT = {500, 272, 307, 313, 277, 430, 295, 303, 78, 287, 79, 321, 76, 271};

    static float[] embedRows(Weights w, int[] ids) {
        int h = (int) w.shape(LlamaNames.EMBED)[1];
        float[] out = new float[ids.length * h];
        for (int i = 0; i < ids.length; i++) System.arraycopy(w.rows(LlamaNames.EMBED, ids[i], 1), 0, out, i * h, h);
        return out;
    }

    static OnnxDecoder decoder(OnnxModels m, LlamaConfig c) {
        return new OnnxDecoder(m, c.layers(), c.kvHeads(), c.headDim(), c.hiddenSize(), c.vocabSize());
    }

    @Test
    void embedTokensIsTheEmbeddingLookup() {
        Weights w = llamaWeights();
        OnnxExport.Result r = export(tiny("tiny-llama"), "embed-fp32", Precision.FP32, Component.EMBED);
        long[] ids = java.util.Arrays.stream(PROMPT).asLongStream().toArray();
        try (OnnxModels m = new OnnxModels(r.outDir(), 1)) {
            float[] got = m.run("embed_tokens.onnx", Map.of("input_ids", new Input.Longs(ids, 1, ids.length)), "inputs_embeds");
            assertArrayEquals(embedRows(w, PROMPT), got, 0f, "fp32 embedding rows are copied exactly (bf16 widened)");
        }
        OnnxExport.Result h = export(tiny("tiny-llama"), "embed-fp16", Precision.FP16, Component.EMBED);
        try (OnnxModels m = new OnnxModels(h.outDir(), 1)) {
            float[] got = m.run("embed_tokens.onnx", Map.of("input_ids", new Input.Longs(ids, 1, ids.length)), "inputs_embeds");
            OnnxFixtures.assertRelL2(embedRows(w, PROMPT), got, 1e-3, "embed fp16");
        }
    }

    @Test
    void decoderFp32MatchesReferenceAndKvCacheGreedyEqualsFullSequence() {
        Weights w = llamaWeights();
        Llama model = llama(w);
        LlamaConfig c = model.config();
        OnnxExport.Result r = export(tiny("tiny-llama"), "llm-fp32", Precision.FP32, Component.LLM, Component.EMBED);
        assertTrue(Files.isRegularFile(r.outDir().resolve("genai_config.json")));
        assertTrue(Files.isRegularFile(r.outDir().resolve("tokenizer.json")));
        try (LlamaForward ref = new LlamaForward(engine, model); OnnxModels m = new OnnxModels(r.outDir(), 1); OnnxDecoder d = decoder(m, c)) {
            LlamaForward.Sequence seq = LlamaForward.Sequence.ofTokens(PROMPT);
            LlamaForward.Output expected = ref.forward(seq);
            float[] logits = d.step(embedRows(w, PROMPT), PROMPT.length);
            d.reset();
            OnnxFixtures.assertClose(expected.logits(), logits, TOL, TOL, "decoder fp32 prefill logits [14, 512]");

            // KV cache: prefill of S tokens then one step gives the last row of a prefill of S+1 tokens.
            int s = PROMPT.length - 1;
            d.step(embedRows(w, java.util.Arrays.copyOf(PROMPT, s)), s);
            float[] stepped = d.step(embedRows(w, new int[] {PROMPT[s]}), 1);
            d.reset();
            float[] lastRow = java.util.Arrays.copyOfRange(expected.logits(), s * c.vocabSize(), (s + 1) * c.vocabSize());
            OnnxFixtures.assertClose(lastRow, stepped, TOL, TOL, "decoder prefill(13) + step vs full(14)");

            int[] greedyRef = ref.greedy(seq, 16);
            int[] greedy = d.greedy(embedRows(w, PROMPT), PROMPT.length, 16, t -> embedRows(w, new int[] {t}));
            assertArrayEquals(greedyRef, greedy, "greedy tokens with the KV cache = the reference's full-sequence greedy");
            // The reference forward is itself checked against PyTorch's greedy continuation (test-checkpoints README).
            assertArrayEquals(new int[] {457, 145, 295, 7, 350, 483, 437, 195, 368, 383, 433, 311, 178, 140, 214, 218}, greedy);
        }
    }

    @Test
    void decoderFp16WithinOnePercent() {
        Weights w = llamaWeights();
        Llama model = llama(w);
        OnnxExport.Result r = export(tiny("tiny-llama"), "llm-fp16", Precision.FP16, Component.LLM);
        try (LlamaForward ref = new LlamaForward(engine, model); OnnxModels m = new OnnxModels(r.outDir(), 1); OnnxDecoder d = decoder(m, model.config())) {
            float[] expected = ref.forward(LlamaForward.Sequence.ofTokens(PROMPT)).logits();
            OnnxFixtures.assertRelL2(expected, d.step(embedRows(w, PROMPT), PROMPT.length), 1e-2, "decoder fp16 logits");
        }
    }

    @Test
    void decoderInt4SymmetricMatchesDequantizedReference() {
        checkInt4(Precision.INT4, "llm-int4");
    }

    @Test
    void decoderInt4AsymmetricMatchesDequantizedReference() {
        checkInt4(Precision.INT4_ASYMMETRIC, "llm-int4-asym");
    }

    void checkInt4(Precision p, String out) {
        Weights w = llamaWeights();
        OnnxExport.Result r = export(tiny("tiny-llama"), out, p, Component.LLM);
        assertEquals(2 * 5 + 1, r.quantized().size(), "QKV, o, gate, up, down per layer + lm_head are int4");
        // The reference uses the weights the kernel multiplies by: each quantized matrix dequantized, split back by name.
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        for (List<String> names : r.quantized().values()) {
            Int4Matrix mat = Int4Matrix.quantize(w, names, p == Precision.INT4_ASYMMETRIC);
            int row = 0;
            for (String name : names) {
                long[] s = w.shape(name);
                shapes.put(name, s);
                values.put(name, mat.dequantizeRows(row, (int) s[0]));
                row += (int) s[0];
            }
        }
        Weights deq = w.overlay(Weights.ofArrays("int4-dequantized", shapes, values));
        Llama model = llama(deq);
        try (LlamaForward ref = new LlamaForward(engine, model); LlamaForward orig = new LlamaForward(engine, llama(w));
             OnnxModels m = new OnnxModels(r.outDir(), 1); OnnxDecoder d = decoder(m, model.config())) {
            float[] expected = ref.forward(LlamaForward.Sequence.ofTokens(PROMPT)).logits();
            float[] got = d.step(embedRows(w, PROMPT), PROMPT.length);
            OnnxFixtures.assertClose(expected, got, TOL, TOL, p.label + " logits vs dequantized reference");
            // Against the original weights int4 is only approximately right; it must still be close, not noise.
            double e = OnnxFixtures.relL2(orig.forward(LlamaForward.Sequence.ofTokens(PROMPT)).logits(), got);
            System.out.printf(java.util.Locale.ROOT, "rel L2 %s vs original bf16 weights: %.3e%n", p.label, e);
            assertTrue(e < 0.25, "int4 logits are far from the original model's: " + e);
        }
    }

    // ---- files ----------------------------------------------------------------------------------------------------

    @Test
    void sameInputsGiveSameBytes() throws Exception {
        OnnxExport.Result a = export(tiny("tiny-llama"), "det-a", Precision.INT4, Component.LLM, Component.EMBED);
        OnnxExport.Result b = export(tiny("tiny-llama"), "det-b", Precision.INT4, Component.LLM, Component.EMBED);
        List<String> names = new ArrayList<>();
        for (Path f : a.files()) {
            names.add(f.getFileName().toString());
            assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(b.outDir().resolve(f.getFileName())), f.getFileName() + " differs");
        }
        assertEquals(List.of("decoder_model_merged.onnx", "decoder_model_merged.onnx_data", "embed_tokens.onnx", "embed_tokens.onnx_data",
                "export_config.json", "genai_config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.json",
                "tokenizer_config.json"), names);
    }
}
