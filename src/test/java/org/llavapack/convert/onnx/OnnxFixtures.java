package org.llavapack.convert.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.Random;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.Weights;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;

/** Fixture folders and comparison helpers for the ONNX tests. */
final class OnnxFixtures {
    private OnnxFixtures() {}

    /**
     * A Q-Former projector folder as pth-to-hf writes it, from the committed PyTorch-made projector weights
     * ({@code expected/xtuner-zero2-bf16[-xattn]-projector-f32.safetensors}), with the tiny BERT's head count.
     */
    static Path qformerFolder(Path out, boolean crossAttention) throws IOException {
        String file = crossAttention ? "xtuner-zero2-bf16-xattn-projector-f32.safetensors" : "xtuner-zero2-bf16-projector-f32.safetensors";
        Files.createDirectories(out);
        Files.copy(TestPaths.checkpoint("expected").resolve(file), out.resolve("model.safetensors"));
        Files.writeString(out.resolve("config.json"), """
                {
                  "architectures": ["QFormerProjectorModel"],
                  "model_type": "q_former_projector",
                  "visual_hidden_size": 32,
                  "llm_hidden_size": 64,
                  "depth": 1,
                  "hidden_act": "gelu",
                  "bias": true,
                  "num_hidden_layers": 2,
                  "num_attention_heads": 4,
                  "torch_dtype": "float32"
                }
                """, StandardCharsets.UTF_8);
        return out;
    }

    static QFormer qformer(Path folder) {
        Weights w = Weights.of(TensorStores.open(folder), "");
        QFormerConfig cfg = QFormerConfig.detect(w, OptionalInt.of(4), OptionalDouble.empty(), folder.toString());
        return new QFormer(cfg, MlpProjector.detect(w, "model.mlp.", "gelu", folder.toString()), w, folder.toString());
    }

    static float[] normals(int n, long seed) {
        Random r = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) r.nextGaussian();
        return out;
    }

    /** {@code [B, N, d]} features with a zero class-token row prepended per batch element: {@code [B, 1+N, d]}. */
    static float[] withClassRow(float[] features, int batch, int tokens, int d) {
        float[] out = new float[batch * (tokens + 1) * d];
        for (int b = 0; b < batch; b++) System.arraycopy(features, b * tokens * d, out, (b * (tokens + 1) + 1) * d, tokens * d);
        return out;
    }

    /** Per element {@code |a − r| ≤ atol + rtol·|r|} (spec §7's fp32 rule with atol = rtol = 1e-4). */
    static void assertClose(float[] ref, float[] actual, double atol, double rtol, String what) {
        assertEquals(ref.length, actual.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs(ref[i] - actual[i]);
            assertTrue(Double.isFinite(actual[i]), what + ": non-finite value at " + i);
            worst = Math.max(worst, d);
            if (d > atol + rtol * Math.abs(ref[i])) {
                throw new AssertionError(String.format(Locale.ROOT, "%s: element %d is %.7g, reference %.7g (|Δ| %.3e)", what, i, actual[i], ref[i], d));
            }
        }
        System.out.printf(Locale.ROOT, "max |delta| %-40s %.3e%n", what, worst);
    }

    /** Relative L2 error {@code ‖a − r‖ / ‖r‖}. */
    static double relL2(float[] ref, float[] actual) {
        assertEquals(ref.length, actual.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = ref[i] - actual[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    static void assertRelL2(float[] ref, float[] actual, double max, String what) {
        double e = relL2(ref, actual);
        System.out.printf(Locale.ROOT, "rel L2 %-45s %.3e%n", what, e);
        assertTrue(e <= max, () -> what + ": relative L2 " + e + " > " + max);
    }
}
