package org.llavapack.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.clip.ClipImageProcessor;
import org.llavapack.model.clip.ImageProcessorConfig;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorStore;

/** CLIPImageProcessor in Java against Pillow + numpy (test-checkpoints/generate_images.py). */
class ClipImageProcessorTest {
    static final ClipImageProcessor PROC = new ClipImageProcessor(ImageProcessorConfig.readOrDefault(TestPaths.checkpoint("tiny-plip"), 32));

    static Path image(String name) {
        return TestPaths.checkpoint("images").resolve(name);
    }

    static float[] expected(String key) {
        try (TensorStore s = TensorStores.open(TestPaths.checkpoint("expected").resolve("clip-preprocess.safetensors"))) {
            return s.tensor(key).toFloatArray();
        }
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    /** PNG decoding is lossless, so Pillow's bicubic re-implemented gives the same bits. */
    @ParameterizedTest
    @ValueSource(strings = {"tissue-61x47.png", "tissue-40x72.png", "grey-50x50.png", "rgba-45x45.png"})
    void pngMatchesPillowExactly(String name) {
        float[] got = PROC.preprocess(image(name));
        double d = maxDiff(expected("pixel_values." + name), got);
        System.out.printf("preprocess %s max |delta| %.3e%n", name, d);
        assertEquals(0.0, d, name);
    }

    /** JPEG: the same resampling on ImageIO's decode; the decoders may differ by a level on some pixels. */
    @ParameterizedTest
    @ValueSource(strings = {"tissue-96x80.jpg", "tissue-96x80-420.jpg"})
    void jpegIsWithinDecoderDifferences(String name) throws IOException {
        BufferedImage img = ImageIO.read(image(name).toFile());
        int[] rgb = ClipImageProcessor.toRgb(img);
        int maxLevel = 0;
        try (TensorStore s = TensorStores.open(TestPaths.checkpoint("expected").resolve("clip-preprocess.safetensors"))) {
            Tensor pil = s.tensor("decoded_rgb." + name);
            for (int i = 0; i < rgb.length; i++) maxLevel = Math.max(maxLevel, Math.abs(rgb[i] - (int) pil.getLong(i)));
            // Resampling Pillow's own decode in Java reproduces Pillow's output exactly.
            int[] pilRgb = new int[rgb.length];
            for (int i = 0; i < pilRgb.length; i++) pilRgb[i] = (int) pil.getLong(i);
            assertEquals(0.0, maxDiff(expected("pixel_values." + name), PROC.preprocess(pilRgb, img.getWidth(), img.getHeight())));
        }
        double d = maxDiff(expected("pixel_values." + name), PROC.preprocess(image(name)));
        System.out.printf(name + ": jpeg decoder max level difference %d, pixel_values max |delta| %.3e%n", maxLevel, d);
        // One 8-bit level is 1/255/0.26 ≈ 0.015 after normalisation.
        assertTrue(maxLevel <= 3 && d <= 3 * 0.0151, "decoder level diff " + maxLevel + ", max |delta| " + d);
    }
}
