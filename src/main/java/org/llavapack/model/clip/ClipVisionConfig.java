package org.llavapack.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;

/**
 * An HF {@code CLIPVisionModel} config (PLIP uses the same names). A full {@code CLIPModel} config is accepted too:
 * its {@code vision_config} is used.
 */
public record ClipVisionConfig(int hiddenSize, int intermediateSize, int layers, int heads, int imageSize, int patchSize,
                               int channels, String hiddenAct, double layerNormEps) {

    public ClipVisionConfig {
        if (hiddenSize % heads != 0) throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not a multiple of " + heads + " heads");
        if (imageSize % patchSize != 0) throw new IllegalArgumentException("image_size " + imageSize + " is not a multiple of patch_size " + patchSize);
        if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
            throw new IllegalArgumentException("hidden_act '" + hiddenAct + "' is not supported (quick_gelu, gelu)");
        }
    }

    public static ClipVisionConfig read(Path configJson) {
        return fromJson(HfFolder.readJson(configJson), configJson);
    }

    public static ClipVisionConfig fromJson(JsonNode c, Path file) {
        if (c.path("model_type").asText("").equals("clip") && c.has("vision_config")) c = c.get("vision_config");
        try {
            // Defaults are transformers' CLIPVisionConfig defaults (ViT-B/32), which configs may omit.
            return new ClipVisionConfig(c.path("hidden_size").asInt(768), c.path("intermediate_size").asInt(3072),
                    c.path("num_hidden_layers").asInt(12), c.path("num_attention_heads").asInt(12), c.path("image_size").asInt(224),
                    c.path("patch_size").asInt(32), c.path("num_channels").asInt(3), c.path("hidden_act").asText("quick_gelu"),
                    c.path("layer_norm_eps").asDouble(1e-5));
        } catch (IllegalArgumentException e) {
            throw new BadInputException(file, e.getMessage());
        }
    }

    public int headDim() {
        return hiddenSize / heads;
    }

    public int patchesPerSide() {
        return imageSize / patchSize;
    }

    /** Patches plus the class token. */
    public int tokens() {
        return patchesPerSide() * patchesPerSide() + 1;
    }
}
