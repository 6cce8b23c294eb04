package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.convert.gguf.Fixtures;
import org.llavapack.formats.TensorStores;
import org.llavapack.tensor.TensorStore;

/**
 * A flipped byte in a safetensors file has no checksum to catch it (the format has none; a bundle's manifest and
 * SHA256SUMS do, see BundleCliIT), so parity is what reports it (issue #9): the tiny Llama against a copy with one
 * exponent bit flipped in one weight fails the LLM comparison (exit 1), while an untouched copy passes (exit 0).
 */
class CorruptionParityIT {
    @TempDir
    Path tmp;

    @Test
    void parityReportsAFlippedWeightByte() throws Exception {
        Path tiny = TestPaths.checkpoint("tiny-llama");
        Path same = Fixtures.copyDir(tiny, tmp.resolve("same")), flipped = Fixtures.copyDir(tiny, tmp.resolve("flipped"));
        String name = "model.layers.0.self_attn.q_proj.weight";
        TensorStore.FileRegion region;
        try (TensorStore s = TensorStores.open(flipped)) {
            region = s.region(name).orElseThrow();
        }
        long at = region.offset() + 2 * 37 + 1; // high byte of bf16 element 37: bit 0x40 is the exponent's top bit
        try (FileChannel ch = FileChannel.open(region.file(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x40)).rewind();
            ch.write(b, at);
        }
        var ok = CliRunner.run("parity", tiny.toString(), same.toString(), "--component", "llm");
        assertEquals(0, ok.exit(), ok.stdout() + ok.stderr());
        var bad = CliRunner.run("parity", tiny.toString(), flipped.toString(), "--component", "llm");
        assertEquals(1, bad.exit(), bad.stdout() + bad.stderr());
        assertTrue(bad.stderr().contains("llm") || bad.stdout().contains("FAIL"), bad.stdout() + bad.stderr());
        System.out.println("flipped weight byte, parity: " + bad.stderr().strip());
    }
}
