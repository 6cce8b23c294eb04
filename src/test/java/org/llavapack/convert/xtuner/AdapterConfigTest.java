package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.llavapack.TestPaths;
import org.llavapack.json.PythonJson;

/** adapter_config.json against PEFT-written files (the tiny-llama-lora fixtures, whose generator used peft's key set). */
class AdapterConfigTest {

    static final Path CONFIG = TestPaths.checkpoint("xtuner-workdir/pallava_tiny_config.py");

    /** A fixture's adapter_config.json with target_modules sorted (llavapack's order) and the given base model. */
    static String peftExpected(String fixture, String baseModel) throws Exception {
        ObjectNode o = (ObjectNode) new ObjectMapper().readTree(TestPaths.checkpoint(fixture).resolve("adapter_config.json").toFile());
        TreeSet<String> sorted = new TreeSet<>();
        o.get("target_modules").forEach(n -> sorted.add(n.asText()));
        ArrayNode a = o.putArray("target_modules");
        sorted.forEach(a::add);
        o.put("base_model_name_or_path", baseModel);
        return PythonJson.dumps(o, 2, true);
    }

    @Test
    void xtunerAdapterMatchesPeft() throws Exception {
        XtunerConfig cfg = XtunerConfig.read(CONFIG);
        Map<String, long[]> shapes = Fixtures.shapes(Fixtures.expected("xtuner-zero2-bf16-adapter-f32.safetensors"));
        LoraLayout layout = LoraLayout.fromTensors(shapes, cfg.llmLora().flatMap(XtunerConfig.LoraSettings::r), "x");
        List<String> warnings = new ArrayList<>();
        AdapterConfig ac = AdapterConfig.resolve(layout, cfg.llmLora(), cfg.llmName(), Optional.empty(), Optional.of("CAUSAL_LM"), warnings);
        assertEquals(peftExpected("tiny-llama-lora", "test-checkpoints/tiny-llama"), ac.toText());
        assertEquals(List.of(), warnings);
        assertTrue(!ac.toText().endsWith("\n"), "peft writes no trailing newline");
    }

    @Test
    void alphaMustComeFromSomewhere() {
        Map<String, long[]> shapes = Fixtures.shapes(TestPaths.checkpoint("tiny-llama-lora/adapter_model.safetensors"));
        LoraLayout layout = LoraLayout.fromTensors(shapes, Optional.empty(), "x");
        MissingSettingException e = assertThrows(MissingSettingException.class, () -> AdapterConfig.resolve(layout,
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.of("CAUSAL_LM"), new ArrayList<>()));
        assertEquals("--lora-alpha", e.option());
        assertTrue(e.getMessage().contains("--config") && e.getMessage().contains("--lora-alpha"), e.getMessage());
        List<String> warnings = new ArrayList<>();
        AdapterConfig ac = AdapterConfig.resolve(layout, Optional.empty(), Optional.empty(), Optional.of(AdapterConfig.parseAlpha("16")),
                Optional.of("CAUSAL_LM"), warnings);
        assertTrue(ac.toText().contains("\"lora_alpha\": 16,"));
        assertTrue(ac.toText().contains("\"base_model_name_or_path\": null,"));
        assertEquals(2, warnings.size(), warnings.toString()); // dropout default, unknown base model
        XtunerConfig cfg = XtunerConfig.read(CONFIG);
        warnings.clear();
        AdapterConfig over = AdapterConfig.resolve(layout, cfg.llmLora(), cfg.llmName(), Optional.of(AdapterConfig.parseAlpha("32.0")),
                Optional.of("CAUSAL_LM"), warnings);
        assertTrue(over.toText().contains("\"lora_alpha\": 32.0,"));
        assertTrue(warnings.getFirst().contains("overrides"), warnings.toString());
        assertThrows(IllegalArgumentException.class, () -> AdapterConfig.parseAlpha("abc"));
    }

    @Test
    void modulesToSaveDoraAndRankPatternsFollowTheTensors() throws Exception {
        XtunerConfig cfg = XtunerConfig.read(CONFIG);
        for (String fixture : List.of("tiny-llama-lora-modules-to-save", "tiny-llama-lora-dora")) {
            Map<String, long[]> shapes = Fixtures.shapes(TestPaths.checkpoint(fixture).resolve("adapter_model.safetensors"));
            LoraLayout layout = LoraLayout.fromTensors(shapes, Optional.of(8L), fixture);
            List<String> warnings = new ArrayList<>();
            AdapterConfig ac = AdapterConfig.resolve(layout, cfg.llmLora(), Optional.of("tiny-llama"), Optional.empty(),
                    Optional.of("CAUSAL_LM"), warnings);
            assertEquals(peftExpected(fixture, "tiny-llama"), ac.toText(), fixture);
        }
        // rank patterns: peft's own file has r 8, k_proj 2 everywhere, layers.1.mlp.down_proj 4
        Map<String, long[]> shapes = Fixtures.shapes(TestPaths.checkpoint("tiny-llama-lora-patterns/adapter_model.safetensors"));
        LoraLayout layout = LoraLayout.fromTensors(shapes, Optional.empty(), "patterns");
        assertEquals(8, layout.r());
        assertEquals(Map.of("k_proj", 2L, "layers.1.mlp.down_proj", 4L), layout.rankPattern());
        // a single module with a different rank gets a path key
        Map<String, long[]> one = new LinkedHashMap<>(Fixtures.shapes(Fixtures.expected("xtuner-zero2-bf16-adapter-f32.safetensors")));
        one.put("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", new long[] {4, 64});
        one.put("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", new long[] {64, 4});
        assertEquals(Map.of("layers.0.self_attn.q_proj", 4L), LoraLayout.fromTensors(one, Optional.of(8L), "x").rankPattern());
        one.put("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", new long[] {64, 5});
        assertThrows(org.llavapack.BadInputException.class, () -> LoraLayout.fromTensors(one, Optional.of(8L), "x"));
    }
}
