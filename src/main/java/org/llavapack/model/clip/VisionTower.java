package org.llavapack.model.clip;

import org.llavapack.model.Weights;
import org.llavapack.tensor.DType;

/**
 * A CLIP/PLIP vision encoder ready to run. {@code selectLayer} indexes the hidden-state list as Python does
 * (PA-LLaVA: −2, the output of the last-but-one layer, before post_layrnorm); the class token is dropped from the
 * selected features.
 */
public record VisionTower(ClipVisionConfig config, Weights weights, ImageProcessorConfig processor, int selectLayer, String description) {

    public static final int PALLAVA_SELECT_LAYER = -2;

    public DType precision() {
        return weights.narrowestFloat();
    }

    /** The index into the {@code layers + 1} hidden states that {@link #selectLayer()} names. */
    public int selectedIndex() {
        int n = config.layers() + 1;
        int i = selectLayer < 0 ? n + selectLayer : selectLayer;
        if (i < 0 || i >= n) throw new IllegalArgumentException("visual_select_layer " + selectLayer + " is outside 0.." + (n - 1));
        return i;
    }
}
