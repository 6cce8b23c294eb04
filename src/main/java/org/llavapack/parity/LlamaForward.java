package org.llavapack.parity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.model.Weights;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LlamaNames;
import org.llavapack.model.llama.LlamaNames.Projection;
import org.llavapack.model.llama.LoraAdapter;

/**
 * HF {@code LlamaForCausalLM} forward in fp32 (no KV cache: each call runs the whole sequence, as the references do):
 * embedding lookup (or spliced image rows), per layer RMSNorm → q/k/v → RoPE (rotate_half layout, rope_theta and
 * rope_scaling) → grouped-query causal attention → o_proj → residual → RMSNorm → SwiGLU → residual, final norm,
 * lm_head. LoRA is applied unmerged: {@code W x + s · B (A x)}.
 *
 * <p>Weights live on the engine as fp32 arrays when the whole model fits {@code maxResidentBytes}; otherwise each
 * layer is widened and uploaded when it is reached and freed after it, and matrices larger than {@link #CHUNK_FLOATS}
 * go up in row blocks, so an 8B model runs in bounded memory (slowly: every call re-reads the weights).
 */
public final class LlamaForward implements LlmRunner {
    /** The placeholder id XTuner puts where image rows go ({@code IMAGE_TOKEN_INDEX}). */
    public static final int IMAGE_TOKEN = -200;
    static final long CHUNK_FLOATS = 1L << 26;

    private final TorchEngine engine;
    private final Llama model;
    private final LlamaConfig c;
    private final boolean resident;
    private final NDManager residentManager;
    private final Map<String, NDArray> cache = new HashMap<>();
    private final float[] invFreq;

    /** A prompt: token ids with {@link #IMAGE_TOKEN} where {@code imageRows} ({@code [n, hidden]}) are spliced in. */
    public record Sequence(int[] tokens, float[] imageRows, int imageTokens) {
        public static Sequence ofTokens(int[] tokens) {
            return new Sequence(tokens, null, 0);
        }

        public int length() {
            int n = 0;
            for (int t : tokens) n += t == IMAGE_TOKEN ? imageTokens : 1;
            return n;
        }

        public Sequence append(int token) {
            int[] t = java.util.Arrays.copyOf(tokens, tokens.length + 1);
            t[tokens.length] = token;
            return new Sequence(t, imageRows, imageTokens);
        }
    }

    /**
     * @param logits {@code [S, vocab]} for batch element 0
     * @param hiddenStates {@code embeddings}, {@code layer.i} (residual stream after layer i) and {@code final_norm}, each {@code [S, hidden]}
     */
    public record Output(int seq, int vocab, float[] logits, Map<String, float[]> hiddenStates) {
        public float[] finalHidden() {
            return hiddenStates.get("final_norm");
        }

        public int argmax(int position) {
            int best = 0;
            for (int v = 1; v < vocab; v++) if (logits[position * vocab + v] > logits[position * vocab + best]) best = v;
            return best;
        }
    }

    /** Wall time of the last forward's parts, for benchmarks: CPU ops run eagerly, so the clock brackets real work. */
    public record Profile(double[] layerSeconds, double headSeconds) {}

    private Profile lastProfile;

    public Profile lastProfile() {
        return lastProfile;
    }

    public LlamaForward(TorchEngine engine, Llama model, long maxResidentBytes) {
        this.engine = engine;
        this.model = model;
        this.c = model.config();
        long params = (long) c.layers() * c.layerParameters() + 2L * c.vocabSize() * c.hiddenSize();
        this.resident = params * 4 <= maxResidentBytes;
        this.residentManager = engine.manager().newSubManager();
        this.invFreq = c.inverseFrequencies();
    }

    /** Default residency limit: 4 GiB of fp32 weights (the tiny and small models stay on the engine). */
    public LlamaForward(TorchEngine engine, Llama model) {
        this(engine, model, Long.getLong("llavapack.parity.maxResidentBytes", 4L << 30));
    }

    public boolean resident() {
        return resident;
    }

    /** Batch of one, with optional image rows. */
    public Output forward(Sequence seq) {
        try (NDManager m = engine.manager().newSubManager()) {
            NDArray x = m.create(embed(seq), new Shape(1, seq.length(), c.hiddenSize()));
            return run(m, x, true).getFirst();
        }
    }

    /** A batch of equal-length token sequences; one Output per row. */
    public List<Output> forwardBatch(int[][] tokens) {
        int b = tokens.length, s = tokens[0].length;
        float[] emb = new float[b * s * c.hiddenSize()];
        for (int i = 0; i < b; i++) {
            if (tokens[i].length != s) throw new IllegalArgumentException("batch rows must have equal length");
            System.arraycopy(embed(Sequence.ofTokens(tokens[i])), 0, emb, i * s * c.hiddenSize(), s * c.hiddenSize());
        }
        try (NDManager m = engine.manager().newSubManager()) {
            return run(m, m.create(emb, new Shape(b, s, c.hiddenSize())), false);
        }
    }

