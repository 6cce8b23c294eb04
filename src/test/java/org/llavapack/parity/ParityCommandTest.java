package org.llavapack.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.cli.Main;
import org.llavapack.tensor.DType;

/** The acceptance cases of issue 5, in-process through the CLI entry point. */
class ParityCommandTest {
    @TempDir
    Path tmp;

    record Run(int exit, String out, String err, JsonNode report) {}

    Run parity(String... args) throws IOException {
        Path report = tmp.resolve("report-" + System.nanoTime() + ".json");
        List<String> all = new ArrayList<>(List.of("parity"));
        all.addAll(List.of(args));
        all.addAll(List.of("--report", report.toString()));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int exit = Main.run(all.toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        JsonNode json = report.toFile().exists() ? new ObjectMapper().readTree(report.toFile()) : null;
        return new Run(exit, out.toString(), err.toString(), json);
    }

    static JsonNode component(JsonNode report, String name) {
        for (JsonNode c : report.get("components")) if (c.get("component").asText().equals(name)) return c;
        throw new AssertionError("no component " + name + " in " + report);
    }

    @Test
    void unmergedLoraAgainstMergedBf16Passes() throws IOException {
        Path merged = ParityFixtures.mergedLlama(tmp.resolve("merged"), Map.of());
        Run r = parity(TestPaths.checkpoint("tiny-llama-lora").toString(), merged.toString(), "--component", "llm");
        assertEquals(0, r.exit(), r.out() + r.err());
        JsonNode llm = component(r.report(), "llm");
        assertEquals("PASS", llm.get("verdict").asText());
        assertEquals("bfloat16 vs bfloat16", llm.get("dtypes").asText());
        assertEquals("bf16", llm.at("/tolerance/class").asText());
        double rel = llm.at("/metrics/rel_l2").asDouble();
        // PyTorch gives 3.2e-3 for this pair (the bf16 rounding of the merged weights).
        assertTrue(rel > 1e-3 && rel < 5e-3, "rel L2 " + rel);
        assertEquals(1.0, llm.at("/llm/top1_agreement").asDouble());
        assertEquals(16, llm.at("/llm/greedy_reference").size());
        assertTrue(r.out().contains("PASS"), r.out());
        assertTrue(r.report().at("/inputs/input_ids").size() > 10);
        assertEquals(500, r.report().at("/inputs/input_ids/0").asInt(), "BOS from the llama3_chat template");
    }

    /** Parity reads adapters as merge-lora does: rsLoRA, rank/alpha patterns and modules_to_save run unmerged too. */
    @Test
    void adapterVariantsUnmergedMatchTheirPyTorchMerges() throws IOException {
        String[][] cases = {{"tiny-llama-lora-rslora", "merged-lora-rslora.safetensors"}, {"tiny-llama-lora-patterns", "merged-lora-patterns.safetensors"},
            {"tiny-llama-lora-modules-to-save", "merged-lora-modules-to-save.safetensors"}};
        for (String[] c : cases) {
            Path merged = ParityFixtures.mergedLlama(tmp.resolve(c[0]), c[1], Map.of());
            Run r = parity(TestPaths.checkpoint(c[0]).toString(), merged.toString(), "--component", "llm", "--base", TestPaths.checkpoint("tiny-llama").toString());
            assertEquals(0, r.exit(), c[0] + ": " + r.out() + r.err());
            // only the bf16 rounding of the merged weights separates the two (3e-3, as for the main adapter); a wrong
            // scale or a missed module would show the LoRA's own size (rel L2 > 1e-2)
            double rel = component(r.report(), "llm").at("/metrics/rel_l2").asDouble();
            assertTrue(rel < 5e-3, c[0] + " rel L2 " + rel);
        }
        Run dora = parity(TestPaths.checkpoint("tiny-llama-lora-dora").toString(), TestPaths.checkpoint("tiny-llama").toString(), "--component", "llm",
                "--base", TestPaths.checkpoint("tiny-llama").toString());
        assertEquals(3, dora.exit());
        assertTrue(dora.err().contains("DoRA") && dora.err().contains("merge-lora"), dora.err());
    }

    @Test
    void scaledQProjFailsAndNamesTheLlm() throws IOException {
        Path bad = ParityFixtures.mergedLlama(tmp.resolve("bad"), Map.of("model.layers.0.self_attn.q_proj.weight", 1.05f));
        Run r = parity(TestPaths.checkpoint("tiny-llama-lora").toString(), bad.toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.err().startsWith("error: parity failed: llm"), r.err());
        assertEquals("FAIL", r.report().get("verdict").asText());
        assertEquals("llm", r.report().at("/failed/0").asText());
        assertTrue(component(r.report(), "llm").at("/metrics/rel_l2").asDouble() > Tolerance.BF16.maxRelL2());
        // Only the LLM exists on both sides; the others are reported as skipped, not failed.
        assertEquals("SKIPPED", component(r.report(), "plip").get("verdict").asText());
    }

    @Test
    void connectorF32AgainstF16PassesWithinFp16Tolerance() throws IOException {
        Path f32 = ParityFixtures.projectorFolder(tmp.resolve("p32"), "xtuner-zero2-bf16-projector-f32.safetensors", DType.F32);
        Path f16 = ParityFixtures.projectorFolder(tmp.resolve("p16"), "xtuner-zero2-bf16-projector-f32.safetensors", DType.F16);
        Run r = parity(f32.toString(), f16.toString(), "--component", "connector");
        assertEquals(0, r.exit(), r.out() + r.err());
        JsonNode c = component(r.report(), "connector");
        assertEquals("fp16", c.at("/tolerance/class").asText());
        assertEquals("float32 vs float16", c.get("dtypes").asText());
        assertTrue(c.at("/metrics/rel_l2").asDouble() > 0, "the F16 copy is not identical");
        assertEquals(List.of("embeddings_ln", "layer.0", "layer.1", "final_norm", "output"),
                c.get("layers").findValuesAsText("name"));
    }

    @Test
    void xtunerCheckpointAgainstItsPthToHfOutputPassesForAllThree() throws IOException {
        Path out = ParityFixtures.pthToHfOutput(tmp.resolve("hf"));
        Run r = parity(TestPaths.checkpoint("xtuner-single.pth").toString(), out.toString(),
                "--vision", TestPaths.checkpoint("tiny-plip").toString(), "--base", TestPaths.checkpoint("tiny-llama").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        for (String comp : new String[] {"plip", "connector", "llm"}) {
            assertEquals("PASS", component(r.report(), comp).get("verdict").asText(), comp + "\n" + r.out());
        }
        assertEquals(16, r.report().at("/inputs/image_tokens").asInt(), "the connector's 16 rows replace <image>");
        assertTrue(r.out().contains("from the checkpoint's config text"), r.out());
    }

    @Test
    void explicitComponentMissingIsBadInput() throws IOException {
        Run r = parity(TestPaths.checkpoint("tiny-llama").toString(), TestPaths.checkpoint("tiny-llama").toString(), "--component", "connector");
        assertEquals(3, r.exit(), r.err());
        assertTrue(r.err().contains("--component connector"), r.err());
    }

    @Test
    void identicalFp32ModelsPassWithZeroError() throws IOException {
        Run r = parity(TestPaths.checkpoint("tiny-plip").toString(), TestPaths.checkpoint("tiny-plip").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        JsonNode v = component(r.report(), "plip");
        assertEquals("fp32", v.at("/tolerance/class").asText());
        assertEquals(0.0, v.at("/metrics/max_abs").asDouble());
        assertEquals(5, v.get("layers").size(), "4 hidden states + the pooled output");
    }

    @Test
    void folderAboveADeepSpeedCheckpointNamesIt() throws IOException {
        Run r = parity(TestPaths.checkpoint("xtuner-zero2-bf16").toString(), TestPaths.checkpoint("tiny-llama").toString());
        assertEquals(3, r.exit(), r.err());
        assertTrue(r.err().contains("DeepSpeed checkpoint iter_8.pth/"), r.err());
    }

    @Test
    void cudaOnTheCpuBuildFailsClearly() throws IOException {
        Run r = parity(TestPaths.checkpoint("tiny-plip").toString(), TestPaths.checkpoint("tiny-plip").toString(), "--device", "cuda");
        assertEquals(3, r.exit(), r.err());
        assertTrue(r.err().contains("--device cuda") && r.err().contains("-Pcuda"), r.err());
        assertEquals(2, parity(TestPaths.checkpoint("tiny-plip").toString(), TestPaths.checkpoint("tiny-plip").toString(), "--component", "nose").exit());
    }

    @Test
    void htmlAndInputsFile() throws IOException {
        Path inputs = tmp.resolve("inputs.json");
        java.nio.file.Files.writeString(inputs, """
                {"image": "%s", "question": "<image>\\nIs this tumour?", "greedy_tokens": 4}
                """.formatted(TestPaths.checkpoint("images").resolve("tissue-61x47.png").toString().replace("\\", "/")));
        Path html = tmp.resolve("r.html");
        Path out = ParityFixtures.pthToHfOutput(tmp.resolve("hf"));
        Run r = parity(TestPaths.checkpoint("xtuner-single.pth").toString(), out.toString(), "--vision", TestPaths.checkpoint("tiny-plip").toString(),
                "--base", TestPaths.checkpoint("tiny-llama").toString(), "--inputs", inputs.toString(), "--html", html.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.report().at("/inputs/pixels").asText().contains("tissue-61x47.png"));
        assertEquals(4, component(r.report(), "llm").at("/llm/greedy_reference").size());
        String page = java.nio.file.Files.readString(html);
        assertTrue(page.contains("<svg") && page.contains(ReportHtml.sci(component(r.report(), "connector").at("/metrics/rel_l2").asDouble())));
    }
}
