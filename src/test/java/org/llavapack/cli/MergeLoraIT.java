package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorStore;

/** merge-lora end to end through bin/llavapack and the shaded jar. */
class MergeLoraIT {

    @TempDir
    Path tmp;

    private static String ckpt(String name) {
        return TestPaths.checkpoint(name).toString();
    }

    @Test
    void mergesIntoACompleteFolder() throws IOException {
        Path out = tmp.resolve("merged");
        var r = CliRunner.run("merge-lora", ckpt("tiny-llama"), ckpt("tiny-llama-lora"), out.toString(), "--max-shard-size", "200KB", "--threads", "2");
        assertEquals(0, r.exit(), r.stderr());
        assertEquals("", r.stdout());
        assertTrue(r.stderr().contains("merged 14 LoRA target(s)"), r.stderr());
        for (String f : new String[] {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        try (TensorStore merged = TensorStores.open(out);
             TensorStore expected = TensorStores.open(TestPaths.checkpoint("expected").resolve("merged-lora.safetensors"))) {
            assertEquals(21, merged.tensors().size());
            for (var t : expected.tensors()) {
                Tensor e = expected.tensor(t.name()), m = merged.tensor(t.name());
                for (long i = 0; i < e.numel(); i++) {
                    float a = e.getFloat(i), b = m.getFloat(i);
                    assertTrue(a == b || Math.abs(a - b) <= Math.ulp(a) * 65536f, t.name() + "[" + i + "]: " + b + " vs " + a);
                }
            }
        }
        var inspect = CliRunner.run("inspect", "--stats", out.toString());
        assertEquals(0, inspect.exit(), inspect.stderr());
        assertTrue(inspect.stdout().lines().anyMatch(l -> l.startsWith("total: 21 tensors")), inspect.stdout());

        var again = CliRunner.run("merge-lora", ckpt("tiny-llama"), ckpt("tiny-llama-lora"), out.toString());
        assertEquals(4, again.exit());
        assertTrue(again.stderr().contains("already exists"), again.stderr());
        var forced = CliRunner.run("merge-lora", "--quiet", "--force", ckpt("tiny-llama"), ckpt("tiny-llama-lora-dora"), out.toString());
        assertEquals(0, forced.exit(), forced.stderr());
        assertEquals("", forced.stderr().strip(), "--quiet prints nothing when all is well");
    }

    @Test
    void sameInputsSameBytes() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        assertEquals(0, CliRunner.run("merge-lora", "-q", ckpt("tiny-conv1d-base"), ckpt("tiny-conv1d-lora"), a.toString()).exit());
        assertEquals(0, CliRunner.run("merge-lora", "-q", "--threads", "1", ckpt("tiny-conv1d-base"), ckpt("tiny-conv1d-lora"), b.toString()).exit());
        try (Stream<Path> files = Files.list(a)) {
            for (Path f : files.toList()) assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(b.resolve(f.getFileName().toString())), f.toString());
        }
    }

    @Test
    void badAdapterIsOneLineExitThree() throws IOException {
        Path adapter = tmp.resolve("bad-adapter");
        Files.createDirectories(adapter);
        Path src = TestPaths.checkpoint("tiny-llama-lora");
        Files.copy(src.resolve("adapter_model.safetensors"), adapter.resolve("adapter_model.safetensors"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(src.resolve("adapter_config.json").toFile());
        config.put("r", 16);
        json.writeValue(adapter.resolve("adapter_config.json").toFile(), config);
        Path out = tmp.resolve("never");
        var r = CliRunner.run("merge-lora", ckpt("tiny-llama"), adapter.toString(), out.toString());
        assertEquals(3, r.exit(), r.stderr());
        assertEquals(1, r.stderrLines().size(), r.stderr());
        String line = r.stderrLines().getFirst();
        assertTrue(line.startsWith("error: " + adapter.resolve("adapter_model.safetensors") + ": rank mismatch"), line);
        assertTrue(line.contains("gives r=16"), line);
        assertFalse(Files.exists(out), "no output folder on failure");
        try (Stream<Path> left = Files.list(tmp)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().contains("llavapack-tmp")), "no temporary left behind");
        }
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, CliRunner.run("merge-lora", ckpt("tiny-llama"), ckpt("tiny-llama-lora")).exit());
        assertEquals(2, CliRunner.run("merge-lora", "--dtype", "int8", ckpt("tiny-llama"), ckpt("tiny-llama-lora"), tmp.resolve("x").toString()).exit());
        assertEquals(2, CliRunner.run("merge-lora", "--threads", "0", ckpt("tiny-llama"), ckpt("tiny-llama-lora"), tmp.resolve("x").toString()).exit());
        var help = CliRunner.run("--help");
        assertTrue(help.stdout().contains("merge-lora"), help.stdout());
    }
}
