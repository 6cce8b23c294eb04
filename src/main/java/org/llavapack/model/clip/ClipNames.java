package org.llavapack.model.clip;

/** HF {@code CLIPVisionModel} tensor names (note HF's spelling {@code pre_layrnorm}). */
public final class ClipNames {
    private ClipNames() {}

    public static final String P = "vision_model.";
    public static final String CLASS_EMBEDDING = P + "embeddings.class_embedding";
    public static final String PATCH_EMBEDDING = P + "embeddings.patch_embedding.weight";
    public static final String POSITION_EMBEDDING = P + "embeddings.position_embedding.weight";
    public static final String PRE_LN = P + "pre_layrnorm";
    public static final String POST_LN = P + "post_layrnorm";

    /** {@code vision_model.encoder.layers.{i}.} + part, e.g. {@code self_attn.q_proj}, {@code layer_norm1}, {@code mlp.fc1}. */
    public static String layer(int i, String part) {
        return P + "encoder.layers." + i + "." + part;
    }
}
