package org.llavapack.parity;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.llavapack.model.Weights;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LlamaNames;
import org.llavapack.model.llama.LlamaNames.Projection;
import org.llavapack.model.llama.RopeScaling;

/**
 * Benchmark (not a test): the parity engine's Llama forward with Llama-3-8B shapes (hidden 4096, intermediate 14336,
 * 32/8 heads, head_dim 128, vocab 128256) but 2 decoder layers, random fp32 weights resident on the engine. The
 * forward's own profile gives the median time of one layer and of final norm + lm_head; a 32-layer forward is
 * extrapolated as head + 32 × layer (no KV cache: a forward over S tokens is what parity runs). Run by
 * bench/parity_llm_8b.sh.
 */
public final class LlamaForwardBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        boolean streamed = args.length > 2 && args[2].equals("streamed");
        int[] seqs = streamed ? new int[] {1, 64} : new int[] {1, 16, 64};
        try (TorchEngine engine = TorchEngine.open("cpu")) {
            TorchEngine.threads(threads);
            Llama m = model(2);
            org.llavapack.tensor.TensorStore store = null;
            if (streamed) {
                // The realistic 8B case on a 24 GB machine: bf16 weights on disk, widened and uploaded layer by layer per forward.
                java.nio.file.Path file = java.nio.file.Path.of(args.length > 3 ? args[3] : "bench/work/llama8b-2layer-bf16.safetensors");
                if (!java.nio.file.Files.exists(file)) {
                    Weights w = m.weights();
                    java.util.List<org.llavapack.tensor.TensorInfo> infos = new java.util.ArrayList<>();
                    for (String n : w.names()) infos.add(w.require(n));
                    org.llavapack.formats.safetensors.SafetensorsWriter.writeFile(file, org.llavapack.formats.safetensors.SafetensorsWriter.PT_METADATA, infos,
                            (info, o) -> {
                                float[] v = w.floats(info.name());
                                o.writeFloats(v, 0, v.length);
                            }, org.llavapack.progress.Progress.NONE);
                }
                store = org.llavapack.formats.TensorStores.open(file);
                m = new Llama(m.config(), Weights.of(store, ""), Optional.empty(), Optional.empty(), file.toString());
            }
            try (LlamaForward f = new LlamaForward(engine, m, streamed ? 0 : Long.MAX_VALUE)) {
                f.forward(LlamaForward.Sequence.ofTokens(new int[] {128000})); // upload + warm-up
                for (int s : seqs) {
                    int[] ids = new int[s];
                    for (int i = 0; i < s; i++) ids[i] = (i * 7919) % 128256;
                    double[] layer = new double[reps * 2], head = new double[reps], total = new double[reps];
                    for (int r = 0; r < reps; r++) {
                        long t0 = System.nanoTime();
                        f.forward(LlamaForward.Sequence.ofTokens(ids));
                        total[r] = (System.nanoTime() - t0) / 1e9;
                        LlamaForward.Profile p = f.lastProfile();
                        layer[2 * r] = p.layerSeconds()[0];
                        layer[2 * r + 1] = p.layerSeconds()[1];
                        head[r] = p.headSeconds();
                    }
                    double l = median(layer), h = median(head), full = h + 32 * l;
                    double layerGflop = 2.0 * s * m.config().layerParameters() / 1e9, headGflop = 2.0 * s * 4096L * 128256 / 1e9;
                    System.out.printf(Locale.ROOT, "seq=%d: one 8B-shaped layer %.3f s (%.1f GFLOP/s), final norm + lm_head %.3f s (%.1f GFLOP/s), "
                                    + "2-layer forward %.3f s; extrapolated 32 layers: %.2f s per forward, %.3f s per token%n",
                            s, l, layerGflop / l, h, headGflop / h, median(total), full, full / s);
                }
            }
            System.out.println((streamed ? "streamed from bf16 safetensors (page cache warm), " : "resident fp32, ") + "threads " + TorchEngine.threads()
                    + ", reps " + reps + ", " + engine.describe());
            if (store != null) store.close();
        }
    }

    static double median(double[] v) {
        double[] c = v.clone();
        java.util.Arrays.sort(c);
        return c[c.length / 2];
    }

    static Llama model(int layers) {
        LlamaConfig c = new LlamaConfig(4096, 14336, layers, 32, 8, 128, 128256, 500000, 1e-5, false,
                Optional.of(new RopeScaling("llama3", 8, 1, 4, 8192)), 128000, List.of(128009));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put(LlamaNames.EMBED, new long[] {c.vocabSize(), c.hiddenSize()});
        for (int i = 0; i < layers; i++) {
            for (Projection p : Projection.values()) {
                long out = switch (p) {
                    case Q, O -> 4096;
                    case K, V -> 1024;
                    case GATE, UP -> 14336;
                    case DOWN -> 4096;
                };
                long in = p == Projection.DOWN ? 14336 : 4096;
                shapes.put(p.weight(i), new long[] {out, in});
            }
            shapes.put(LlamaNames.inputNorm(i), new long[] {4096});
            shapes.put(LlamaNames.postAttentionNorm(i), new long[] {4096});
        }
        shapes.put(LlamaNames.NORM, new long[] {4096});
        shapes.put(LlamaNames.LM_HEAD, new long[] {c.vocabSize(), c.hiddenSize()});
        return new Llama(c, new LazyRandom(shapes), Optional.empty(), Optional.empty(), "random 8B-shaped, " + layers + " layers");
    }

    /** Random values made on demand (uniform ±0.02, norms 1), so no 2 GB arrays sit on the Java heap twice. */
    record LazyRandom(Map<String, long[]> shapes) implements Weights {
        @Override
        public List<String> names() {
            return List.copyOf(shapes.keySet());
        }

        @Override
        public Optional<org.llavapack.tensor.TensorInfo> info(String name) {
            long[] s = shapes.get(name);
            return s == null ? Optional.empty() : Optional.of(new org.llavapack.tensor.TensorInfo(name, org.llavapack.tensor.DType.BF16, s));
        }

        @Override
        public float[] floats(String name) {
            long n = 1;
            for (long d : shapes.get(name)) n *= d;
            float[] v = new float[Math.toIntExact(n)];
            if (name.endsWith("norm.weight")) java.util.Arrays.fill(v, 1f);
            else {
                long x = name.hashCode();
                for (int i = 0; i < v.length; i++) {
                    x = x * 6364136223846793005L + 1442695040888963407L;
                    v[i] = ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.04f;
                }
            }
            return v;
        }

        @Override
        public float[] rows(String name, long from, int count) {
            float[] v = new float[count * (int) shapes.get(name)[1]];
            for (int i = 0; i < v.length; i++) v[i] = ((i * 2654435761L + from) % 1000) / 25000f - 0.02f;
            return v;
        }

        @Override
        public String describe() {
            return "random";
        }
    }
}
