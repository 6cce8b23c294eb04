package org.llavapack.model.clip;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.llavapack.BadInputException;

/**
 * What transformers' {@code CLIPImageProcessor} does to one image, in Java: convert to RGB, resize so the shortest
 * side is {@code shortest_edge} (Pillow's bicubic resampling, re-implemented from Pillow's {@code Resample.c}:
 * separable convolution with the a = −0.5 cubic kernel widened by the scale when shrinking, 8-bit fixed-point
 * coefficients with 22 fractional bits, horizontal pass first, rounding and clamping to 0..255 after each pass), center
 * crop with transformers' integer offsets, rescale by {@code rescale_factor}, normalize with the processor's mean/std.
 *
 * <p>Measured against Pillow 9.4 + numpy (test-checkpoints/generate_images.py): bit-identical pixel values for RGB,
 * grey and RGBA PNGs and for baseline JPEGs with 4:4:4 and 4:2:0 chroma (ImageIO decoded the same levels as Pillow's
 * libjpeg-turbo there). Not covered: progressive or CMYK JPEGs (ImageIO may decode differently or refuse them), 16-bit
 * PNGs (ImageIO and Pillow reduce to 8 bits differently), and resample values other than 3 (computed bicubic anyway).
 * Grey images are expanded by copying the grey level, as Pillow's {@code convert("RGB")} does (Java's own
 * {@code getRGB} would apply a gamma curve); RGBA drops alpha without compositing, as Pillow does.
 */
public final class ClipImageProcessor {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private final ImageProcessorConfig config;

    public ClipImageProcessor(ImageProcessorConfig config) {
        this.config = config;
    }

    /** Reads a PNG/JPEG (anything ImageIO reads) and returns {@code [3, cropH, cropW]} pixel values. */
    public float[] preprocess(Path image) {
        BufferedImage img;
        try {
            img = ImageIO.read(image.toFile());
        } catch (IOException e) {
            throw new BadInputException(image, "cannot decode image: " + e.getMessage());
        }
        if (img == null) throw new BadInputException(image, "not an image format javax.imageio can read (PNG, JPEG, BMP, GIF)");
        return preprocess(toRgb(img), img.getWidth(), img.getHeight());
    }

