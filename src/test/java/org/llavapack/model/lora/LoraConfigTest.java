package org.llavapack.model.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.convert.HfFolder;
import org.llavapack.model.lora.LoraConfig.PatternRule;

/** adapter_config.json semantics: scale, patterns (spec §7), targets and validation. */
class LoraConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static LoraConfig fixture(String name) {
        Path f = TestPaths.checkpoint(name).resolve("adapter_config.json");
        return LoraConfig.parse(f, HfFolder.readJson(f));
    }

    private static LoraConfig parse(String json) {
        try {
            ObjectNode base = (ObjectNode) JSON.readTree("{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"]}");
            base.setAll((ObjectNode) JSON.readTree(json));
            return LoraConfig.parse(Path.of("adapter_config.json"), base);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void scalesOfTheFixtures() {
        assertEquals(2f, fixture("tiny-llama-lora").rankFor("model.layers.0.self_attn.q_proj", PatternRule.PER_DICT).scale());
        assertEquals((float) (16 / Math.sqrt(8)), fixture("tiny-llama-lora-rslora").rankFor("model.layers.0.mlp.up_proj", PatternRule.PER_DICT).scale());
        assertEquals(3f, fixture("tiny-conv1d-lora").rankFor("transformer.h.1.attn.c_attn", PatternRule.PER_DICT).scale());
        assertTrue(fixture("tiny-conv1d-lora").fanInFanOut());
        assertTrue(fixture("tiny-llama-lora-dora").useDora());
        assertEquals(java.util.List.of("lm_head"), fixture("tiny-llama-lora-modules-to-save").modulesToSave());
    }

    /** The README's table for tiny-llama-lora-patterns, including the p_proj trap that a naive endswith would fall into. */
    @Test
    void patternsResolveAsTheFixtureDocuments() {
        LoraConfig c = fixture("tiny-llama-lora-patterns");
        for (int layer = 0; layer < 2; layer++) {
            String p = "model.layers." + layer + ".";
            assertRank(c, p + "self_attn.k_proj", 2, 16, 8f);
            assertRank(c, p + "self_attn.v_proj", 8, 32, 4f);
            assertRank(c, p + "self_attn.q_proj", 8, 16, 2f);
            assertRank(c, p + "mlp.up_proj", 8, 16, 2f);
            assertRank(c, p + "mlp.gate_proj", 8, 16, 2f);
        }
        assertRank(c, "model.layers.1.mlp.down_proj", 4, 4, 1f);
        assertRank(c, "model.layers.0.mlp.down_proj", 8, 16, 2f);
        for (String m : new String[] {"model.layers.0.self_attn.k_proj", "model.layers.1.mlp.down_proj", "model.layers.0.mlp.up_proj"}) {
            for (PatternRule rule : PatternRule.values()) {
                assertEquals(c.rankFor(m, PatternRule.PER_DICT), c.rankFor(m, rule), m + " under " + rule);
            }
        }
    }

    private static void assertRank(LoraConfig c, String module, int r, double alpha, float scale) {
        LoraConfig.ModuleRank mr = c.rankFor(module, PatternRule.PER_DICT);
        assertEquals(new LoraConfig.ModuleRank(r, alpha, scale), mr, module);
    }

    @Test
    void patternRulesDifferWhereTheyShould() {
        // A rank key and a different alpha key both match: per dict each applies; chained, the rank key alone decides.
        LoraConfig c = parse("{\"rank_pattern\":{\"k_proj\":2},\"alpha_pattern\":{\"self_attn.k_proj\":4}}");
        String k = "model.layers.0.self_attn.k_proj";
        assertEquals(new LoraConfig.ModuleRank(2, 4, 2f), c.rankFor(k, PatternRule.PER_DICT));
        assertEquals(new LoraConfig.ModuleRank(2, 16, 8f), c.rankFor(k, PatternRule.CHAINED));
        // A pattern naming the whole module path matches only under the newer (.*\.)? rule.
        LoraConfig full = parse("{\"rank_pattern\":{\"model.layers.0.self_attn.q_proj\":4}}");
        assertEquals(8, full.rankFor("model.layers.0.self_attn.q_proj", PatternRule.PER_DICT).r());
        assertEquals(4, full.rankFor("model.layers.0.self_attn.q_proj", PatternRule.FULL_KEY).r());
        // Keys are regular expressions, anchored at the end; the first in file order wins.
        LoraConfig re = parse("{\"rank_pattern\":{\"layers\\\\.[01]\\\\.mlp\\\\.up_proj\":3,\"up_proj\":5}}");
        assertEquals(3, re.rankFor("model.layers.1.mlp.up_proj", PatternRule.PER_DICT).r());
        assertEquals(5, re.rankFor("model.layers.2.mlp.up_proj", PatternRule.PER_DICT).r());
        assertEquals(8, re.rankFor("model.layers.1.mlp.up_proj_extra", PatternRule.PER_DICT).r());
    }

    @Test
    void targetsAsNamesRegexAndLayers() {
        LoraConfig names = parse("{\"target_modules\":[\"q_proj\",\"c_attn\"]}");
        assertTrue(names.selects("model.layers.0.self_attn.q_proj"));
        assertTrue(names.selects("transformer.h.0.attn.c_attn"));
        assertTrue(names.selects("q_proj"));
        assertFalse(names.selects("model.layers.0.self_attn.qq_proj"));
        LoraConfig regex = parse("{\"target_modules\":\".*layers\\\\.1\\\\..*(q|v)_proj\"}");
        assertTrue(regex.selects("model.layers.1.self_attn.v_proj"));
        assertFalse(regex.selects("model.layers.0.self_attn.v_proj"));
        assertFalse(regex.selects("model.layers.1.self_attn.k_proj"));
        LoraConfig layers = parse("{\"layers_to_transform\":[1],\"layers_pattern\":\"layers\"}");
        assertTrue(layers.selects("model.layers.1.self_attn.q_proj"));
        assertFalse(layers.selects("model.layers.0.self_attn.q_proj"));
        LoraConfig one = parse("{\"layers_to_transform\":0}");
        assertTrue(one.selects("model.layers.0.self_attn.q_proj"));
        assertFalse(one.selects("model.layers.1.self_attn.q_proj"));
        LoraConfig all = parse("{\"target_modules\":\"all-linear\"}");
        assertTrue(all.selects("model.layers.0.mlp.down_proj"));
        assertFalse(all.selects("lm_head"));
    }

    @Test
    void malformedConfigsAreBadInput() {
        String[] bad = {
            "{\"peft_type\":\"IA3\"}", "{\"r\":0}", "{\"r\":\"8\"}", "{\"lora_alpha\":null}", "{\"rank_pattern\":{\"(\":2}}",
            "{\"rank_pattern\":{\"k_proj\":-1}}", "{\"bias\":\"some\"}", "{\"use_dora\":\"yes\"}", "{\"target_modules\":[1]}",
            "{\"layer_replication\":[[0,2]]}", "{\"target_modules\":\"[\"}", "{\"layers_to_transform\":\"0\"}"
        };
        for (String b : bad) {
            BadInputException e = assertThrows(BadInputException.class, () -> parse(b), b);
            assertTrue(e.getMessage().startsWith("adapter_config.json: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void unknownKeysOfNewerPeftAreAccepted() throws Exception {
        JsonNode n = JSON.readTree("{\"peft_version\":\"0.15.0\",\"exclude_modules\":null,\"target_parameters\":null,\"lora_bias\":false}");
        assertFalse(parse(n.toString()).loraBias());
    }
}
