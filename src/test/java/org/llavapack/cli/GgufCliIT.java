package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/** export gguf / gguf-lora / mmproj and inspect of GGUF files, end to end through bin/llavapack and the jar. */
class GgufCliIT {
    @TempDir
    Path tmp;

    static final String TINY = TestPaths.checkpoint("tiny-llama").toString();

    private static void oneLineError(CliRunner.Result r, int exit, String... fragments) {
        assertEquals(exit, r.exit(), () -> "exit code; stderr: " + r.stderr());
        assertEquals(1, r.stderrLines().size(), () -> "one line on stderr, got: " + r.stderr());
        for (String f : fragments) assertTrue(r.stderr().contains(f), () -> "'" + f + "' missing in: " + r.stderr());
        assertFalse(r.stderr().contains("\tat "));
    }

    @Test
    void exportThenInspectJson() throws Exception {
        Path out = tmp.resolve("tiny.gguf");
        var e = CliRunner.run("export", "gguf", TINY, out.toString(), "--outtype", "q8_0");
        assertEquals(0, e.exit(), e.stderr());
        assertTrue(e.stderr().contains("21 tensors (5 F32, 16 Q8_0)"), e.stderr());
        var r = CliRunner.run("inspect", "--json", out.toString());
        assertEquals(0, r.exit(), r.stderr());
        JsonNode j = new ObjectMapper().readTree(r.stdout());
        assertEquals("gguf", j.get("format").asText());
        assertEquals(3, j.get("version").asInt());
        assertEquals(21, j.get("tensors").size());
        JsonNode q = null;
        for (JsonNode t : j.get("tensors")) if (t.get("name").asText().equals("blk.0.attn_k.weight")) q = t;
        assertEquals("Q8_0", q.get("dtype").asText());
        assertEquals(8, q.get("ggml_type").asInt());
        assertEquals("[32,64]", q.get("shape").toString(), "PyTorch order");
        assertEquals("[64,32]", q.get("ne").toString());
        JsonNode md = j.get("metadata");
        assertEquals("u32", md.get("llama.block_count").get("type").asText());
        assertEquals(2, md.get("llama.block_count").get("value").asInt());
        assertEquals("f32", md.get("llama.rope.freq_base").get("type").asText());
        assertEquals("arr", md.get("tokenizer.ggml.token_type").get("type").asText());
        assertEquals("i32", md.get("tokenizer.ggml.token_type").get("element_type").asText());
        assertEquals(512, md.get("tokenizer.ggml.tokens").get("length").asInt());
        var s = CliRunner.run("inspect", "--stats", out.toString());
        assertEquals(0, s.exit(), s.stderr());
        assertTrue(s.stdout().contains("llama.attention.head_count_kv (u32): 2"), s.stdout());
        assertTrue(s.stdout().contains("tokenizer.ggml.merges ([str; 244])"), s.stdout());
        assertTrue(s.stdout().lines().anyMatch(l -> l.startsWith("token_embd.weight") && l.contains("Q8_0") && l.contains("[512, 64]")), s.stdout());
    }

    @Test
    void exportLoraAndMmprojAndHelp() throws Exception {
        var h = CliRunner.run("export", "--help");
        assertEquals(0, h.exit());
        for (String c : new String[] {"gguf", "gguf-lora", "mmproj"}) assertTrue(h.stdout().contains(c), h.stdout());
        var l = CliRunner.run("export", "gguf-lora", TestPaths.checkpoint("tiny-llama-lora").toString(), tmp.resolve("a.gguf").toString(), "--base", TINY);
        assertEquals(0, l.exit(), l.stderr());
        assertTrue(l.stderr().contains("adapter.lora.alpha 16.0"), l.stderr());
        Path proj = org.llavapack.convert.gguf.LoraAndMmprojExportTestAccess.projector(tmp.resolve("proj"));
        var m = CliRunner.run("export", "mmproj", TestPaths.checkpoint("tiny-plip").toString(), proj.toString(), tmp.resolve("m.gguf").toString());
        assertEquals(0, m.exit(), m.stderr());
        assertTrue(m.stderr().contains("2 encoder layers, projection 64"), m.stderr());
    }

    @Test
    void errorsHaveTheirExitCodes() throws Exception {
        oneLineError(CliRunner.run("export", "gguf", TINY, tmp.resolve("x.gguf").toString(), "--adapter", TestPaths.checkpoint("tiny-conv1d-lora").toString()),
                3, "tiny-conv1d-lora");
        assertFalse(Files.exists(tmp.resolve("x.gguf")));
        var merged = CliRunner.run("export", "gguf", TINY, tmp.resolve("merged.gguf").toString(), "--outtype", "q8_0", "--adapter", TestPaths.checkpoint("tiny-llama-lora").toString());
        assertEquals(0, merged.exit(), merged.stderr());
        assertTrue(merged.stderr().contains("merged from tiny-llama-lora"), merged.stderr());
        assertEquals(2, CliRunner.run("export", "gguf", TINY, tmp.resolve("x.gguf").toString(), "--outtype", "q3_k").exit());
        assertEquals(2, CliRunner.run("export", "gguf-lora", TestPaths.checkpoint("tiny-llama-lora").toString(), tmp.resolve("y.gguf").toString()).exit(), "--base is required");
        Path qf = tmp.resolve("qformer");
        Files.createDirectories(qf);
        Files.copy(TestPaths.checkpoint("expected/xtuner-zero2-bf16-projector-f32.safetensors"), qf.resolve("model.safetensors"));
        oneLineError(CliRunner.run("export", "mmproj", TestPaths.checkpoint("tiny-plip").toString(), qf.toString(), tmp.resolve("m.gguf").toString()),
                3, "Q-Former", "ONNX");
        assertFalse(Files.exists(tmp.resolve("m.gguf")));
        Path out = tmp.resolve("tiny.gguf");
        assertEquals(0, CliRunner.run("export", "gguf", TINY, out.toString()).exit());
        oneLineError(CliRunner.run("export", "gguf", TINY, out.toString()), 4, "already exists");
        assertEquals(0, CliRunner.run("export", "gguf", TINY, out.toString(), "--force").exit());
        byte[] b = Files.readAllBytes(out);
        Path cut = tmp.resolve("cut.gguf");
        Files.write(cut, Arrays.copyOf(b, b.length - 100));
        oneLineError(CliRunner.run("inspect", cut.toString()), 3, cut.toString(), "truncated");
        byte[] huge = b.clone();
        huge[8] = (byte) 0xFF; // tensor count low byte
        huge[14] = (byte) 0x7F;
        Path h2 = tmp.resolve("huge.gguf");
        Files.write(h2, huge);
        oneLineError(CliRunner.run("inspect", "--json", h2.toString()), 3, "tensor count");
    }
}
