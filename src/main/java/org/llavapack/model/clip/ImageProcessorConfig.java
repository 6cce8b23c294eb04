package org.llavapack.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.convert.HfFolder;

/**
 * {@code preprocessor_config.json} of a {@code CLIPImageProcessor}. Defaults are OpenAI CLIP's (224 crop, CLIP
 * mean/std, bicubic), which is also what PA-LLaVA uses for PLIP.
 */
public record ImageProcessorConfig(boolean doResize, int shortestEdge, boolean doCenterCrop, int cropHeight, int cropWidth,
                                   boolean doRescale, double rescaleFactor, boolean doNormalize, float[] mean, float[] std,
                                   int resample) {

    public static final float[] CLIP_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    public static final float[] CLIP_STD = {0.26862954f, 0.26130258f, 0.27577711f};

    public static ImageProcessorConfig clipDefaults(int size) {
        return new ImageProcessorConfig(true, size, true, size, size, true, 1 / 255.0, true, CLIP_MEAN, CLIP_STD, 3);
    }

    /** Reads {@code dir/preprocessor_config.json}, or the CLIP defaults for {@code imageSize} when it is absent. */
    public static ImageProcessorConfig readOrDefault(Path dir, int imageSize) {
        Path f = dir.resolve("preprocessor_config.json");
        if (!Files.isRegularFile(f)) return clipDefaults(imageSize);
        JsonNode c = HfFolder.readJson(f);
        JsonNode size = c.path("size");
        int edge = size.isInt() ? size.asInt() : size.path("shortest_edge").asInt(imageSize);
        JsonNode crop = c.path("crop_size");
        int ch = crop.isInt() ? crop.asInt() : crop.path("height").asInt(imageSize);
        int cw = crop.isInt() ? crop.asInt() : crop.path("width").asInt(imageSize);
        return new ImageProcessorConfig(c.path("do_resize").asBoolean(true), edge, c.path("do_center_crop").asBoolean(true), ch, cw,
                c.path("do_rescale").asBoolean(true), c.path("rescale_factor").asDouble(1 / 255.0), c.path("do_normalize").asBoolean(true),
                floats(c.path("image_mean"), CLIP_MEAN), floats(c.path("image_std"), CLIP_STD), c.path("resample").asInt(3));
    }

    private static float[] floats(JsonNode n, float[] dflt) {
        if (!n.isArray() || n.size() != 3) return dflt;
        return new float[] {(float) n.get(0).asDouble(), (float) n.get(1).asDouble(), (float) n.get(2).asDouble()};
    }
}
