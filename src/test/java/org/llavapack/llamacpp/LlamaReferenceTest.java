package org.llavapack.llamacpp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.tensor.TensorStore;

/** The test's own Llama forward reproduces the committed PyTorch reference, so it can stand in for it elsewhere. */
class LlamaReferenceTest {
    static LlamaReference tiny() {
        try (TensorStore s = TensorStores.open(TestPaths.checkpoint("tiny-llama"))) {
            return new LlamaReference(s, 64, 160, 2, 4, 2, 16, 512, 500000.0, 1e-5);
        }
    }

    @Test
    void matchesThePyTorchLogitsAndGreedyTokens() {
        LlamaReference ref = tiny();
        try (TensorStore exp = org.llavapack.formats.safetensors.SafetensorsFile.open(TestPaths.checkpoint("expected/llama-logits.safetensors"))) {
            long[] idsL = new long[14];
            for (int i = 0; i < 14; i++) idsL[i] = exp.tensor("input_ids").getLong(i);
            int[] ids = java.util.Arrays.stream(idsL).mapToInt(l -> (int) l).toArray();
            float[] logits = exp.tensor("logits").toFloatArray();
            float[][] mine = ref.forward(ids);
            double maxDiff = 0;
            for (int p = 0; p < 14; p++) for (int v = 0; v < 512; v++) maxDiff = Math.max(maxDiff, Math.abs(mine[p][v] - logits[p * 512 + v]));
            assertTrue(maxDiff < 1e-4, "max |Δlogit| " + maxDiff);
            int[] greedy = new int[16];
            for (int i = 0; i < 16; i++) greedy[i] = (int) exp.tensor("greedy").getLong(i);
            assertArrayEquals(greedy, ref.greedy(ids, 16).ids());
        }
    }
}
