package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.formats.onnx.proto.OnnxProto;

/** export onnx and parity on ONNX candidates, through bin/llavapack and the shaded jar (onnxruntime from lib/ via the manifest). */
class OnnxCliIT {
    @TempDir
    Path tmp;

    static String ck(String name) {
        return TestPaths.checkpoint(name).toString();
    }

    static void assertPass(CliRunner.Result r, String... components) {
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        for (String c : components) {
            assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith(c) && l.contains("PASS")), c + " PASS in:\n" + r.stdout());
        }
    }

    /** PA-LLaVA end to end: XTuner checkpoint → pth-to-hf → merge-lora into llm/ → export onnx all → parity against the checkpoint. */
    @Test
    void pallavaChainExportsAllComponentsAndPassesParityAgainstTheCheckpoint() throws Exception {
        Path hf = tmp.resolve("hf"), onnx = tmp.resolve("onnx");
        String ckpt = ck("xtuner-zero2-bf16-xattn/iter_8.pth");
        assertEquals(0, CliRunner.run("convert", "pth-to-hf", ckpt, hf.toString()).exit());
        var m = CliRunner.run("merge-lora", ck("tiny-llama"), hf.resolve("llm_adapter").toString(), hf.resolve("llm").toString());
        assertEquals(0, m.exit(), m.stderr());
        // The tiny Q-Former's 4 heads are not hidden/64, and pth-to-hf's projector config.json does not say.
        var e = CliRunner.run("export", "onnx", hf.toString(), onnx.toString(), "--vision", ck("tiny-plip"), "--qformer-heads", "4");
        assertEquals(0, e.exit(), e.stdout() + e.stderr());
        for (String f : new String[] {"vision_encoder.onnx", "vision_encoder.onnx_data", "connector.onnx", "connector.onnx_data", "embed_tokens.onnx",
                "decoder_model_merged.onnx", "decoder_model_merged.onnx_data", "export_config.json", "genai_config.json", "tokenizer.json",
                "preprocessor_config.json"}) {
            assertTrue(Files.isRegularFile(onnx.resolve(f)), f);
        }
        var r = CliRunner.run("parity", ckpt, onnx.toString(), "--vision", ck("tiny-plip"), "--base", ck("tiny-llama"));
        assertPass(r, "plip", "connector", "llm");
    }

    @Test
    void eachComponentPassesParityAgainstItsSourceFolder() {
        Path v = tmp.resolve("v"), c = tmp.resolve("c"), l = tmp.resolve("l");
        assertEquals(0, CliRunner.run("export", "onnx", ck("tiny-plip"), v.toString(), "--component", "vision").exit());
        assertPass(CliRunner.run("parity", ck("tiny-plip"), v.toString(), "--component", "plip"), "plip");
        // A single .onnx file of an export is a candidate too.
        assertPass(CliRunner.run("parity", ck("tiny-plip"), v.resolve("vision_encoder.onnx").toString(), "--component", "plip"), "plip");
        assertEquals(0, CliRunner.run("export", "onnx", ck("tiny-mlp-projector"), c.toString(), "--precision", "fp16").exit());
        assertPass(CliRunner.run("parity", ck("tiny-mlp-projector"), c.toString(), "--component", "connector"), "connector");
        var e = CliRunner.run("export", "onnx", ck("tiny-llama"), l.toString(), "--component", "llm,embed");
        assertEquals(0, e.exit(), e.stderr());
        assertTrue(e.stderr().contains("decoder_model_merged.onnx") || e.stdout().contains("decoder_model_merged.onnx"), e.stdout() + e.stderr());
        assertPass(CliRunner.run("parity", ck("tiny-llama"), l.toString(), "--component", "llm"), "llm");
    }

    /** A weight changed inside the exported data file is caught: exit 1 naming the component. */
    @Test
    void corruptedDecoderWeightFailsParity() throws Exception {
        Path l = tmp.resolve("l");
        assertEquals(0, CliRunner.run("export", "onnx", ck("tiny-llama"), l.toString(), "--component", "llm,embed").exit());
        OnnxProto.ModelProto model = OnnxProto.ModelProto.parseFrom(Files.readAllBytes(l.resolve("decoder_model_merged.onnx")));
        long offset = -1, length = -1;
        for (OnnxProto.TensorProto t : model.getGraph().getInitializerList()) {
            if (!t.getName().equals("model.layers.1.mlp.down_proj.weight")) continue;
            for (OnnxProto.StringStringEntryProto kv : t.getExternalDataList()) {
                if (kv.getKey().equals("offset")) offset = Long.parseLong(kv.getValue());
                if (kv.getKey().equals("length")) length = Long.parseLong(kv.getValue());
            }
        }
        assertTrue(offset >= 0 && length > 0, "down_proj of layer 1 is in the data file");
        try (FileChannel ch = FileChannel.open(l.resolve("decoder_model_merged.onnx_data"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, offset, length);
            b.order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < length / 4; i += 7) b.putFloat(i * 4, b.getFloat(i * 4) * 1.5f);
            b.force();
        }
        var r = CliRunner.run("parity", ck("tiny-llama"), l.toString(), "--component", "llm");
        assertEquals(1, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stderr().startsWith("error: parity failed: llm"), r.stderr());
    }

    @Test
    void badInputsExitThreeWithOneLine() {
        Path hf = tmp.resolve("hf");
        assertEquals(0, CliRunner.run("convert", "pth-to-hf", ck("xtuner-zero2-bf16/iter_8.pth"), hf.toString()).exit());
        var lora = CliRunner.run("export", "onnx", hf.toString(), tmp.resolve("o1").toString(), "--component", "llm", "--base", ck("tiny-llama"));
        assertEquals(2, lora.exit(), "--base is not an export option: " + lora.stderr());
        var unmerged = CliRunner.run("export", "onnx", hf.toString(), tmp.resolve("o2").toString(), "--component", "llm", "--qformer-heads", "4");
        assertEquals(3, unmerged.exit(), unmerged.stderr());
        assertEquals(1, unmerged.stderrLines().size(), unmerged.stderr());
        assertTrue(unmerged.stderr().contains("merge-lora"), unmerged.stderr());
        var missing = CliRunner.run("export", "onnx", ck("tiny-llama"), tmp.resolve("o3").toString(), "--component", "vision");
        assertEquals(3, missing.exit(), missing.stderr());
        assertEquals(1, missing.stderrLines().size(), missing.stderr());
        assertTrue(missing.stderr().startsWith("error: ") && missing.stderr().contains("vision"), missing.stderr());
        assertTrue(!Files.exists(tmp.resolve("o2")) && !Files.exists(tmp.resolve("o3")), "nothing written on failure");
    }
}
