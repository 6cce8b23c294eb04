package org.llavapack.convert.onnx;

import java.util.ArrayList;
import java.util.List;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.OnnxLimits;
import org.llavapack.formats.onnx.ValueInfo;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LlamaNames;
import org.llavapack.model.llama.LlamaNames.Projection;

/**
 * {@code decoder_model_merged.onnx}: the Llama decoder with a growing KV cache, in onnxruntime-genai's model-builder
 * style (spec §4), built from HF weights without tracing.
 * <ul>
 *   <li>Inputs: {@code inputs_embeds [batch, seq, hidden]} (llavapack splices image rows there; token rows come from
 *   {@code embed_tokens.onnx}), {@code attention_mask [batch, total]} int64, {@code past_key_values.i.key/value
 *   [batch, kv_heads, past, head_dim]} (length 0 on the first step). Outputs {@code logits [batch, seq, vocab]} and
 *   {@code present.i.key/value [batch, kv_heads, past+seq, head_dim]}.</li>
 *   <li>RMSNorm as the Pow/ReduceMean/Add/Sqrt/Div/Mul chain (standard ops, which onnxruntime fuses into
 *   SimplifiedLayerNormalization), packed QKV MatMul, {@code com.microsoft:GroupQueryAttention} with RoPE inside
 *   ({@code do_rotary 1}, rotate-half layout as HF's weights are), residual Adds, SwiGLU, final norm, lm_head.</li>
 *   <li>No {@code position_ids} input: with RoPE fused into GQA, positions come from the mask ({@code seqlens_k =
 *   sum(mask) − 1}); prompts must be right-padded (or batch 1), as for onnxruntime-genai's builder.</li>
 *   <li>cos/sin caches {@code [maxPositions, head_dim/2]} from {@code rope_theta} and llama3/linear
 *   {@code rope_scaling}, computed as transformers does (fp32 {@code position · inv_freq}).</li>
 * </ul>
 */
public final class DecoderGraph {
    private DecoderGraph() {}

    public static final String INPUTS_EMBEDS = "inputs_embeds";
    public static final String ATTENTION_MASK = "attention_mask";
    public static final String LOGITS = "logits";

    public static String pastKey(int i) {
        return "past_key_values." + i + ".key";
    }

    public static String pastValue(int i) {
        return "past_key_values." + i + ".value";
    }

    public static String presentKey(int i) {
        return "present." + i + ".key";
    }

    public static String presentValue(int i) {
        return "present." + i + ".value";
    }

    /** CPU GroupQueryAttention refuses other head sizes ("head_size shall be a multiple of 16"). */
    public static void checkSupported(LlamaConfig c, String where) {
        if (c.headDim() % 16 != 0) {
            throw new org.llavapack.BadInputException(where, "head_dim " + c.headDim() + " is not a multiple of 16, which onnxruntime's CPU GroupQueryAttention needs", null);
        }
    }

