package org.llavapack.convert.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/**
 * Debian's python3-onnx (1.12) checker on every kind of exported file (src/test/resources/onnx/check_onnx.py).
 * It cannot check everything: it knows IR ≤ 8 and opsets ≤ 17 (the IR stamp is lowered in memory), ReduceMean's
 * opset-18 form and onnxruntime's contrib ops (GroupQueryAttention, MatMulNBits) have no schema there. The test
 * requires every other node to pass, only those to be left unchecked, and the full model check (structure, external
 * data, strict shape inference) to pass for the files without them: vision encoder, connectors, embedding.
 */
class OnnxCheckerTest {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    @TempDir
    static Path tmp;

    @BeforeAll
    static void needPythonOnnx() throws Exception {
        String why = null;
        if (!Files.isExecutable(PYTHON)) why = "/usr/bin/python3 is missing";
        else if (new ProcessBuilder(PYTHON.toString(), "-c", "import onnx").start().waitFor() != 0) why = "python3-onnx is not installed (apt-get install python3-onnx)";
        if (why != null) {
            System.err.println("\n!!!!! OnnxCheckerTest SKIPPED: " + why + ": the exported files were NOT checked with onnx.checker !!!!!\n");
            Assumptions.abort(why);
        }
    }

    static JsonNode check(Path model) throws Exception {
        Path script = TestPaths.repo().resolve("src/test/resources/onnx/check_onnx.py");
        Process p = new ProcessBuilder(PYTHON.toString(), script.toString(), model.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "checker timed out");
        assertEquals(0, p.exitValue(), out);
        JsonNode r = new ObjectMapper().readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
        System.out.println(model.getFileName() + ": " + r);
        assertEquals(0, r.get("errors").size(), model + ": " + r.get("errors"));
        return r;
    }

    static Path export(String model, String out, Precision p, Component... cs) {
        return OnnxExport.run(TestPaths.checkpoint(model), tmp.resolve(out), EnumSet.copyOf(List.of(cs)), p, false).outDir();
    }

    static void assertFullyChecked(JsonNode r, String what) {
        assertEquals(0, r.get("unchecked").size(), what + ": " + r.get("unchecked"));
        assertEquals("ok", r.get("full_check").asText(), what);
        assertEquals(r.get("nodes").asInt(), r.get("checked").asInt(), what);
    }

    @Test
    void encoderConnectorsAndEmbeddingPassTheFullCheck() throws Exception {
        assertFullyChecked(check(export("tiny-plip", "v", Precision.FP16, Component.VISION).resolve("vision_encoder.onnx")), "vision fp16");
        assertFullyChecked(check(export("tiny-mlp-projector", "c", Precision.FP32, Component.CONNECTOR).resolve("connector.onnx")), "mlp projector");
        Path q = OnnxFixtures.qformerFolder(tmp.resolve("qf"), true);
        Path qo = OnnxExport.run(q, tmp.resolve("qo"), EnumSet.of(Component.CONNECTOR), Precision.FP32, false).outDir();
        assertFullyChecked(check(qo.resolve("connector.onnx")), "qformer with cross-attention");
        assertFullyChecked(check(export("tiny-llama", "e", Precision.FP16, Component.EMBED).resolve("embed_tokens.onnx")), "embed fp16");
    }

    @Test
    void decoderNodesPassExceptWhatOnnx112CannotKnow() throws Exception {
        for (Precision p : new Precision[] {Precision.FP32, Precision.INT4_ASYMMETRIC}) {
            JsonNode r = check(export("tiny-llama", "d-" + p, p, Component.LLM).resolve("decoder_model_merged.onnx"));
            Set<String> ops = new TreeSet<>();
            r.get("unchecked").forEach(u -> ops.add(u.get("op").asText()));
            Set<String> expected = p.isInt4() ? Set.of("GroupQueryAttention", "MatMulNBits", "ReduceMean") : Set.of("GroupQueryAttention", "ReduceMean");
            assertEquals(new TreeSet<>(expected), ops, p + ": unchecked op types");
            assertTrue(r.get("checked").asInt() > r.get("unchecked").size(), "most nodes are checked");
        }
    }
}
