package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;

/** The shipped XTuner → PEFT/HF name map, checked against the generator's expected files. */
class XtunerNamesTest {

    @ParameterizedTest
    @ValueSource(strings = {"zero2-bf16", "zero2-fp16", "zero2-bf16-xattn", "zero3-bf16", "workdir-iter_8"})
    void checkpointNamesMapToTheExpectedAdapterAndProjectorNames(String variant) {
        List<String> names = new ArrayList<>(Fixtures.shapes(Fixtures.expected("xtuner-" + variant + "-master-f32.safetensors")).keySet());
        names.add("projector.model.bert.embeddings.position_ids"); // the buffer: in module, not among the masters
        Map<XtunerOutput, List<XtunerNames.Routed>> routed = XtunerNames.route(names, variant);
        assertEquals(Set.of(XtunerOutput.LLM_ADAPTER, XtunerOutput.PROJECTOR), routed.keySet());

        Set<String> adapter = Fixtures.shapes(Fixtures.expected("xtuner-" + variant + "-adapter-f32.safetensors")).keySet();
        Set<String> projector = Fixtures.shapes(Fixtures.expected("xtuner-" + variant + "-projector-f32.safetensors")).keySet();
        assertEquals(new TreeSet<>(adapter), targets(routed.get(XtunerOutput.LLM_ADAPTER)));
        assertEquals(new TreeSet<>(projector), targets(routed.get(XtunerOutput.PROJECTOR)));
        assertEquals(28, routed.get(XtunerOutput.LLM_ADAPTER).size());
        assertTrue(routed.get(XtunerOutput.LLM_ADAPTER).stream().allMatch(r -> r.kind().equals("lora")));
        assertTrue(routed.get(XtunerOutput.PROJECTOR).stream().allMatch(r -> r.kind().equals("weights")));
    }

    @Test
    void theSpecExamplesMapAsDocumented() {
        Map<XtunerOutput, List<XtunerNames.Routed>> r = XtunerNames.route(List.of(
                "llm.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
                "llm.base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector.default.weight",
                "llm.base_model.model.lm_head.modules_to_save.default.weight",
                "llm.base_model.model.lm_head.original_module.weight",
                "llm.base_model.model.model.layers.1.mlp.down_proj.lora_B.weight",
                "projector.model.bert.encoder.layer.0.attention.self.query.weight",
                "visual_encoder.base_model.model.vision_model.encoder.layers.0.self_attn.q_proj.lora_B.default.weight",
                "data_preprocessor.dummy"), "ckpt");
        assertEquals(List.of(
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                "base_model.model.lm_head.weight",
                "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"),
                r.get(XtunerOutput.LLM_ADAPTER).stream().map(XtunerNames.Routed::target).toList());
        assertEquals("modules_to_save", r.get(XtunerOutput.LLM_ADAPTER).get(2).kind());
        assertEquals(List.of("model.bert.encoder.layer.0.attention.self.query.weight"),
                r.get(XtunerOutput.PROJECTOR).stream().map(XtunerNames.Routed::target).toList());
        assertEquals(List.of("base_model.model.vision_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"),
                r.get(XtunerOutput.VISUAL_ENCODER_ADAPTER).stream().map(XtunerNames.Routed::target).toList());
    }

    @Test
    void fullyTrainedTowersGoToTheirHfFolders() {
        Map<XtunerOutput, List<XtunerNames.Routed>> r = XtunerNames.route(List.of(
                "llm.model.layers.0.self_attn.q_proj.weight", "llm.lm_head.weight",
                "visual_encoder.vision_model.embeddings.patch_embedding.weight",
                "visual_encoder.vision_model.post_layernorm.bias"), "ckpt");
        assertEquals(List.of("model.layers.0.self_attn.q_proj.weight", "lm_head.weight"),
                r.get(XtunerOutput.LLM).stream().map(XtunerNames.Routed::target).toList());
        assertEquals(List.of("vision_model.embeddings.patch_embedding.weight", "vision_model.post_layernorm.bias"),
                r.get(XtunerOutput.VISUAL_ENCODER).stream().map(XtunerNames.Routed::target).toList());
        assertFalse(r.containsKey(XtunerOutput.LLM_ADAPTER));
    }

    @Test
    void unknownPrefixesAreBadInput() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> XtunerNames.route(List.of("projector.model.0.weight", "mystery.weight"), "ckpt.pth"));
        assertTrue(e.getMessage().contains("mystery.weight"), e.getMessage());
        assertEquals("ckpt.pth", e.file());
    }

    private static TreeSet<String> targets(List<XtunerNames.Routed> l) {
        TreeSet<String> s = new TreeSet<>();
        l.forEach(r -> s.add(r.target()));
        return s;
    }
}
