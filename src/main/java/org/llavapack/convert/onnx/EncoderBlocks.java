package org.llavapack.convert.onnx;

import java.util.List;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.OnnxGraph;

/**
 * Standard-op building blocks shared by the CLIP encoder and the Q-Former: LayerNormalization (opset 17+),
 * multi-head attention as Reshape/Transpose/MatMul/Softmax (onnxruntime fuses what it can), erf GELU and CLIP's
 * quick_gelu ({@code x·sigmoid(1.702x)}).
 */
record EncoderBlocks(OnnxGraph g, GraphWeights gw) {

    String layerNorm(String x, String weight, String bias, double eps) {
        return g.op("LayerNormalization", List.of(x, gw.fp32(weight), gw.fp32(bias)), Attribute.of("axis", -1L), Attribute.of("epsilon", (float) eps));
    }

    /** LayerNorm without affine parameters (the Q-Former's input norm): scale 1, bias 0. */
    String layerNormPlain(String x, int hidden, double eps) {
        float[] ones = new float[hidden];
        java.util.Arrays.fill(ones, 1f);
        return g.op("LayerNormalization", List.of(x, g.floats(new long[] {hidden}, ones), g.floats(new long[] {hidden}, new float[hidden])),
                Attribute.of("axis", -1L), Attribute.of("epsilon", (float) eps));
    }

    /**
     * Exact (erf) GELU, {@code 0.5·x·(1 + erf(x/√2))}, in opset-13 ops rather than opset 20's Gelu: onnxruntime fuses
     * the chain into its Gelu kernel anyway, and Debian's onnx 1.12 checker (which stops at opset 17) can check it.
     */
    String gelu(String x) {
        String erf = g.op("Erf", g.op("Div", x, g.scalar((float) Math.sqrt(2.0))));
        return g.op("Mul", g.op("Mul", x, g.scalar(0.5f)), g.op("Add", erf, g.scalar(1f)));
    }

    String quickGelu(String x) {
        return g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.scalar(1.702f))));
    }

    /** {@code [B, S, H·D]} → {@code [B, H, S, D]}. */
    String splitHeads(String x, int heads, int headDim) {
        return g.op("Transpose", g.op("Reshape", x, g.longs(0, 0, heads, headDim)), Attribute.ints("perm", 0, 2, 1, 3));
    }

    /**
     * Scaled dot-product attention over {@code [B, S, H·D]} projections; {@code additiveMask} ({@code [B,1,1,T]},
     * 0 or a large negative) or null. Not causal: CLIP's vision tower and BERT attend both ways.
     */
    String attention(String q, String k, String v, int heads, int headDim, String additiveMask) {
        String qh = splitHeads(q, heads, headDim), vh = splitHeads(v, heads, headDim);
        String kt = g.op("Transpose", g.op("Reshape", k, g.longs(0, 0, heads, headDim)), Attribute.ints("perm", 0, 2, 3, 1));
        String scores = g.op("Mul", g.op("MatMul", qh, kt), g.scalar((float) Math.pow(headDim, -0.5)));
        if (additiveMask != null) scores = g.op("Add", scores, additiveMask);
        String ctx = g.op("MatMul", g.op("Softmax", scores, Attribute.of("axis", -1L)), vh);
        return g.op("Reshape", g.op("Transpose", ctx, Attribute.ints("perm", 0, 2, 1, 3)), g.longs(0, 0, (long) heads * headDim));
    }
}
