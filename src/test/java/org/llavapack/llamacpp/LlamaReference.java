package org.llavapack.llamacpp;

import java.util.HashMap;
import java.util.Map;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A plain fp32 Llama forward pass with Hugging Face semantics (rotate-half RoPE on HF-ordered q/k weights, GQA,
 * RMSNorm, SwiGLU), written for tests: no KV cache, double accumulators. Optionally applies a LoRA adapter unmerged
 * ({@code W x + s·B(A x)}). It is the reference llama.cpp's greedy choices are compared with.
 */
public final class LlamaReference {
    final int hidden, inter, layers, heads, kvHeads, headDim, vocab;
    final double theta, eps;
    final Map<String, float[]> w = new HashMap<>();
    final Map<String, long[]> shapes = new HashMap<>();
    final Map<String, float[][]> lora = new HashMap<>(); // module -> {A, B}
    final Map<String, Double> loraScale = new HashMap<>();

    public LlamaReference(TensorStore store, int hidden, int inter, int layers, int heads, int kvHeads, int headDim, int vocab,
                          double theta, double eps) {
        this.hidden = hidden;
        this.inter = inter;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.vocab = vocab;
        this.theta = theta;
        this.eps = eps;
        for (TensorInfo t : store.tensors()) {
            w.put(t.name(), store.tensor(t.name()).toFloatArray());
            shapes.put(t.name(), t.shape());
        }
    }

    /** Adds an adapter module ({@code model.layers.0.self_attn.q_proj}) with A [r, in], B [out, r] and scale s. */
    public void addLora(String module, float[] a, float[] b, double scale) {
        lora.put(module, new float[][] {a, b});
        loraScale.put(module, scale);
    }

    private float[] linear(String module, float[] x) {
        float[] W = w.get(module + ".weight");
        long[] s = shapes.get(module + ".weight");
        int out = (int) s[0], in = (int) s[1];
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int i = 0; i < in; i++) acc += (double) W[o * in + i] * x[i];
            y[o] = (float) acc;
        }
        float[][] ab = lora.get(module);
        if (ab != null) {
            int r = ab[0].length / in;
            double[] ax = new double[r];
            for (int k = 0; k < r; k++) {
                double acc = 0;
                for (int i = 0; i < in; i++) acc += (double) ab[0][k * in + i] * x[i];
                ax[k] = acc;
            }
            double sc = loraScale.get(module);
            for (int o = 0; o < out; o++) {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += ab[1][o * r + k] * ax[k];
                y[o] = (float) (y[o] + sc * acc);
            }
        }
        return y;
    }

    private float[] rms(float[] x, float[] weight) {
        double ss = 0;
        for (float v : x) ss += (double) v * v;
        float inv = (float) (1.0 / Math.sqrt(ss / x.length + eps));
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = weight[i] * (x[i] * inv);
        return y;
    }

    /** HF rotate_half RoPE on one head vector in place. */
    private void rope(float[] v, int off, int pos) {
        int half = headDim / 2;
        float[] tmp = new float[headDim];
        for (int i = 0; i < half; i++) {
            double invFreq = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
            double ang = pos * invFreq;
            double c = Math.cos(ang), s = Math.sin(ang);
            double x1 = v[off + i], x2 = v[off + i + half];
            tmp[i] = (float) (x1 * c - x2 * s);
            tmp[i + half] = (float) (x2 * c + x1 * s);
        }
        System.arraycopy(tmp, 0, v, off, headDim);
    }

    /** Logits for every position of {@code ids}. */
    public float[][] forward(int[] ids) {
        return forward(ids, false);
    }

    /** Logits for every position of {@code ids}, or only the last one (the others null). */
    public float[][] forward(int[] ids, boolean lastOnly) {
        int n = ids.length;
        float[][] x = new float[n][];
        float[] emb = w.get("model.embed_tokens.weight");
        for (int p = 0; p < n; p++) {
            x[p] = new float[hidden];
            System.arraycopy(emb, ids[p] * hidden, x[p], 0, hidden);
        }
        int group = heads / kvHeads;
        for (int l = 0; l < layers; l++) {
            String pre = "model.layers." + l + ".";
            float[][] q = new float[n][], k = new float[n][], v = new float[n][];
            for (int p = 0; p < n; p++) {
                float[] h = rms(x[p], w.get(pre + "input_layernorm.weight"));
                q[p] = linear(pre + "self_attn.q_proj", h);
                k[p] = linear(pre + "self_attn.k_proj", h);
                v[p] = linear(pre + "self_attn.v_proj", h);
                for (int hd = 0; hd < heads; hd++) rope(q[p], hd * headDim, p);
                for (int hd = 0; hd < kvHeads; hd++) rope(k[p], hd * headDim, p);
            }
            for (int p = 0; p < n; p++) {
                float[] ctx = new float[heads * headDim];
                for (int hd = 0; hd < heads; hd++) {
                    int kvh = hd / group;
                    double[] sc = new double[p + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t <= p; t++) {
                        double dot = 0;
                        for (int i = 0; i < headDim; i++) dot += (double) q[p][hd * headDim + i] * k[t][kvh * headDim + i];
                        sc[t] = dot / Math.sqrt(headDim);
                        max = Math.max(max, sc[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t <= p; t++) sum += sc[t] = Math.exp(sc[t] - max);
                    for (int i = 0; i < headDim; i++) {
                        double acc = 0;
                        for (int t = 0; t <= p; t++) acc += sc[t] / sum * v[t][kvh * headDim + i];
                        ctx[hd * headDim + i] = (float) acc;
                    }
                }
                float[] o = linear(pre + "self_attn.o_proj", ctx);
                for (int i = 0; i < hidden; i++) x[p][i] += o[i];
            }
            for (int p = 0; p < n; p++) {
                float[] h = rms(x[p], w.get(pre + "post_attention_layernorm.weight"));
                float[] g = linear(pre + "mlp.gate_proj", h), u = linear(pre + "mlp.up_proj", h);
                for (int i = 0; i < g.length; i++) g[i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
                float[] d = linear(pre + "mlp.down_proj", g);
                for (int i = 0; i < hidden; i++) x[p][i] += d[i];
            }
        }
        float[][] logits = new float[n][];
        String head = w.containsKey("lm_head.weight") ? "lm_head" : "model.embed_tokens";
        for (int p = lastOnly ? n - 1 : 0; p < n; p++) {
            float[] h = rms(x[p], w.get("model.norm.weight"));
            logits[p] = linear(head, h);
        }
        return logits;
    }

    public record Greedy(int[] ids, float[] margins) {
        public float minMargin() {
            float m = Float.MAX_VALUE;
            for (float f : margins) m = Math.min(m, f);
            return m;
        }
    }

    /** Greedy continuation of {@code prompt} for {@code steps} tokens, with each step's top-1/top-2 gap. */
    public Greedy greedy(int[] prompt, int steps) {
        int[] seq = java.util.Arrays.copyOf(prompt, prompt.length + steps);
        int[] out = new int[steps];
        float[] margins = new float[steps];
        for (int s = 0; s < steps; s++) {
            float[][] lg = forward(java.util.Arrays.copyOf(seq, prompt.length + s), true);
            float[] last = lg[lg.length - 1];
            int best = 0;
            for (int i = 1; i < last.length; i++) if (last[i] > last[best]) best = i;
            float second = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < last.length; i++) if (i != best) second = Math.max(second, last[i]);
            out[s] = best;
            margins[s] = last[best] - second;
            seq[prompt.length + s] = best;
        }
        return new Greedy(out, margins);
    }
}
