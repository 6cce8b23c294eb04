package org.llavapack.parity;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntFunction;
import org.llavapack.BadInputException;

/**
 * The exported decoder ({@code decoder_model_merged.onnx}) at batch 1: a prefill over embeddings and then one step
 * per token, feeding each step's {@code present.i.*} back as {@code past_key_values.i.*} (the previous result is
 * closed only after the next run has consumed its tensors).
 */
public final class OnnxDecoder implements AutoCloseable {
    public static final String FILE = "decoder_model_merged.onnx";
    private final OnnxModels models;
    private final int layers, kvHeads, headDim, hidden, vocab;
    private OrtSession.Result state;
    private int length;

    public OnnxDecoder(OnnxModels models, int layers, int kvHeads, int headDim, int hidden, int vocab) {
        this.models = models;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.hidden = hidden;
        this.vocab = vocab;
    }

    public int vocab() {
        return vocab;
    }

    /** Logits {@code [seq, vocab]} for {@code embeds [seq, hidden]} appended to the cache (empty at first). */
    public float[] step(float[] embeds, int seq) {
        if (embeds.length != seq * hidden) throw new IllegalArgumentException("embeddings are not [" + seq + ", " + hidden + "]");
        OrtSession s = models.session(FILE);
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        Map<String, OnnxTensor> owned = new LinkedHashMap<>();
        try {
            var env = models.env();
            owned.put("inputs_embeds", OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[] {1, seq, hidden}));
            long[] mask = new long[length + seq];
            java.util.Arrays.fill(mask, 1L);
            owned.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, length + seq}));
            feed.putAll(owned);
            for (int i = 0; i < layers; i++) {
                for (String kind : new String[] {"key", "value"}) {
                    String past = "past_key_values." + i + "." + kind;
                    if (state == null) {
                        OnnxTensor empty = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {1, kvHeads, 0, headDim});
                        owned.put(past, empty);
                        feed.put(past, empty);
                    } else {
                        OnnxValue v = state.get("present." + i + "." + kind).orElseThrow();
                        feed.put(past, (OnnxTensor) v);
                    }
                }
            }
            OrtSession.Result r = s.run(feed);
            if (state != null) state.close();
            state = r;
            length += seq;
            return OnnxModels.floats((OnnxTensor) r.get("logits").orElseThrow());
        } catch (OrtException e) {
            throw new BadInputException(models.dir().resolve(FILE), "onnxruntime failed to run it: " + OnnxModels.oneLine(e), e);
        } finally {
            owned.values().forEach(OnnxTensor::close);
        }
    }

    /** Forgets the cache. */
    public void reset() {
        if (state != null) state.close();
        state = null;
        length = 0;
    }

    /**
     * Greedy decoding with the cache: one prefill, then one single-token step per new token ({@code embed} gives a
     * token's row). Starts from an empty cache.
     */
    public int[] greedy(float[] promptEmbeds, int seq, int steps, IntFunction<float[]> embed) {
        reset();
        int[] out = new int[steps];
        float[] logits = step(promptEmbeds, seq);
        int rows = seq;
        for (int i = 0; i < steps; i++) {
            out[i] = argmax(logits, rows - 1);
            if (i + 1 < steps) {
                logits = step(embed.apply(out[i]), 1);
                rows = 1;
            }
        }
        reset();
        return out;
    }

    int argmax(float[] logits, int row) {
        int best = 0;
        for (int v = 1; v < vocab; v++) if (logits[row * vocab + v] > logits[row * vocab + best]) best = v;
        return best;
    }

    @Override
    public void close() {
        reset();
    }
}
