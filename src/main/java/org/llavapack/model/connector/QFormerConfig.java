package org.llavapack.model.connector;

import java.util.OptionalDouble;
import java.util.OptionalInt;
import org.llavapack.BadInputException;
import org.llavapack.model.Weights;

/**
 * Q-Former sizes, read off the weights: everything but the head count (which no tensor shape shows) and the
 * LayerNorm epsilon (1e-12, bert-base-uncased's, unless the projector config says otherwise).
 *
 * @param crossLayers which layers have {@code crossattention.*} (PA-LLaVA's {@code cross_attention_freq} 1: all or none)
 */
public record QFormerConfig(int hiddenSize, int encoderWidth, int layers, int heads, int intermediateSize, double layerNormEps,
                            boolean[] crossLayers) {

    public boolean crossAttention() {
        for (boolean b : crossLayers) if (b) return true;
        return false;
    }

    public int headDim() {
        return hiddenSize / heads;
    }

    /**
     * Detects the layout from the key list: cross-attention exists iff a {@code crossattention.} key does (spec §8.2).
     * Heads: {@code heads} when given, else hidden/64 (BERT's head size, 12 for PA-LLaVA's 768).
     */
    public static QFormerConfig detect(Weights w, OptionalInt heads, OptionalDouble eps, String description) {
        String q0 = QFormer.layer(0, "attention.self.query.weight");
        if (!w.has(q0)) throw new BadInputException(description, "no " + q0 + ": not a Q-Former connector", null);
        int hidden = (int) w.shape(q0)[0];
        int layers = 0;
        while (w.has(QFormer.layer(layers, "attention.self.query.weight"))) layers++;
        boolean[] cross = new boolean[layers];
        int width = hidden;
        for (int j = 0; j < layers; j++) {
            String k = QFormer.layer(j, "crossattention.self.key.weight");
            cross[j] = w.has(k);
            if (cross[j]) width = (int) w.shape(k)[1];
            for (String part : new String[] {"intermediate_query.dense.weight", "output_query.dense.weight", "output_query.LayerNorm.weight"}) {
                if (!w.has(QFormer.layer(j, part))) {
                    throw new BadInputException(description, "Q-Former layer " + j + " has no " + part + " (text-path-only BERT layers are not PA-LLaVA's connector)", null);
                }
            }
        }
        int inter = (int) w.shape(QFormer.layer(0, "intermediate_query.dense.weight"))[0];
        int h;
        if (heads.isPresent()) h = heads.getAsInt();
        else if (hidden % 64 == 0) h = hidden / 64;
        else {
            throw new BadInputException(description, "cannot tell the Q-Former's attention heads from its weights (hidden " + hidden
                    + " is not a multiple of BERT's head size 64): pass --qformer-heads or put num_attention_heads in the projector config.json", null);
        }
        if (h <= 0 || hidden % h != 0) throw new BadInputException(description, hidden + " is not divisible into " + h + " heads", null);
        if (!w.has("model.norm.weight")) throw new BadInputException(description, "Q-Former connector has no model.norm.weight", null);
        return new QFormerConfig(hidden, width, layers, h, inter, eps.orElse(1e-12), cross);
    }
}
