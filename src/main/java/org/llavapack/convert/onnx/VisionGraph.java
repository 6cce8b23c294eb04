package org.llavapack.convert.onnx;

import java.util.List;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.ValueInfo;
import org.llavapack.model.clip.ClipNames;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.VisionTower;

/**
 * {@code vision_encoder.onnx}: HF {@code CLIPVisionModel} up to the selected hidden state. Patch {@code Conv}
 * (stride = kernel, no bias), class token, position embeddings, {@code pre_layrnorm}, then only the first
 * {@code selectedIndex} pre-LN layers (PA-LLaVA's {@code visual_select_layer −2} is the output of layer L−1; later
 * layers and {@code post_layrnorm} would be dead weight). Output {@code vision_hidden_states [batch, 1+patches, hidden]}
 * keeps the class token at row 0, as HF's {@code hidden_states[-2]}; the connector drops it (spec §5.2).
 */
public final class VisionGraph {
    private VisionGraph() {}

    public static final String INPUT = "pixel_values";
    public static final String OUTPUT = "vision_hidden_states";

    public static OnnxGraph build(VisionTower tower, GraphWeightsFactory weights) {
        ClipVisionConfig c = tower.config();
        OnnxGraph g = new OnnxGraph("llavapack_vision_encoder");
        GraphWeights gw = weights.create(g, tower.weights());
        EncoderBlocks blocks = new EncoderBlocks(g, gw);
        int hid = c.hiddenSize(), p = c.patchSize(), t = c.tokens();
        String px = g.input(ValueInfo.of(INPUT, ElemType.FLOAT, "batch_size", c.channels(), c.imageSize(), c.imageSize()));
        g.scope("/embeddings");
        String conv = g.op("Conv", List.of(px, gw.tensor(ClipNames.PATCH_EMBEDDING)), Attribute.ints("kernel_shape", p, p), Attribute.ints("strides", p, p));
        String patches = g.op("Transpose", g.op("Reshape", conv, g.longs(0, hid, -1)), Attribute.ints("perm", 0, 2, 1));
        String batch = g.op("Shape", px, Attribute.of("start", 0L), Attribute.of("end", 1L));
        String clsShape = g.op("Concat", List.of(batch, g.longs(1, hid)), Attribute.of("axis", 0L));
        String cls = g.op("Expand", gw.fp32(ClipNames.CLASS_EMBEDDING, 1, 1, hid), clsShape);
        String h = g.op("Concat", List.of(cls, patches), Attribute.of("axis", 1L));
        long[] pos = tower.weights().shape(ClipNames.POSITION_EMBEDDING);
        if (pos[0] != t) throw new org.llavapack.BadInputException(tower.description(), "position_embedding has " + pos[0] + " rows, the tower has " + t + " tokens", null);
        h = g.op("Add", h, gw.fp32(ClipNames.POSITION_EMBEDDING));
        h = blocks.layerNorm(h, ClipNames.PRE_LN + ".weight", ClipNames.PRE_LN + ".bias", c.layerNormEps());
        for (int i = 0; i < tower.selectedIndex(); i++) {
            g.scope("/layers." + i);
            String r = blocks.layerNorm(h, ClipNames.layer(i, "layer_norm1.weight"), ClipNames.layer(i, "layer_norm1.bias"), c.layerNormEps());
            String q = gw.linear(r, ClipNames.layer(i, "self_attn.q_proj"), true);
            String k = gw.linear(r, ClipNames.layer(i, "self_attn.k_proj"), true);
            String v = gw.linear(r, ClipNames.layer(i, "self_attn.v_proj"), true);
            String ctx = blocks.attention(q, k, v, c.heads(), c.headDim(), null);
            h = g.op("Add", h, gw.linear(ctx, ClipNames.layer(i, "self_attn.out_proj"), true));
            r = blocks.layerNorm(h, ClipNames.layer(i, "layer_norm2.weight"), ClipNames.layer(i, "layer_norm2.bias"), c.layerNormEps());
            String f = gw.linear(r, ClipNames.layer(i, "mlp.fc1"), true);
            f = c.hiddenAct().equals("quick_gelu") ? blocks.quickGelu(f) : blocks.gelu(f);
            h = g.op("Add", h, gw.linear(f, ClipNames.layer(i, "mlp.fc2"), true));
        }
        g.scope("");
        g.node("", "Identity", List.of(h), List.of(OUTPUT));
        g.output(ValueInfo.of(OUTPUT, ElemType.FLOAT, "batch_size", t, hid));
        return g;
    }
}
