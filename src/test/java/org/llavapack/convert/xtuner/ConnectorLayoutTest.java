package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;
import org.llavapack.tensor.DType;

class ConnectorLayoutTest {

    static Map<String, long[]> projector(String variant) {
        return Fixtures.shapes(Fixtures.expected("xtuner-" + variant + "-projector-f32.safetensors"));
    }

    @Test
    void qformerWithoutCrossAttention() {
        ConnectorLayout.QFormer q = assertInstanceOf(ConnectorLayout.QFormer.class,
                ConnectorLayout.detect(projector("zero2-bf16"), "zero2-bf16"));
        assertEquals(2, q.numHiddenLayers());
        assertFalse(q.crossAttention());
        assertEquals(0, q.crossAttentionFreq());
        assertEquals(32, q.hiddenSize());
        assertEquals(32, q.encoderWidth());
        assertEquals(64, q.intermediateSize());
        assertEquals(32, q.visualHiddenSize());
        assertEquals(64, q.llmHiddenSize());
        assertEquals(1, q.depth());
        assertTrue(q.bias());
        assertEquals(512, q.maxPositions());
        assertEquals(List.of(), q.unrecognised());
    }

    @Test
    void qformerWithCrossAttention() {
        ConnectorLayout.QFormer q = assertInstanceOf(ConnectorLayout.QFormer.class,
                ConnectorLayout.detect(projector("zero2-bf16-xattn"), "xattn"));
        assertEquals(List.of(0, 1), q.crossAttentionLayers());
        assertEquals(1, q.crossAttentionFreq());
        assertEquals(32, q.encoderWidth());
    }

    @Test
    void crossAttentionEveryOtherLayerGivesFrequencyTwo() {
        Map<String, long[]> s = fourLayerQFormer(List.of(0, 2));
        ConnectorLayout.QFormer q = (ConnectorLayout.QFormer) ConnectorLayout.detect(s, "x");
        assertEquals(2, q.crossAttentionFreq());
        Map<String, long[]> odd = fourLayerQFormer(List.of(1, 3));
        BadInputException e = assertThrows(BadInputException.class, () -> ConnectorLayout.detect(odd, "x"));
        assertTrue(e.getMessage().contains("follows no cross_attention_freq"), e.getMessage());
    }