    /** Interleaved 8-bit RGB, {@code [h][w][3]} flattened. */
    public static int[] toRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        int[] rgb = new int[w * h * 3];
        Raster r = img.getRaster();
        boolean grey = img.getColorModel().getNumColorComponents() == 1 && img.getColorModel().getColorSpace().getType()
                == java.awt.color.ColorSpace.TYPE_GRAY && img.getType() != BufferedImage.TYPE_BYTE_INDEXED;
        int bits = img.getColorModel().getComponentSize(0);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                if (grey) {
                    int g = r.getSample(x, y, 0);
                    if (bits > 8) g = g >> (bits - 8);
                    rgb[i] = rgb[i + 1] = rgb[i + 2] = g;
                } else {
                    int argb = img.getRGB(x, y);
                    rgb[i] = (argb >> 16) & 0xFF;
                    rgb[i + 1] = (argb >> 8) & 0xFF;
                    rgb[i + 2] = argb & 0xFF;
                }
            }
        }
        return rgb;
    }

    /** Preprocesses interleaved RGB bytes. */
    public float[] preprocess(int[] rgb, int w, int h) {
        int[] img = rgb;
        int cw = w, ch = h;
        if (config.doResize()) {
            int[] size = resizeTarget(w, h, config.shortestEdge());
            img = resizeBicubic(img, w, h, size[0], size[1]);
            cw = size[0];
            ch = size[1];
        }
        int outW = cw, outH = ch, top = 0, left = 0;
        if (config.doCenterCrop()) {
            outW = config.cropWidth();
            outH = config.cropHeight();
            // transformers' center_crop: floor offsets; when the crop is larger, zero padding with ceil offsets.
            top = Math.floorDiv(ch - outH, 2);
            left = Math.floorDiv(cw - outW, 2);
            if (top < 0 || left < 0 || top + outH > ch || left + outW > cw) {
                int nh = Math.max(outH, ch), nw = Math.max(outW, cw);
                int tp = (nh - ch + 1) / 2, lp = (nw - cw + 1) / 2;
                int[] padded = new int[nw * nh * 3];
                for (int y = 0; y < ch; y++) System.arraycopy(img, y * cw * 3, padded, ((y + tp) * nw + lp) * 3, cw * 3);
                img = padded;
                top = Math.max(0, top + tp);
                left = Math.max(0, left + lp);
                cw = nw;
                ch = nh;
            }
        }
        float[] out = new float[3 * outH * outW];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < outH; y++) {
                for (int x = 0; x < outW; x++) {
                    float v = img[((y + top) * cw + x + left) * 3 + c];
                    if (config.doRescale()) v = (float) (v * config.rescaleFactor());
                    if (config.doNormalize()) v = (v - config.mean()[c]) / config.std()[c];
                    out[(c * outH + y) * outW + x] = v;
                }
            }
        }
        return out;
    }

    /** transformers' {@code get_resize_output_image_size} for {@code shortest_edge}: {width, height}. */
    static int[] resizeTarget(int w, int h, int shortest) {
        boolean wideOrSquare = w <= h;
        int s = wideOrSquare ? w : h, l = wideOrSquare ? h : w;
        int newShort = shortest, newLong = (int) ((long) shortest * l / s);
        return wideOrSquare ? new int[] {newShort, newLong} : new int[] {newLong, newShort};
    }

    /** Pillow's {@code ImagingResample} with the bicubic filter, 8 bits per channel, 3 channels. */
    public static int[] resizeBicubic(int[] src, int w, int h, int outW, int outH) {
        if (outW == w && outH == h) return src.clone();
        int[] tmp = src;
        int tw = w;
        if (outW != w) {
            tmp = pass(src, w, h, outW, true);
            tw = outW;
        }
        if (outH != h) tmp = pass(tmp, tw, h, outH, false);
        return tmp;
    }

    private static double cubic(double x) {
        double a = -0.5;
        x = Math.abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /** One separable pass; {@code horizontal} resizes the width of a {@code w × h} image to {@code out}. */
    private static int[] pass(int[] src, int w, int h, int out, boolean horizontal) {
        int in = horizontal ? w : h;
        double scale = (double) in / out;
        double filterScale = Math.max(scale, 1.0);
        double support = 2.0 * filterScale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[out * 2];
        int[] kk = new int[out * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < out; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int) (center + support + 0.5);
            if (xmax > in) xmax = in;
            xmax -= xmin;
            double ww = 0;
            for (int x = 0; x < xmax; x++) {
                double wt = cubic((x + xmin - center + 0.5) * ss);
                k[x] = wt;
                ww += wt;
            }
            for (int x = 0; x < xmax; x++) {
                double v = ww != 0 ? k[x] / ww : k[x];
                kk[xx * ksize + x] = (int) (v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        int ow = horizontal ? out : w, oh = horizontal ? h : out;
        int[] dst = new int[ow * oh * 3];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int o = horizontal ? x : y;
                int xmin = bounds[2 * o], xmax = bounds[2 * o + 1];
                for (int c = 0; c < 3; c++) {
                    int ss0 = 1 << (PRECISION_BITS - 1);
                    for (int t = 0; t < xmax; t++) {
                        int sx = horizontal ? xmin + t : x, sy = horizontal ? y : xmin + t;
                        ss0 += src[(sy * w + sx) * 3 + c] * kk[o * ksize + t];
                    }
                    int v = ss0 >> PRECISION_BITS;
                    dst[(y * ow + x) * 3 + c] = v < 0 ? 0 : Math.min(v, 255);
                }
            }
        }
        return dst;
    }
}
