package org.llavapack.parity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import org.llavapack.model.Weights;

/** The few tensor operations the forward passes share, in fp32 on DJL's PyTorch engine. */
final class Nd {
    private Nd() {}

    /** A weight as an fp32 array in {@code m}, widened in Java first (DJL has no bf16). */
    static NDArray weight(NDManager m, Weights w, String name) {
        long[] shape = w.shape(name);
        long n = 1;
        for (long d : shape) n *= d;
        if (n <= MAX_UPLOAD_FLOATS || shape.length < 2) return m.create(w.floats(name), new Shape(shape));
        // DJL copies through one direct ByteBuffer (≤ 2 GiB): upload big matrices in row blocks and join them.
        long cols = n / shape[0];
        int rows = (int) Math.max(1, MAX_UPLOAD_FLOATS / cols);
        ai.djl.ndarray.NDList parts = new ai.djl.ndarray.NDList();
        for (long r = 0; r < shape[0]; r += rows) {
            int k = (int) Math.min(rows, shape[0] - r);
            parts.add(m.create(w.rows(name, r, k), new Shape(k, cols)));
        }
        NDArray joined = ai.djl.ndarray.NDArrays.concat(parts, 0).reshape(new Shape(shape));
        parts.close();
        return joined;
    }

    /** 256 Mi floats (1 GiB) per upload. */
    static final long MAX_UPLOAD_FLOATS = 1L << 28;

    /** {@code x Wᵀ + b} (torch's {@code F.linear}); {@code bias} may be null. */
    static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        NDArray y = x.matMul(weight.transpose());
        return bias == null ? y : y.add(bias);
    }

    /** torch's {@code layer_norm} over the last dimension; gamma/beta null for the affine-free variant. */
    static NDArray layerNorm(NDArray x, NDArray gamma, NDArray beta, double eps) {
        long d = x.getShape().get(x.getShape().dimension() - 1);
        NDManager m = x.getManager();
        NDArray g = gamma != null ? gamma : m.ones(new Shape(d));
        NDArray b = beta != null ? beta : m.zeros(new Shape(d));
        return LayerNorm.layerNorm(x, new Shape(d), g, b, (float) eps).singletonOrThrow();
    }

    /** Llama's RMSNorm: {@code x · rsqrt(mean(x²) + eps) · w}. */
    static NDArray rmsNorm(NDArray x, NDArray w, double eps) {
        NDArray ms = x.square().mean(new int[] {x.getShape().dimension() - 1}, true);
        return x.mul(ms.add((float) eps).pow(-0.5f)).mul(w);
    }

    /** GELU with erf (torch's default, BERT's {@code gelu}). */
    static NDArray gelu(NDArray x) {
        return x.mul(x.div((float) Math.sqrt(2.0)).erf().add(1f)).mul(0.5f);
    }

    /** CLIP's {@code quick_gelu}: {@code x · sigmoid(1.702 x)}. */
    static NDArray quickGelu(NDArray x) {
        return x.mul(ai.djl.nn.Activation.sigmoid(x.mul(1.702f)));
    }

    static NDArray silu(NDArray x) {
        return x.mul(ai.djl.nn.Activation.sigmoid(x));
    }

    /** {@code [B, S, heads·d]} → {@code [B, heads, S, d]}. */
    static NDArray splitHeads(NDArray x, int heads) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), heads, s.get(2) / heads).transpose(0, 2, 1, 3);
    }

    /** {@code [B, heads, S, d]} → {@code [B, S, heads·d]}. */
    static NDArray mergeHeads(NDArray x) {
        Shape s = x.getShape();
        return x.transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3));
    }

    /**
     * Scaled dot-product attention {@code softmax(q kᵀ · scale + mask) v}; {@code mask} is additive and broadcast
     * (null for none). {@code prescaled}: CLIP multiplies q by the scale before the product (as HF does), BERT and
     * Llama divide the scores; the two round differently, so each model does what its reference does.
     */
    static NDArray attention(NDArray q, NDArray k, NDArray v, double scale, boolean prescaled, NDArray mask) {
        NDArray scores;
        if (prescaled) scores = q.mul((float) scale).matMul(k.transpose(0, 1, 3, 2));
        else scores = q.matMul(k.transpose(0, 1, 3, 2)).div((float) (1.0 / scale));
        if (mask != null) scores = scores.add(mask);
        return scores.softmax(-1).matMul(v);
    }
}