    @Test
    void mlpProjector() {
        Map<String, long[]> s = new LinkedHashMap<>();
        s.put("model.0.weight", new long[] {4096, 1024});
        s.put("model.0.bias", new long[] {4096});
        s.put("model.2.weight", new long[] {4096, 4096});
        s.put("model.2.bias", new long[] {4096});
        ConnectorLayout.Mlp m = assertInstanceOf(ConnectorLayout.Mlp.class, ConnectorLayout.detect(s, "llava"));
        assertEquals(new ConnectorLayout.Mlp(2, 1024, 4096, true), m);
        List<String> warnings = new ArrayList<>();
        String text = ProjectorConfig.toText(ProjectorConfig.toJson(m, DType.F16, ProjectorConfig.Hints.none(), warnings));
        assertEquals("""
                {
                  "architectures": [
                    "ProjectorModel"
                  ],
                  "auto_map": {
                    "AutoConfig": "configuration_projector.ProjectorConfig",
                    "AutoModel": "modeling_projector.ProjectorModel"
                  },
                  "bias": true,
                  "depth": 2,
                  "hidden_act": "gelu",
                  "llavapack": {
                    "connector": "mlp",
                    "layout_from": "tensor names and shapes"
                  },
                  "llm_hidden_size": 4096,
                  "model_type": "projector",
                  "torch_dtype": "float16",
                  "visual_hidden_size": 1024
                }
                """, text);
        assertEquals(List.of(), warnings);
        Map<String, long[]> gap = new LinkedHashMap<>(s);
        gap.put("model.6.weight", new long[] {4096, 4096});
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(gap, "x"));
        Map<String, long[]> chain = new LinkedHashMap<>(s);
        chain.put("model.2.weight", new long[] {4096, 77});
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(chain, "x"));
    }

    @Test
    void projectorConfigForTheTinyQFormer() {
        XtunerConfig cfg = XtunerConfig.read(org.llavapack.TestPaths.checkpoint("xtuner-workdir/pallava_tiny_config.py"));
        List<String> warnings = new ArrayList<>();
        ConnectorLayout layout = ConnectorLayout.detect(projector("zero2-bf16"), "zero2-bf16");
        String text = ProjectorConfig.toText(ProjectorConfig.toJson(layout, DType.BF16, ProjectorConfig.Hints.from(cfg), warnings));
        assertEquals("""
                {
                  "add_cross_attention": false,
                  "architectures": [
                    "QFormerProjectorModel"
                  ],
                  "auto_map": {
                    "AutoConfig": "projector.QFormerProjectorConfig",
                    "AutoModel": "projector.QFormerProjectorModel"
                  },
                  "bias": true,
                  "cross_attention_freq": 1,
                  "depth": 1,
                  "hidden_act": "gelu",
                  "llavapack": {
                    "connector": "q_former",
                    "cross_attention_layers": [],
                    "encoder_width": 32,
                    "hidden_size": 32,
                    "intermediate_size": 64,
                    "layout_from": "tensor names and shapes",
                    "max_position_embeddings": 512
                  },
                  "llm_hidden_size": 64,
                  "model_type": "q_former_projector",
                  "num_hidden_layers": 2,
                  "torch_dtype": "bfloat16",
                  "visual_hidden_size": 32
                }
                """, text);
        assertEquals(List.of(), warnings);

        // the xattn weights with the plain config (add_cross_attention = False): the weights win, with a warning
        ConnectorLayout x = ConnectorLayout.detect(projector("zero2-bf16-xattn"), "xattn");
        var json = ProjectorConfig.toJson(x, DType.BF16, ProjectorConfig.Hints.from(cfg), warnings);
        assertTrue(json.get("add_cross_attention").booleanValue());
        assertEquals(1, warnings.size());
        assertTrue(warnings.getFirst().contains("add_cross_attention=False"), warnings.toString());
    }

    @Test
    void brokenQFormersAreBadInput() {
        Map<String, long[]> s = new LinkedHashMap<>(projector("zero2-bf16-xattn"));
        s.remove("model.bert.encoder.layer.1.crossattention.self.key.weight");
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(s, "x"));
        Map<String, long[]> t = new LinkedHashMap<>(projector("zero2-bf16"));
        t.remove("model.bert.encoder.layer.0.output_query.dense.weight");
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(t, "x"));
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(Map.of("weird.weight", new long[] {1}), "x"));
        assertThrows(BadInputException.class, () -> ConnectorLayout.detect(Map.of(), "x"));
        Map<String, long[]> extra = new LinkedHashMap<>(projector("zero2-bf16"));
        extra.put("model.bert.pooler.dense.weight", new long[] {32, 32});
        ConnectorLayout.QFormer q = (ConnectorLayout.QFormer) ConnectorLayout.detect(extra, "x");
        assertEquals(List.of("model.bert.pooler.dense.weight"), q.unrecognised());
    }

    private static Map<String, long[]> fourLayerQFormer(List<Integer> xattn) {
        Map<String, long[]> base = projector("zero2-bf16-xattn");
        Map<String, long[]> out = new LinkedHashMap<>();
        for (int j = 0; j < 4; j++) {
            for (Map.Entry<String, long[]> e : base.entrySet()) {
                String k = e.getKey();
                if (!k.startsWith("model.bert.encoder.layer.0.")) continue;
                if (k.contains(".crossattention.") && !xattn.contains(j)) continue;
                out.put(k.replace("layer.0.", "layer." + j + "."), e.getValue());
            }
        }
        base.forEach((k, v) -> {
            if (!k.startsWith("model.bert.encoder.")) out.put(k, v);
        });
        return out;
    }
}
