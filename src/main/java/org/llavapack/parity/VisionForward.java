package org.llavapack.parity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.List;
import org.llavapack.model.Weights;
import org.llavapack.model.clip.ClipNames;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.VisionTower;

/**
 * HF {@code CLIPVisionModel} forward with {@code output_hidden_states}: patch "convolution" (stride = kernel, so a
 * reshape and one matrix product), class token, position embeddings, {@code pre_layrnorm}, pre-norm layers. Returns
 * all {@code layers + 1} hidden states and the PA-LLaVA selection ({@code hidden_states[select][:, 1:]}).
 * {@code post_layrnorm} only feeds the pooled output, which LLaVA models never use; it is returned separately.
 */
public final class VisionForward {
    private VisionForward() {}

    /**
     * @param hiddenStates each {@code [B, tokens, hidden]}
     * @param selected {@code [B, tokens − 1, hidden]}
     * @param pooled HF's {@code pooler_output}, {@code post_layrnorm(last[:, 0])} {@code [B, hidden]}; LLaVA models do not
     *     use it, parity compares it for completeness (null when the weights have no post_layrnorm)
     */
    public record Output(int batch, int tokens, int hidden, List<float[]> hiddenStates, float[] selected, float[] pooled) {}

    /** @param pixels {@code [B, C, image, image]} normalized pixel values */
    public static Output run(TorchEngine engine, VisionTower tower, float[] pixels, int batch) {
        ClipVisionConfig c = tower.config();
        Weights w = tower.weights();
        int p = c.patchSize(), g = c.patchesPerSide(), hsz = c.hiddenSize(), t = c.tokens();
        if (pixels.length != (long) batch * c.channels() * c.imageSize() * c.imageSize()) {
            throw new IllegalArgumentException("pixel_values hold " + pixels.length + " values, not " + batch + "×" + c.channels() + "×" + c.imageSize() + "²");
        }
        try (NDManager m = engine.manager().newSubManager()) {
            NDArray x = m.create(pixels, new ai.djl.ndarray.types.Shape(batch, c.channels(), c.imageSize(), c.imageSize()));
            // [B,C,g,p,g,p] → [B,g,g,C,p,p] → [B, g², C·p·p]: row-major patches, as conv2d + flatten(2) orders them.
            NDArray patches = x.reshape(batch, c.channels(), g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(batch, (long) g * g, (long) c.channels() * p * p);
            NDArray kernel = Nd.weight(m, w, ClipNames.PATCH_EMBEDDING).reshape(hsz, (long) c.channels() * p * p);
            NDArray emb = patches.matMul(kernel.transpose());
            NDArray cls = Nd.weight(m, w, ClipNames.CLASS_EMBEDDING).reshape(1, 1, hsz).broadcast(batch, 1, hsz);
            NDArray pos = Nd.weight(m, w, ClipNames.POSITION_EMBEDDING).get(new NDIndex("0:" + t));
            NDArray h = cls.concat(emb, 1).add(pos);
            h = Nd.layerNorm(h, Nd.weight(m, w, ClipNames.PRE_LN + ".weight"), Nd.weight(m, w, ClipNames.PRE_LN + ".bias"), c.layerNormEps());
            List<float[]> states = new ArrayList<>();
            states.add(h.toFloatArray());
            double scale = Math.pow(c.headDim(), -0.5);
            for (int i = 0; i < c.layers(); i++) {
                try (NDManager lm = m.newSubManager()) {
                    h.attach(lm);
                    NDArray r = Nd.layerNorm(h, wt(lm, w, i, "layer_norm1.weight"), wt(lm, w, i, "layer_norm1.bias"), c.layerNormEps());
                    NDArray q = Nd.splitHeads(Nd.linear(r, wt(lm, w, i, "self_attn.q_proj.weight"), wt(lm, w, i, "self_attn.q_proj.bias")), c.heads());
                    NDArray k = Nd.splitHeads(Nd.linear(r, wt(lm, w, i, "self_attn.k_proj.weight"), wt(lm, w, i, "self_attn.k_proj.bias")), c.heads());
                    NDArray v = Nd.splitHeads(Nd.linear(r, wt(lm, w, i, "self_attn.v_proj.weight"), wt(lm, w, i, "self_attn.v_proj.bias")), c.heads());
                    NDArray ctx = Nd.mergeHeads(Nd.attention(q, k, v, scale, true, null));
                    h = h.add(Nd.linear(ctx, wt(lm, w, i, "self_attn.out_proj.weight"), wt(lm, w, i, "self_attn.out_proj.bias")));
                    r = Nd.layerNorm(h, wt(lm, w, i, "layer_norm2.weight"), wt(lm, w, i, "layer_norm2.bias"), c.layerNormEps());
                    NDArray f = Nd.linear(r, wt(lm, w, i, "mlp.fc1.weight"), wt(lm, w, i, "mlp.fc1.bias"));
                    f = c.hiddenAct().equals("quick_gelu") ? Nd.quickGelu(f) : Nd.gelu(f);
                    h = h.add(Nd.linear(f, wt(lm, w, i, "mlp.fc2.weight"), wt(lm, w, i, "mlp.fc2.bias")));
                    h.attach(m);
                }
                states.add(h.toFloatArray());
            }
            float[] pooled = null;
            if (w.has(ClipNames.POST_LN + ".weight")) {
                NDArray cls0 = h.get(new NDIndex(":, 0, :"));
                pooled = Nd.layerNorm(cls0, Nd.weight(m, w, ClipNames.POST_LN + ".weight"), Nd.weight(m, w, ClipNames.POST_LN + ".bias"), c.layerNormEps()).toFloatArray();
            }
            float[] sel = states.get(tower.selectedIndex());
            float[] selected = new float[batch * (t - 1) * hsz];
            for (int b = 0; b < batch; b++) System.arraycopy(sel, (b * t + 1) * hsz, selected, b * (t - 1) * hsz, (t - 1) * hsz);
            return new Output(batch, t, hsz, states, selected, pooled);
        }
    }

    private static NDArray wt(NDManager m, Weights w, int layer, String part) {
        return Nd.weight(m, w, ClipNames.layer(layer, part));
    }
}