    public static OnnxGraph build(Llama model, GraphWeightsFactory weights, int maxPositions) {
        LlamaConfig c = model.config();
        checkSupported(c, model.description());
        OnnxGraph g = new OnnxGraph("llavapack_decoder");
        GraphWeights gw = weights.create(g, model.weights());
        int hid = c.hiddenSize(), d = c.headDim();
        String x = g.input(ValueInfo.of(INPUTS_EMBEDS, ElemType.FLOAT, "batch_size", "sequence_length", hid));
        String mask = g.input(ValueInfo.of(ATTENTION_MASK, ElemType.INT64, "batch_size", "total_sequence_length"));
        for (int i = 0; i < c.layers(); i++) {
            g.input(ValueInfo.of(pastKey(i), ElemType.FLOAT, "batch_size", c.kvHeads(), "past_sequence_length", d));
            g.input(ValueInfo.of(pastValue(i), ElemType.FLOAT, "batch_size", c.kvHeads(), "past_sequence_length", d));
        }
        g.scope("/attn_mask");
        String seqlensK = g.op("Cast", g.op("Sub", g.op("ReduceSum", List.of(mask, g.longs(1)), Attribute.of("keepdims", 0L)), g.scalar(1L)),
                Attribute.of("to", ElemType.INT32.code));
        String totalLen = g.op("Cast", g.op("Gather", g.op("Shape", mask), g.scalar(1L), Attribute.of("axis", 0L)), Attribute.of("to", ElemType.INT32.code));
        float[][] cs = ropeCaches(c, maxPositions);
        String cos = g.initializer("rope.cos_cache", ElemType.FLOAT, new long[] {maxPositions, d / 2}, new OnnxGraph.FloatArrayPayload(cs[0]));
        String sin = g.initializer("rope.sin_cache", ElemType.FLOAT, new long[] {maxPositions, d / 2}, new OnnxGraph.FloatArrayPayload(cs[1]));
        for (int i = 0; i < c.layers(); i++) {
            g.scope("/layers." + i + "/attn");
            String h = rmsNorm(g, gw, x, LlamaNames.inputNorm(i), c.rmsNormEps());
            String qkv = gw.linear(h, "model.layers." + i + ".self_attn.qkv_proj.weight",
                    List.of(Projection.Q.weight(i), Projection.K.weight(i), Projection.V.weight(i)), null, true, null);
            String attn = g.fresh("GroupQueryAttention");
            g.node(OnnxLimits.MICROSOFT, "GroupQueryAttention", List.of(qkv, "", "", pastKey(i), pastValue(i), seqlensK, totalLen, cos, sin),
                    List.of(attn, presentKey(i), presentValue(i)),
                    Attribute.of("num_heads", c.heads()), Attribute.of("kv_num_heads", c.kvHeads()), Attribute.of("scale", (float) (1.0 / Math.sqrt(d))),
                    Attribute.of("local_window_size", -1L), Attribute.of("softcap", 0f), Attribute.of("do_rotary", 1L), Attribute.of("rotary_interleaved", 0L));
            x = g.op("Add", x, gw.linear(attn, Projection.O.weight(i), List.of(Projection.O.weight(i)), null, true, null));
            g.scope("/layers." + i + "/mlp");
            h = rmsNorm(g, gw, x, LlamaNames.postAttentionNorm(i), c.rmsNormEps());
            String gate = gw.linear(h, Projection.GATE.weight(i), List.of(Projection.GATE.weight(i)), null, true, null);
            String up = gw.linear(h, Projection.UP.weight(i), List.of(Projection.UP.weight(i)), null, true, null);
            String act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up);
            x = g.op("Add", x, gw.linear(act, Projection.DOWN.weight(i), List.of(Projection.DOWN.weight(i)), null, true, null));
        }
        g.scope("/lm_head");
        String fin = rmsNorm(g, gw, x, LlamaNames.NORM, c.rmsNormEps());
        String head = LlamaNames.lmHead(c);
        gw.linear(fin, c.tieWordEmbeddings() ? "lm_head.weight" : head, List.of(head), null, true, LOGITS);
        g.output(ValueInfo.of(LOGITS, ElemType.FLOAT, "batch_size", "sequence_length", c.vocabSize()));
        for (int i = 0; i < c.layers(); i++) {
            g.output(ValueInfo.of(presentKey(i), ElemType.FLOAT, "batch_size", c.kvHeads(), "total_sequence_length", d));
            g.output(ValueInfo.of(presentValue(i), ElemType.FLOAT, "batch_size", c.kvHeads(), "total_sequence_length", d));
        }
        return g;
    }

    /** {@code x / sqrt(mean(x²) + eps) · w} in fp32 (the weight always fp32). */
    private static String rmsNorm(OnnxGraph g, GraphWeights gw, String x, String weight, double eps) {
        String ms = g.op("ReduceMean", List.of(g.op("Pow", x, g.scalar(2f)), g.longs(-1)), Attribute.of("keepdims", 1L));
        String rms = g.op("Sqrt", g.op("Add", ms, g.scalar((float) eps)));
        return g.op("Mul", g.op("Div", x, rms), gw.fp32(weight));
    }

    /** {@code cos/sin(t · inv_freq[j])}, {@code t < maxPositions}, {@code j < head_dim/2}; the product in fp32 as transformers. */
    static float[][] ropeCaches(LlamaConfig c, int maxPositions) {
        float[] inv = c.inverseFrequencies();
        int half = inv.length;
        float[] cos = new float[maxPositions * half], sin = new float[maxPositions * half];
        for (int t = 0; t < maxPositions; t++) {
            for (int j = 0; j < half; j++) {
                float f = (float) t * inv[j];
                cos[t * half + j] = (float) Math.cos(f);
                sin[t * half + j] = (float) Math.sin(f);
            }
        }
        return new float[][] {cos, sin};
    }

    /** All graph input names in order (tests and the runtime feed them by name). */
    public static List<String> inputNames(LlamaConfig c) {
        List<String> n = new ArrayList<>(List.of(INPUTS_EMBEDS, ATTENTION_MASK));
        for (int i = 0; i < c.layers(); i++) {
            n.add(pastKey(i));
            n.add(pastValue(i));
        }
        return n;
    }
}
