package org.llavapack.parity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.Map;
import org.llavapack.model.Weights;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;

/**
 * Connector forward passes. The Q-Former follows the test-checkpoints README's "Connector forward" step by step
 * (PA-LLaVA's {@code QFormerConnector.forward(ori, patches, mask)} in eval mode), and records the same intermediate
 * tensors as the reference: {@code embeddings_ln}, {@code layer.j}, {@code final_norm}.
 */
public final class ConnectorForward {
    private ConnectorForward() {}

    /** Features going in: {@code ori [B, N, in]}, and for cross-attention {@code patches [B, T, width]} with a 0/1 mask {@code [B, T]}. */
    public record Input(int batch, int tokens, float[] features, int patchTokens, float[] patches, long[] patchMask) {
        public static Input of(int batch, int tokens, float[] features) {
            return new Input(batch, tokens, features, 0, null, null);
        }
    }

    /** @param output {@code [B, N, out]}; @param trace named intermediates, in forward order */
    public record Output(int batch, int tokens, int dim, float[] output, Map<String, float[]> trace) {}

    public static Output run(TorchEngine engine, Connector connector, Input in) {
        try (NDManager m = engine.manager().newSubManager()) {
            NDArray ori = m.create(in.features(), new Shape(in.batch(), in.tokens(), connector.inputDim()));
            Map<String, float[]> trace = new LinkedHashMap<>();
            NDArray out = switch (connector) {
                case MlpProjector p -> mlp(m, p, ori, trace);
                case QFormer q -> qformer(m, q, ori, in, trace);
            };
            return new Output(in.batch(), in.tokens(), connector.outputDim(), out.toFloatArray(), trace);
        }
    }

    private static NDArray mlp(NDManager m, MlpProjector p, NDArray x, Map<String, float[]> trace) {
        Weights w = p.weights();
        for (int k = 0; k < p.depth(); k++) {
            if (k > 0) x = Nd.gelu(x);
            String l = p.linear(k);
            x = Nd.linear(x, Nd.weight(m, w, l + ".weight"), p.bias() ? Nd.weight(m, w, l + ".bias") : null);
            trace.put("linear." + k, x.toFloatArray());
        }
        return x;
    }

    private static NDArray qformer(NDManager m, QFormer qf, NDArray ori, Input in, Map<String, float[]> trace) {
        QFormerConfig c = qf.config();
        Weights w = qf.weights();
        double eps = c.layerNormEps();
        NDArray h = Nd.layerNorm(ori, null, null, eps);
        trace.put("embeddings_ln", h.toFloatArray());
        NDArray patches = null, crossMask = null;
        if (c.crossAttention()) {
            if (in.patches() == null) {
                throw new IllegalArgumentException("this Q-Former has cross-attention: it needs sub-patch features");
            }
            patches = m.create(in.patches(), new Shape(in.batch(), in.patchTokens(), c.encoderWidth()));
            // invert_attention_mask: (1 − mask) · finfo(f32).min on masked keys, broadcast over heads and queries.
            float[] add = new float[in.batch() * in.patchTokens()];
            for (int i = 0; i < add.length; i++) add[i] = in.patchMask() == null || in.patchMask()[i] != 0 ? 0f : -Float.MAX_VALUE;
            crossMask = m.create(add, new Shape(in.batch(), 1, 1, in.patchTokens()));
        }
        for (int j = 0; j < c.layers(); j++) {
            NDArray a = attentionBlock(m, w, j, "attention", h, h, null, c);
            if (c.crossLayers()[j]) a = attentionBlock(m, w, j, "crossattention", a, patches, crossMask, c);
            NDArray i = Nd.gelu(lin(m, w, QFormer.layer(j, "intermediate_query.dense"), a));
            h = Nd.layerNorm(lin(m, w, QFormer.layer(j, "output_query.dense"), i).add(a),
                    Nd.weight(m, w, QFormer.layer(j, "output_query.LayerNorm.weight")), Nd.weight(m, w, QFormer.layer(j, "output_query.LayerNorm.bias")), eps);
            trace.put("layer." + j, h.toFloatArray());
        }
        // The residual adds the raw features, not the normalised ones.
        NDArray y = Nd.layerNorm(h.add(ori), Nd.weight(m, w, "model.norm.weight"), Nd.weight(m, w, "model.norm.bias"), eps);
        trace.put("final_norm", y.toFloatArray());
        return mlp(m, qf.mlp(), y, new LinkedHashMap<>());
    }

    private static NDArray attentionBlock(NDManager m, Weights w, int j, String kind, NDArray query, NDArray kv, NDArray mask, QFormerConfig c) {
        String p = QFormer.layer(j, kind);
        NDArray q = Nd.splitHeads(lin(m, w, p + ".self.query", query), c.heads());
        NDArray k = Nd.splitHeads(lin(m, w, p + ".self.key", kv), c.heads());
        NDArray v = Nd.splitHeads(lin(m, w, p + ".self.value", kv), c.heads());
        NDArray ctx = Nd.mergeHeads(Nd.attention(q, k, v, Math.pow(c.headDim(), -0.5), false, mask));
        return Nd.layerNorm(lin(m, w, p + ".output.dense", ctx).add(query),
                Nd.weight(m, w, p + ".output.LayerNorm.weight"), Nd.weight(m, w, p + ".output.LayerNorm.bias"), c.layerNormEps());
    }

    private static NDArray lin(NDManager m, Weights w, String module, NDArray x) {
        return Nd.linear(x, Nd.weight(m, w, module + ".weight"), w.has(module + ".bias") ? Nd.weight(m, w, module + ".bias") : null);
    }
}
