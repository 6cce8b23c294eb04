package org.llavapack.model.connector;

import org.llavapack.model.Weights;

/**
 * PA-LLaVA's Q-Former connector ({@code QFormerConnector}; checkpoint-formats.md §8.2 and the test-checkpoints
 * README give the exact forward): affine-free LayerNorm of the features, BERT layers of self-attention (post-LN),
 * optional cross-attention onto the sub-patch tokens, query FFN (GELU, post-LN), then {@code + features},
 * {@code model.norm} and the MLP {@code model.mlp} (depth 1: one Linear).
 */
public record QFormer(QFormerConfig config, MlpProjector mlp, Weights weights, String description) implements Connector {

    public static final String LAYER = "model.bert.encoder.layer.";

    public static String layer(int j, String part) {
        return LAYER + j + "." + part;
    }

    @Override
    public int inputDim() {
        return config.hiddenSize();
    }

    @Override
    public int outputDim() {
        return mlp.outputDim();
    }

    @Override
    public String kind() {
        return config.crossAttention() ? "qformer+xattn" : "qformer";
    }
}
