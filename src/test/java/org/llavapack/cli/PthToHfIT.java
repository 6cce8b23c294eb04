package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/** convert pth-to-hf as a user runs it, through bin/llavapack. */
class PthToHfIT {

    @TempDir
    Path tmp;

    @Test
    void deepSpeedFolderToHfLayout() throws IOException {
        Path out = tmp.resolve("pallava-hf");
        var r = CliRunner.run("convert", "pth-to-hf", TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), out.toString());
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stderr().contains("self-check passed"), r.stderr());
        for (String f : new String[] {"llm_adapter/adapter_config.json", "llm_adapter/adapter_model.safetensors",
                "projector/config.json", "projector/model.safetensors", "conversion.json"}) {
            assertTrue(Files.exists(out.resolve(f)), f);
        }
        JsonNode projector = new ObjectMapper().readTree(out.resolve("projector/config.json").toFile());
        assertEquals("q_former_projector", projector.get("model_type").asText());
        var inspect = CliRunner.run("inspect", "--json", out.resolve("llm_adapter").toString());
        assertEquals(0, inspect.exit(), inspect.stderr());
        JsonNode tensors = new ObjectMapper().readTree(inspect.stdout()).get("tensors");
        assertEquals(2 * 7 * 2, tensors.size(), "A and B for 7 projections in 2 layers");
        for (JsonNode t : tensors) {
            assertTrue(t.get("name").asText().startsWith("base_model.model.model.layers."), t.get("name").asText());
            assertEquals("BF16", t.get("dtype").asText());
        }
    }

    @Test
    void hostileCheckpointIsRefusedAndNothingIsWritten() {
        Path out = tmp.resolve("never");
        Path hostile = TestPaths.checkpoint("hostile/exec").resolve("state_dict_zip_extra_key_os_system.pt");
        var r = CliRunner.run("convert", "pth-to-hf", hostile.toString(), out.toString());
        assertEquals(3, r.exit(), r.stderr());
        assertEquals(1, r.stderrLines().size(), r.stderr());
        assertFalse(Files.exists(out));
    }

    @Test
    void missingAlphaIsAUsageError() throws IOException {
        Path config = tmp.resolve("cfg.py");
        Files.writeString(config, "llm_lora = dict(r=8)\n");
        var r = CliRunner.run("convert", "pth-to-hf", "--config", config.toString(),
                TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), tmp.resolve("o").toString());
        assertEquals(2, r.exit(), r.stderr());
        assertTrue(r.stderr().contains("--lora-alpha"), r.stderr());
    }

    /** The converted folder computes what the DeepSpeed checkpoint computes, component by component. */
    @Test
    void convertedFolderPassesParityAgainstTheDeepSpeedCheckpoint() {
        Path out = tmp.resolve("hf");
        Path ckpt = TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth");
        assertEquals(0, CliRunner.run("convert", "pth-to-hf", ckpt.toString(), out.toString()).exit());
        var r = CliRunner.run("parity", ckpt.toString(), out.toString(), "--base", TestPaths.checkpoint("tiny-llama").toString(),
                "--vision", TestPaths.checkpoint("tiny-plip").toString(), "--qformer-heads", "4", "--report", tmp.resolve("r.json").toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        for (String c : new String[] {"plip", "connector", "llm"}) {
            assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith(c) && l.contains("PASS")), c + " in:\n" + r.stdout());
        }
    }

    /** The whole chain on the shipped checkpoint: pth-to-hf, then merge-lora onto the tiny base, then parity. */
    @Test
    void pthToHfThenMergeLoraPassesParity() {
        Path hf = tmp.resolve("hf2");
        Path merged = tmp.resolve("merged");
        Path ckpt = TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth");
        assertEquals(0, CliRunner.run("convert", "pth-to-hf", ckpt.toString(), hf.toString()).exit());
        var m = CliRunner.run("merge-lora", TestPaths.checkpoint("tiny-llama").toString(), hf.resolve("llm_adapter").toString(), merged.toString());
        assertEquals(0, m.exit(), m.stderr());
        assertTrue(Files.exists(merged.resolve("tokenizer.json")) && Files.exists(merged.resolve("config.json")));
        var r = CliRunner.run("parity", ckpt.toString(), merged.toString(), "--component", "llm",
                "--base", TestPaths.checkpoint("tiny-llama").toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("llm") && l.contains("PASS")), r.stdout());
    }
}
