package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/** End to end through bin/llavapack and the shaded jar. */
class CliIT {

    @TempDir
    Path tmp;

    private static void assertOneLineError(CliRunner.Result r, int exit, String... fragments) {
        assertEquals(exit, r.exit(), () -> "exit code; stderr: " + r.stderr());
        assertEquals(1, r.stderrLines().size(), () -> "exactly one line on stderr, got: " + r.stderr());
        String line = r.stderrLines().getFirst();
        assertTrue(line.startsWith("error: "), line);
        for (String f : fragments) assertTrue(line.contains(f), () -> "'" + f + "' missing in: " + line);
        assertFalse(r.stderr().contains("\tat "), "no stack trace");
    }

    @Test
    void versionAndHelp() {
        var v = CliRunner.run("--version");
        assertEquals(0, v.exit(), v.stderr());
        assertTrue(v.stdout().startsWith("llavapack 0."), v.stdout());
        var h = CliRunner.run("--help");
        assertEquals(0, h.exit());
        for (String cmd : new String[] {"inspect", "convert"}) assertTrue(h.stdout().contains(cmd), h.stdout());
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, CliRunner.run("inspect").exit());
        assertEquals(2, CliRunner.run("no-such-command").exit());
        assertEquals(2, CliRunner.run("convert", "safetensors", "a", "b", "--max-shard-size", "huge").exit());
    }

    /** Shapes expected from the model's own config.json, not from anything llavapack printed. */
    @Test
    void inspectJsonListsEveryTensorWithConfigDerivedShapes() throws IOException {
        Path model = TestPaths.checkpoint("tiny-llama");
        JsonNode config = new ObjectMapper().readTree(model.resolve("config.json").toFile());
        long hidden = config.get("hidden_size").asLong(), inter = config.get("intermediate_size").asLong();
        long vocab = config.get("vocab_size").asLong(), layers = config.get("num_hidden_layers").asLong();
        long kv = config.get("num_key_value_heads").asLong() * (hidden / config.get("num_attention_heads").asLong());
        Map<String, String> expected = new HashMap<>();
        expected.put("model.embed_tokens.weight", "[" + vocab + "," + hidden + "]");
        expected.put("lm_head.weight", "[" + vocab + "," + hidden + "]");
        expected.put("model.norm.weight", "[" + hidden + "]");
        for (int i = 0; i < layers; i++) {
            String p = "model.layers." + i + ".";
            expected.put(p + "self_attn.q_proj.weight", "[" + hidden + "," + hidden + "]");
            expected.put(p + "self_attn.k_proj.weight", "[" + kv + "," + hidden + "]");
            expected.put(p + "self_attn.v_proj.weight", "[" + kv + "," + hidden + "]");
            expected.put(p + "self_attn.o_proj.weight", "[" + hidden + "," + hidden + "]");
            expected.put(p + "mlp.gate_proj.weight", "[" + inter + "," + hidden + "]");
            expected.put(p + "mlp.up_proj.weight", "[" + inter + "," + hidden + "]");
            expected.put(p + "mlp.down_proj.weight", "[" + hidden + "," + inter + "]");
            expected.put(p + "input_layernorm.weight", "[" + hidden + "]");
            expected.put(p + "post_attention_layernorm.weight", "[" + hidden + "]");
        }
        var r = CliRunner.run("inspect", "--json", model.toString());
        assertEquals(0, r.exit(), r.stderr());
        JsonNode out = new ObjectMapper().readTree(r.stdout());
        assertEquals("safetensors", out.get("format").asText());
        assertEquals(expected.size(), out.get("tensors").size());
        for (JsonNode t : out.get("tensors")) {
            assertEquals("BF16", t.get("dtype").asText());
            assertEquals(expected.get(t.get("name").asText()), t.get("shape").toString(), t.get("name").asText());
        }
        assertEquals("pt", out.get("metadata").get("format").asText());
    }

    @Test
    void inspectTextTableAndStats() {
        Path model = TestPaths.checkpoint("tiny-llama");
        var r = CliRunner.run("inspect", "--stats", model.resolve("model.safetensors.index.json").toString());
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stdout().contains("model.layers.1.mlp.down_proj.weight"), r.stdout());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("total: 21 tensors")), r.stdout());
        assertEquals("", r.stderr().strip(), "nothing on stderr when all is well and stderr is not a terminal");
    }

    @Test
    void badInputIsOneLineExitThree() throws IOException {
        Path bad = tmp.resolve("broken.safetensors");
        Files.write(bad, new byte[] {16, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '{', '}', '}', 0});
        assertOneLineError(CliRunner.run("inspect", bad.toString()), 3, bad.toString());
        assertOneLineError(CliRunner.run("inspect", tmp.resolve("missing").toString()), 3, "no such file");
        var debug = CliRunner.run("--debug", "inspect", bad.toString());
        assertEquals(3, debug.exit());
        assertTrue(debug.stderr().contains("\tat org.llavapack"), "--debug prints the stack trace");
    }

    @Test
    void convertSafetensorsWritesAnHfFolderThatInspects() throws IOException {
        Path out = tmp.resolve("f32");
        var r = CliRunner.run("convert", "safetensors", TestPaths.checkpoint("tiny-llama").toString(), out.toString(),
                "--dtype", "fp32", "--max-shard-size", "100KB");
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")));
        assertTrue(Files.exists(out.resolve("tokenizer.json")));
        var again = CliRunner.run("convert", "safetensors", TestPaths.checkpoint("tiny-llama").toString(), out.toString());
        assertOneLineError(again, 4, "already exists");
        var json = CliRunner.run("inspect", "--json", out.toString());
        assertEquals(0, json.exit());
        JsonNode tree = new ObjectMapper().readTree(json.stdout());
        for (JsonNode t : tree.get("tensors")) assertEquals("F32", t.get("dtype").asText());
    }
}
