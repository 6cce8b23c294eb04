package org.llavapack.parity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.Weights;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.ImageProcessorConfig;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LoraAdapter;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorStore;

/** The Java forward passes against the PyTorch references in test-checkpoints/expected (fp32, within 1e-4). */
class ForwardReferenceTest {
    static final double TOL = 1e-4;
    static TorchEngine engine;

    @BeforeAll
    static void start() {
        engine = TorchEngine.open("cpu");
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    static TensorStore expected(String file) {
        return TensorStores.open(TestPaths.checkpoint("expected").resolve(file));
    }

    static float[] floats(TensorStore s, String name) {
        return s.tensor(name).toFloatArray();
    }

    static int[] ints(TensorStore s, String name) {
        Tensor t = s.tensor(name);
        int[] out = new int[(int) t.numel()];
        for (int i = 0; i < out.length; i++) out[i] = (int) t.getLong(i);
        return out;
    }

    static void assertClose(float[] expected, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        double max = 0;
        for (int i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i] - actual[i]));
        double m = max;
        System.out.printf(java.util.Locale.ROOT, "max |delta| %-28s %.3e%n", what, m);
        assertTrue(m <= tol, () -> what + ": max |Δ| " + m + " > " + tol);
    }

    static Llama tinyLlama(Optional<LoraAdapter> lora) {
        Path dir = TestPaths.checkpoint("tiny-llama");
        LlamaConfig cfg = LlamaConfig.read(dir.resolve("config.json"));
        Weights w = Weights.of(TensorStores.open(dir), "");
        return new Llama(cfg, w, lora, Optional.of(dir), "tiny-llama");
    }

    static VisionTower tinyPlip() {
        Path dir = TestPaths.checkpoint("tiny-plip");
        ClipVisionConfig cfg = ClipVisionConfig.read(dir.resolve("config.json"));
        return new VisionTower(cfg, Weights.of(TensorStores.open(dir), ""), ImageProcessorConfig.readOrDefault(dir, cfg.imageSize()),
                VisionTower.PALLAVA_SELECT_LAYER, "tiny-plip");
    }

    static QFormer qformer(String file) {
        Weights w = Weights.of(TensorStores.open(TestPaths.checkpoint("expected").resolve(file)), "");
        QFormerConfig cfg = QFormerConfig.detect(w, OptionalInt.of(4), OptionalDouble.empty(), file);
        return new QFormer(cfg, MlpProjector.detect(w, "model.mlp.", "gelu", file), w, file);
    }

    @Test
    void llamaBaseLogitsHiddenAndGreedy() {
        try (TensorStore ref = expected("llama-logits.safetensors"); LlamaForward f = new LlamaForward(engine, tinyLlama(Optional.empty()))) {
            int[] ids = ints(ref, "input_ids");
            LlamaForward.Output out = f.forward(LlamaForward.Sequence.ofTokens(ids));
            assertClose(floats(ref, "logits"), out.logits(), TOL, "logits");
            assertClose(floats(ref, "hidden_states"), out.finalHidden(), TOL, "hidden_states");
            assertArrayEquals(ints(ref, "greedy"), f.greedy(LlamaForward.Sequence.ofTokens(ids), 16));
        }
    }

    @Test
    void llamaLoraUnmergedLogits() {
        Path base = TestPaths.checkpoint("tiny-llama");
        LoraAdapter lora = LoraAdapter.fromPeft(org.llavapack.model.lora.PeftAdapter.open(TestPaths.checkpoint("tiny-llama-lora"), TensorStores.open(base), base));
        try (TensorStore ref = expected("llama-lora-logits.safetensors"); LlamaForward f = new LlamaForward(engine, tinyLlama(Optional.of(lora)))) {
            LlamaForward.Output out = f.forward(LlamaForward.Sequence.ofTokens(ints(ref, "input_ids")));
            assertClose(floats(ref, "logits"), out.logits(), TOL, "LoRA logits");
            assertClose(floats(ref, "hidden_states"), out.finalHidden(), TOL, "LoRA hidden_states");
        }
    }

    @Test
    void llamaMergedBf16Logits() {
        Path dir = TestPaths.checkpoint("tiny-llama");
        Weights merged = Weights.of(TensorStores.open(dir), "").overlay(Weights.of(expected("merged-lora.safetensors"), ""));
        Llama m = new Llama(LlamaConfig.read(dir.resolve("config.json")), merged, Optional.empty(), Optional.empty(), "merged");
        try (TensorStore ref = expected("llama-lora-logits.safetensors"); LlamaForward f = new LlamaForward(engine, m)) {
            LlamaForward.Output out = f.forward(LlamaForward.Sequence.ofTokens(ints(ref, "input_ids")));
            assertClose(floats(ref, "merged_bf16_logits"), out.logits(), TOL, "merged logits");
        }
    }

    @Test
    void llamaStreamedEqualsResident() {
        try (TensorStore ref = expected("llama-logits.safetensors"); LlamaForward f = new LlamaForward(engine, tinyLlama(Optional.empty()), 0)) {
            assertTrue(!f.resident());
            LlamaForward.Output out = f.forward(LlamaForward.Sequence.ofTokens(ints(ref, "input_ids")));
            assertClose(floats(ref, "logits"), out.logits(), TOL, "streamed logits");
        }
    }

    @Test
    void llamaBatchOfTwo() {
        try (TensorStore ref = expected("llama-logits.safetensors"); LlamaForward f = new LlamaForward(engine, tinyLlama(Optional.empty()))) {
            int[] ids = ints(ref, "input_ids");
            var outs = f.forwardBatch(new int[][] {ids, ids});
            assertEquals(2, outs.size());
            for (var o : outs) assertClose(floats(ref, "logits"), o.logits(), TOL, "batched logits");
        }
    }

    @Test
    void visionHiddenStatesAndSelection() {
        try (TensorStore ref = expected("pallava-vision-connector.safetensors")) {
            VisionForward.Output out = VisionForward.run(engine, tinyPlip(), floats(ref, "pixel_values"), 1);
            assertEquals(4, out.hiddenStates().size());
            for (int i = 0; i < 4; i++) assertClose(floats(ref, "vision_hidden_states." + i), out.hiddenStates().get(i), TOL, "hidden state " + i);
            assertClose(floats(ref, "selected_features"), out.selected(), TOL, "selected_features");
        }
    }

    @Test
    void qformerSelfAttentionOnly() {
        try (TensorStore ref = expected("pallava-vision-connector.safetensors")) {
            QFormer q = qformer("xtuner-zero2-bf16-projector-f32.safetensors");
            assertTrue(!q.config().crossAttention());
            var out = ConnectorForward.run(engine, q, ConnectorForward.Input.of(1, 16, floats(ref, "selected_features")));
            assertClose(floats(ref, "connector_output"), out.output(), TOL, "connector_output");
            for (String t : new String[] {"embeddings_ln", "layer.0", "layer.1", "final_norm"}) {
                assertClose(floats(ref, "connector_trace." + t), out.trace().get(t), TOL, t);
            }
        }
    }

    @Test
    void qformerWithCrossAttention() {
        try (TensorStore ref = expected("pallava-vision-connector.safetensors")) {
            QFormer q = qformer("xtuner-zero2-bf16-xattn-projector-f32.safetensors");
            assertTrue(q.config().crossAttention());
            int[] mask = ints(ref, "xattn.patch_mask");
            long[] m = new long[mask.length];
            for (int i = 0; i < m.length; i++) m[i] = mask[i];
            var in = new ConnectorForward.Input(1, 16, floats(ref, "selected_features"), 48, floats(ref, "xattn.patch_features"), m);
            var out = ConnectorForward.run(engine, q, in);
            assertClose(floats(ref, "xattn.connector_output"), out.output(), TOL, "xattn connector_output");
            for (String t : new String[] {"embeddings_ln", "layer.0", "layer.1", "final_norm"}) {
                assertClose(floats(ref, "xattn.connector_trace." + t), out.trace().get(t), TOL, "xattn " + t);
            }
        }
    }

    @Test
    void visionBatchOfTwo() {
        try (TensorStore ref = expected("pallava-vision-connector.safetensors")) {
            float[] px = floats(ref, "pixel_values");
            float[] two = new float[px.length * 2];
            System.arraycopy(px, 0, two, 0, px.length);
            System.arraycopy(px, 0, two, px.length, px.length);
            VisionForward.Output out = VisionForward.run(engine, tinyPlip(), two, 2);
            float[] sel = floats(ref, "selected_features");
            assertClose(sel, java.util.Arrays.copyOfRange(out.selected(), 0, sel.length), TOL, "batch row 0");
            assertClose(sel, java.util.Arrays.copyOfRange(out.selected(), sel.length, 2 * sel.length), TOL, "batch row 1");
        }
    }

    /** XTuner's ProjectorModel (mlp2x_gelu) from a projector folder, batch of two. */
    @Test
    void mlpProjectorDepthTwo() {
        try (TensorStore ref = expected("parity-extra.safetensors");
             ComponentSource src = ComponentSources.open(TestPaths.checkpoint("tiny-mlp-projector"), SourceOptions.NONE)) {
            MlpProjector p = (MlpProjector) src.connector().orElseThrow();
            assertEquals(2, p.depth());
            assertEquals("mlp2x_gelu", p.kind());
            var out = ConnectorForward.run(engine, p, ConnectorForward.Input.of(2, 16, floats(ref, "mlp.input")));
            assertClose(floats(ref, "mlp.output"), out.output(), TOL, "mlp2x_gelu output");
        }
    }

    /** Llama-3.1 rope_scaling (llama3 type) with all three frequency branches exercised. */
    @Test
    void llamaWithLlama3RopeScaling() {
        Path dir = TestPaths.checkpoint("tiny-llama");
        LlamaConfig base = LlamaConfig.read(dir.resolve("config.json"));
        LlamaConfig scaled = new LlamaConfig(base.hiddenSize(), base.intermediateSize(), base.layers(), base.heads(), base.kvHeads(), base.headDim(),
                base.vocabSize(), base.ropeTheta(), base.rmsNormEps(), false,
                Optional.of(new org.llavapack.model.llama.RopeScaling("llama3", 8.0, 1.0, 4.0, 64)), base.bosTokenId(), base.eosTokenIds());
        try (TensorStore ref = expected("parity-extra.safetensors")) {
            assertClose(floats(ref, "rope_llama3.inv_freq"), scaled.inverseFrequencies(), 1e-7, "llama3 inv_freq (fp32, 1 ulp)");
            Llama m = new Llama(scaled, Weights.of(TensorStores.open(dir), ""), Optional.empty(), Optional.empty(), "scaled");
            try (LlamaForward f = new LlamaForward(engine, m)) {
                LlamaForward.Output out = f.forward(LlamaForward.Sequence.ofTokens(ints(ref, "rope_llama3.input_ids")));
                assertClose(floats(ref, "rope_llama3.logits"), out.logits(), TOL, "llama3-scaled logits");
            }
        }
    }
}
