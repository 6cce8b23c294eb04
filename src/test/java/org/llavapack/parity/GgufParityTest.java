package org.llavapack.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.cli.Main;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufTensorInfo;

/** parity with GGUF candidates (issues 5 and 6): the exported file runs through the same forward as the checkpoint. */
class GgufParityTest {
    @TempDir
    Path tmp;

    static final String TINY = TestPaths.checkpoint("tiny-llama").toString();
    static final String LORA = TestPaths.checkpoint("tiny-llama-lora").toString();

    private int cli(StringWriter err, String... args) {
        return Main.run(args, new PrintWriter(new StringWriter()), new PrintWriter(err));
    }

    private Path export(String outtype, String... extra) {
        Path out = tmp.resolve(outtype + extra.length + ".gguf");
        List<String> a = new ArrayList<>(List.of("export", "gguf", TINY, out.toString(), "--outtype", outtype));
        a.addAll(List.of(extra));
        StringWriter err = new StringWriter();
        assertEquals(0, cli(err, a.toArray(String[]::new)), err.toString());
        return out;
    }

    private JsonNode parity(int expectExit, String ref, Path cand) throws IOException {
        Path report = tmp.resolve("r" + System.nanoTime() + ".json");
        StringWriter err = new StringWriter();
        int exit = cli(err, "parity", ref, cand.toString(), "--component", "llm", "--report", report.toString());
        assertEquals(expectExit, exit, err.toString());
        return ParityCommandTest.component(new ObjectMapper().readTree(report.toFile()), "llm");
    }

    @Test
    void f32AndF16ExportsPassAtFloatTolerancesAndQ8_0AtItsOwn() throws IOException {
        JsonNode f32 = parity(0, TINY, export("f32"));
        // tiny-llama is bf16, so the pair is judged at bf16; an f32 export holds the same values, so the logits agree to fp32 rounding
        assertEquals("bfloat16 vs float32", f32.get("dtypes").asText());
        assertTrue(f32.at("/metrics/rel_l2").asDouble() < 1e-6, f32.toString());
        JsonNode f16 = parity(0, TINY, export("f16"));
        assertEquals("bfloat16 vs float16", f16.get("dtypes").asText());
        JsonNode q8 = parity(0, TINY, export("q8_0"));
        assertEquals("q8_0", q8.at("/tolerance/class").asText());
        assertEquals("bfloat16 vs q8_0", q8.get("dtypes").asText());
        double rel = q8.at("/metrics/rel_l2").asDouble();
        assertTrue(rel > 1e-5 && rel < Tolerance.Q8_0.maxRelL2(), "q8_0 changes the logits a little: " + rel);
        JsonNode q4 = parity(0, TINY, export("q4_k_m"));
        assertEquals("q4", q4.at("/tolerance/class").asText());
    }

    @Test
    void adapterMergedDuringExportMatchesTheUnmergedAdapter() throws IOException {
        JsonNode r = parity(0, LORA, export("f32", "--adapter", LORA));
        // the reference applies LoRA unmerged in fp32 over the bf16 base; the export merged it in fp32: only summation order differs
        assertTrue(r.at("/metrics/rel_l2").asDouble() < 1e-5, r.toString());
        assertEquals(1.0, r.at("/llm/top1_agreement").asDouble());
    }

    @Test
    void aCorruptedGgufTensorFails() throws IOException {
        Path gguf = export("f32");
        long offset;
        try (GgufFile g = GgufFile.open(gguf)) {
            GgufTensorInfo t = g.tensorInfo("blk.0.attn_v.weight");
            offset = g.dataStart() + t.offset();
        }
        // scale a block of blk.0.attn_v rows by 4 (f32 values, little-endian): the kind of damage a bad writer does
        try (FileChannel ch = FileChannel.open(gguf, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * 512).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(b, offset);
            for (int i = 0; i < 512; i++) b.putFloat(i * 4, b.getFloat(i * 4) * 4);
            b.rewind();
            ch.write(b, offset);
        }
        JsonNode r = parity(1, TINY, gguf);
        assertEquals("FAIL", r.get("verdict").asText());
    }
}