    /** Greedy decoding for {@code steps} tokens (no EOS stop, so two models can be compared token by token). */
    public int[] greedy(Sequence prompt, int steps) {
        int[] out = new int[steps];
        Sequence s = prompt;
        for (int i = 0; i < steps; i++) {
            Output o = forward(s);
            out[i] = o.argmax(o.seq() - 1);
            s = s.append(out[i]);
        }
        return out;
    }

    /** Embedding rows in Java (only the rows needed are read), image rows spliced at the placeholder. */
    float[] embed(Sequence seq) {
        int h = c.hiddenSize();
        float[] out = new float[seq.length() * h];
        int pos = 0;
        for (int t : seq.tokens()) {
            if (t == IMAGE_TOKEN) {
                if (seq.imageRows() == null) throw new IllegalArgumentException("the prompt has an image placeholder but no image rows");
                System.arraycopy(seq.imageRows(), 0, out, pos * h, seq.imageTokens() * h);
                pos += seq.imageTokens();
            } else {
                if (t < 0 || t >= c.vocabSize()) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary (" + c.vocabSize() + ")");
                System.arraycopy(model.weights().rows(LlamaNames.EMBED, t, 1), 0, out, pos * h, h);
                pos++;
            }
        }
        return out;
    }

    private List<Output> run(NDManager m, NDArray x, boolean keepHidden) {
        long b = x.getShape().get(0);
        int s = (int) x.getShape().get(1);
        Map<String, float[]> hidden = new java.util.LinkedHashMap<>();
        if (keepHidden) hidden.put("embeddings", x.toFloatArray());
        NDArray[] cosSin = rope(m, s);
        float[] causal = new float[s * s];
        for (int i = 0; i < s; i++) for (int j = i + 1; j < s; j++) causal[i * s + j] = Float.NEGATIVE_INFINITY;
        NDArray mask = m.create(causal, new Shape(1, 1, s, s));
        double scale = Math.pow(c.headDim(), -0.5);
        int rep = c.heads() / c.kvHeads();
        double[] layerSeconds = new double[c.layers()];
        for (int i = 0; i < c.layers(); i++) {
            long t0 = System.nanoTime();
            try (NDManager lm = m.newSubManager()) {
                x.attach(lm);
                NDArray h = Nd.rmsNorm(x, w(lm, LlamaNames.inputNorm(i)), c.rmsNormEps());
                NDArray q = rotary(Nd.splitHeads(proj(lm, h, Projection.Q, i), c.heads()), cosSin);
                NDArray k = rotary(Nd.splitHeads(proj(lm, h, Projection.K, i), c.kvHeads()), cosSin);
                NDArray v = Nd.splitHeads(proj(lm, h, Projection.V, i), c.kvHeads());
                k = repeatKv(k, rep);
                v = repeatKv(v, rep);
                NDArray ctx = Nd.mergeHeads(Nd.attention(q, k, v, scale, false, mask));
                x = x.add(proj(lm, ctx, Projection.O, i));
                h = Nd.rmsNorm(x, w(lm, LlamaNames.postAttentionNorm(i)), c.rmsNormEps());
                NDArray act = Nd.silu(proj(lm, h, Projection.GATE, i)).mul(proj(lm, h, Projection.UP, i));
                x = x.add(proj(lm, act, Projection.DOWN, i));
                x.attach(m);
            }
            if (keepHidden) hidden.put("layer." + i, x.toFloatArray());
            layerSeconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        long th = System.nanoTime();
        NDArray fin = Nd.rmsNorm(x, w(m, LlamaNames.NORM), c.rmsNormEps());
        NDArray logits = lmHead(m, fin);
        float[] all = logits.toFloatArray();
        lastProfile = new Profile(layerSeconds, (System.nanoTime() - th) / 1e9);
        float[] fh = fin.toFloatArray();
        List<Output> outs = new ArrayList<>();
        int v = c.vocabSize(), hs = c.hiddenSize();
        for (int r = 0; r < b; r++) {
            Map<String, float[]> hid = r == 0 && keepHidden ? hidden : new java.util.LinkedHashMap<>();
            hid.put("final_norm", java.util.Arrays.copyOfRange(fh, r * s * hs, (r + 1) * s * hs));
            outs.add(new Output(s, v, java.util.Arrays.copyOfRange(all, r * s * v, (r + 1) * s * v), hid));
        }
        return outs;
    }

    /** HF's repeat_kv: each KV head serves {@code rep} consecutive query heads. */
    private static NDArray repeatKv(NDArray kv, int rep) {
        if (rep == 1) return kv;
        Shape s = kv.getShape();
        return kv.expandDims(2).broadcast(s.get(0), s.get(1), rep, s.get(2), s.get(3)).reshape(s.get(0), s.get(1) * rep, s.get(2), s.get(3));
    }

    /** cos/sin tables {@code [S, head_dim]}: fp32 {@code position · inv_freq}, duplicated (rotate_half layout). */
    private NDArray[] rope(NDManager m, int s) {
        int d = c.headDim(), half = d / 2;
        float[] cos = new float[s * d], sin = new float[s * d];
        for (int p = 0; p < s; p++) {
            for (int i = 0; i < half; i++) {
                float f = (float) p * invFreq[i];
                cos[p * d + i] = cos[p * d + half + i] = (float) Math.cos(f);
                sin[p * d + i] = sin[p * d + half + i] = (float) Math.sin(f);
            }
        }
        return new NDArray[] {m.create(cos, new Shape(s, d)), m.create(sin, new Shape(s, d))};
    }

    /** {@code x · cos + rotate_half(x) · sin} with {@code rotate_half(x) = cat(−x₂, x₁)}. */
    private NDArray rotary(NDArray x, NDArray[] cosSin) {
        long half = c.headDim() / 2;
        int last = x.getShape().dimension() - 1;
        NDList parts = x.split(new long[] {half}, last);
        NDArray rot = parts.get(1).neg().concat(parts.get(0), last);
        return x.mul(cosSin[0]).add(rot.mul(cosSin[1]));
    }

    private NDArray proj(NDManager lm, NDArray x, Projection p, int layer) {
        NDArray y = linearChunked(lm, x, p.weight(layer));
        Optional<LoraAdapter.Module> mod = model.lora().flatMap(l -> l.module(p.module(layer)));
        if (mod.isPresent()) {
            LoraAdapter l = model.lora().get();
            NDArray aT = transposed(lm, l.weights(), mod.get().a(), "lora:");
            NDArray bT = transposed(lm, l.weights(), mod.get().b(), "lora:");
            y = y.add(x.matMul(aT).matMul(bT).mul((float) mod.get().scale()));
        }
        return y;
    }

    private NDArray lmHead(NDManager m, NDArray fin) {
        if (model.lora().isPresent() && model.lora().get().lmHead().isPresent()) {
            LoraAdapter l = model.lora().get();
            return fin.matMul(transposed(m, l.weights(), l.lmHead().get(), "lora:"));
        }
        return linearChunked(m, fin, LlamaNames.lmHead(c));
    }

    /** {@code x Wᵀ}, uploading W in row blocks when it is large and not resident. */
    private NDArray linearChunked(NDManager m, NDArray x, String name) {
        Weights w = model.weights();
        long[] shape = w.shape(name);
        long cols = shape[1];
        if (resident || shape[0] * cols <= CHUNK_FLOATS) return x.matMul(transposed(m, w, name, ""));
        int rowsPerChunk = (int) Math.max(1, CHUNK_FLOATS / cols);
        NDList parts = new NDList();
        for (long r = 0; r < shape[0]; r += rowsPerChunk) {
            int n = (int) Math.min(rowsPerChunk, shape[0] - r);
            try (NDManager cm = m.newSubManager()) {
                NDArray wc = cm.create(w.rows(name, r, n), new Shape(n, cols));
                NDArray y = x.matMul(wc.transpose());
                y.attach(m);
                parts.add(y);
            }
        }
        return NDArrays.concat(parts, x.getShape().dimension() - 1);
    }

    private NDArray w(NDManager m, String name) {
        return get(m, model.weights(), name, "");
    }

    /** A weight from the resident cache, or uploaded into {@code m} for this use only. */
    private NDArray get(NDManager m, Weights w, String name, String ns) {
        if (!resident) return Nd.weight(m, w, name);
        return cache.computeIfAbsent(ns + name, k -> Nd.weight(residentManager, w, name));
    }

    /**
     * {@code Wᵀ} as a view; cached when resident, so repeated calls do not pile up view handles in the resident
     * manager (a DJL result belongs to its first operand's manager).
     */
    private NDArray transposed(NDManager m, Weights w, String name, String ns) {
        if (!resident) return Nd.weight(m, w, name).transpose();
        NDArray t = cache.get("T:" + ns + name);
        if (t == null) {
            t = get(m, w, name, ns).transpose();
            cache.put("T:" + ns + name, t);
        }
        return t;
    }

    @Override
    public void close() {
        cache.clear();
        residentManager.close();
    }

    private static final class NDArrays {
        static NDArray concat(NDList parts, int axis) {
            return ai.djl.ndarray.NDArrays.concat(parts, axis);
        }
    }
}
