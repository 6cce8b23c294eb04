package org.llavapack.convert.onnx;

import java.util.List;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.ValueInfo;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;

/**
 * {@code connector.onnx}: {@code vision_hidden_states [batch, 1+N, in]} (the vision encoder's output, class token
 * at row 0, which is dropped here) → {@code image_features [batch, N, out]} rows for the LLM.
 * <ul>
 *   <li>MLP projector: Linear, then GELU + Linear per further depth.</li>
 *   <li>PA-LLaVA Q-Former: affine-free LayerNorm; per BERT layer self-attention (post-LN), optional cross-attention
 *   onto {@code patch_features [batch, T, width]} masked by {@code patch_mask [batch, T]} (int64 0/1; masked keys get
 *   {@code −FLT_MAX} as BERT's {@code invert_attention_mask}), query FFN with erf-GELU (post-LN); then
 *   {@code LayerNorm(h + features)} with {@code model.norm} and the MLP.</li>
 * </ul>
 */
public final class ConnectorGraph {
    private ConnectorGraph() {}

    public static final String INPUT = VisionGraph.OUTPUT;
    public static final String PATCHES = "patch_features";
    public static final String PATCH_MASK = "patch_mask";
    public static final String OUTPUT = "image_features";

    public static OnnxGraph build(Connector connector, GraphWeightsFactory weights) {
        OnnxGraph g = new OnnxGraph("llavapack_connector");
        GraphWeights gw = weights.create(g, connector.weights());
        EncoderBlocks blocks = new EncoderBlocks(g, gw);
        String in = g.input(ValueInfo.of(INPUT, ElemType.FLOAT, "batch_size", "vision_tokens", connector.inputDim()));
        String ori = g.op("Slice", List.of(in, g.longs(1), g.longs(Long.MAX_VALUE), g.longs(1)));
        String out = switch (connector) {
            case MlpProjector p -> mlp(g, gw, blocks, p, ori);
            case QFormer q -> qformer(g, gw, blocks, q, ori);
        };
        g.scope("");
        g.node("", "Identity", List.of(out), List.of(OUTPUT));
        g.output(ValueInfo.of(OUTPUT, ElemType.FLOAT, "batch_size", "image_tokens", connector.outputDim()));
        return g;
    }

    private static String mlp(OnnxGraph g, GraphWeights gw, EncoderBlocks blocks, MlpProjector p, String x) {
        for (int k = 0; k < p.depth(); k++) {
            g.scope("/mlp." + k);
            if (k > 0) x = blocks.gelu(x);
            x = gw.linear(x, p.linear(k), p.bias());
        }
        return x;
    }

    private static String qformer(OnnxGraph g, GraphWeights gw, EncoderBlocks blocks, QFormer qf, String ori) {
        QFormerConfig c = qf.config();
        double eps = c.layerNormEps();
        g.scope("/embeddings");
        String h = blocks.layerNormPlain(ori, c.hiddenSize(), eps);
        String patches = null, mask = null;
        if (c.crossAttention()) {
            patches = g.input(ValueInfo.of(PATCHES, ElemType.FLOAT, "batch_size", "patch_tokens", c.encoderWidth()));
            String m = g.input(ValueInfo.of(PATCH_MASK, ElemType.INT64, "batch_size", "patch_tokens"));
            // (1 − mask) · (−FLT_MAX), shaped [B, 1, 1, T] to broadcast over heads and queries.
            String keep = g.op("Cast", m, Attribute.of("to", ElemType.FLOAT.code));
            String add = g.op("Mul", g.op("Sub", g.scalar(1f), keep), g.scalar(-Float.MAX_VALUE));
            mask = g.op("Unsqueeze", add, g.longs(1, 2));
        }
        for (int j = 0; j < c.layers(); j++) {
            g.scope("/layer." + j);
            String a = attention(g, gw, blocks, c, j, "attention", h, h, null);
            if (c.crossLayers()[j]) a = attention(g, gw, blocks, c, j, "crossattention", a, patches, mask);
            String i = blocks.gelu(gw.linear(a, QFormer.layer(j, "intermediate_query.dense"), true));
            String o = g.op("Add", gw.linear(i, QFormer.layer(j, "output_query.dense"), true), a);
            h = blocks.layerNorm(o, QFormer.layer(j, "output_query.LayerNorm.weight"), QFormer.layer(j, "output_query.LayerNorm.bias"), eps);
        }
        g.scope("/norm");
        // The residual adds the raw features, not the normalised ones.
        String y = blocks.layerNorm(g.op("Add", h, ori), "model.norm.weight", "model.norm.bias", eps);
        return mlp(g, gw, blocks, qf.mlp(), y);
    }

    private static String attention(OnnxGraph g, GraphWeights gw, EncoderBlocks blocks, QFormerConfig c, int j, String kind,
                                    String query, String kv, String mask) {
        String p = QFormer.layer(j, kind);
        String q = gw.linear(query, p + ".self.query", true);
        String k = gw.linear(kv, p + ".self.key", true);
        String v = gw.linear(kv, p + ".self.value", true);
        String ctx = blocks.attention(q, k, v, c.heads(), c.headDim(), mask);
        String o = g.op("Add", gw.linear(ctx, p + ".output.dense", true), query);
        return blocks.layerNorm(o, p + ".output.LayerNorm.weight", p + ".output.LayerNorm.bias", c.layerNormEps());
    }
}
