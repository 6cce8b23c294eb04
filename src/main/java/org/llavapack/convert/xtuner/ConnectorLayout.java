package org.llavapack.convert.xtuner;

import java.util.List;
import java.util.Map;

/**
 * The connector between vision tower and LLM, as the checkpoint's tensor names and shapes show it (names relative to
 * {@code projector/}, i.e. with {@code projector.} stripped). Decided from the keys only, never from a config: spec §8.2
 * shows PA-LLaVA's config can claim cross-attention the weights do not have. Sealed: these are the two connectors
 * XTuner-family LLaVA checkpoints use.
 */
public sealed interface ConnectorLayout permits ConnectorLayout.Mlp, ConnectorLayout.QFormer {

    /** Width of the vision features entering the final MLP. */
    long visualHiddenSize();

    /** Width of the LLM embeddings the connector produces. */
    long llmHiddenSize();

    /** Linear layers in the (final) MLP. */
    int depth();

    /** Whether those linear layers have biases. */
    boolean bias();

    /** XTuner's {@code ProjectorModel}: {@code model.0} Linear, GELU, {@code model.2} Linear, … */
    /** One line for messages: what the connector is, in the words of the spec. */
    default String describe() {
        return switch (this) {
            case Mlp m -> "MLP projector (depth " + m.depth() + ", " + m.visualHiddenSize() + " -> " + m.llmHiddenSize() + ")";
            case QFormer q -> "Q-Former (" + q.numHiddenLayers() + " layers, "
                    + (q.crossAttentionLayers().isEmpty() ? "no cross-attention" : "cross-attention in " + q.crossAttentionLayers().size() + " layers")
                    + ", " + q.visualHiddenSize() + " -> " + q.llmHiddenSize() + ")";
        };
    }

    record Mlp(int depth, long visualHiddenSize, long llmHiddenSize, boolean bias) implements ConnectorLayout {}

    /**
     * PA-LLaVA's {@code QFormerProjectorModel}: a BERT-style Q-Former ({@code model.bert.encoder.layer.{j}}), a
     * LayerNorm ({@code model.norm}) and an MLP ({@code model.mlp.model.{i}}).
     *
     * @param crossAttentionLayers layers with a {@code crossattention} block (empty in PA-LLaVA's public code path)
     * @param crossAttentionFreq   the BLIP-2 rule that reproduces those layers ({@code j % freq == 0}); 0 when none
     * @param hiddenSize           Q-Former width (query weight rows)
     * @param encoderWidth         width of the keys/values cross-attention reads (= hiddenSize without it)
     * @param intermediateSize     query FFN width
     * @param maxPositions         length of the {@code position_ids} buffer, 0 when absent
     * @param unrecognised         keys that fit neither part (kept in the weights, listed in config.json)
     */
    record QFormer(int numHiddenLayers, List<Integer> crossAttentionLayers, int crossAttentionFreq, long hiddenSize,
                   long encoderWidth, long intermediateSize, long visualHiddenSize, long llmHiddenSize, int depth,
                   boolean bias, long maxPositions, List<String> unrecognised) implements ConnectorLayout {
        public QFormer {
            crossAttentionLayers = List.copyOf(crossAttentionLayers);
            unrecognised = List.copyOf(unrecognised);
        }

        public boolean crossAttention() {
            return !crossAttentionLayers.isEmpty();
        }
    }

    /**
     * Detects the layout from {@code shapes} (projector tensor names without {@code projector.} → shape).
     * {@code origin} names the checkpoint in errors.
     */
    static ConnectorLayout detect(Map<String, long[]> shapes, String origin) {
        return ConnectorDetector.detect(shapes, origin);
    }
}
