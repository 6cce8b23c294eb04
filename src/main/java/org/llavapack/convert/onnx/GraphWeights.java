package org.llavapack.convert.onnx;

import java.util.List;
import java.util.Map;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.OnnxLimits;
import org.llavapack.model.Weights;

/**
 * Puts a component's weights into a graph at the export precision: fp32 as is, fp16 as FLOAT16 initializers with a
 * Cast back to fp32 (activations stay fp32), int4 as MatMulNBits for the matrices the caller marks quantizable.
 * Linear weights are transposed to {@code [in, out]} for MatMul; MatMulNBits takes HF's rows unchanged.
 *
 * @param quantized collects the int4 matrices by initializer name, so tests can rebuild the dequantized reference
 */
public record GraphWeights(OnnxGraph g, Weights w, Precision precision, Map<String, Int4Source> quantized) {

    /** A tensor as stored (norm weights, embeddings, conv kernels), fp32 or fp16 + Cast. */
    public String tensor(String name) {
        return cast(g.initializer(name, storageType(), w.shape(name), new MatrixPayload(w, List.of(name), false, storageType())));
    }

    /** Always fp32: norm weights, biases and position tables stay exact in every variant. */
    public String fp32(String name) {
        return g.initializer(name, ElemType.FLOAT, w.shape(name), new MatrixPayload(w, List.of(name), false, ElemType.FLOAT));
    }

    /** As {@link #fp32} with a different shape (same element count). */
    public String fp32(String name, long... dims) {
        return g.initializer(name, ElemType.FLOAT, dims, new MatrixPayload(w, List.of(name), false, ElemType.FLOAT));
    }

    /**
     * {@code x · Wᵀ (+ bias)} for HF Linear weights {@code names} stacked along {@code out}.
     *
     * @param quantizable whether int4 applies here (decoder matrices)
     * @param out the output value name, or null for a generated one
     */
    public String linear(String x, String initName, List<String> names, String bias, boolean quantizable, String out) {
        String y;
        if (precision.isInt4() && quantizable) {
            Int4Source q = new Int4Source(w, names, precision == Precision.INT4_ASYMMETRIC);
            quantized.put(initName, q);
            String b = g.initializer(initName + ".qweight", ElemType.UINT8, new long[] {q.n(), q.blocks(), Int4Matrix.BLOB}, q.packed());
            String s = g.initializer(initName + ".scales", ElemType.FLOAT, new long[] {(long) q.n() * q.blocks()}, q.scales());
            List<String> in = q.asymmetric()
                    ? List.of(x, b, s, g.initializer(initName + ".qzeros", ElemType.UINT8, new long[] {(long) q.n() * ((q.blocks() + 1) / 2)}, q.zeroPoints()))
                    : List.of(x, b, s);
            y = bias == null && out != null ? out : g.fresh("MatMulNBits");
            // accuracy_level 0: fp32 activations against the dequantized weights (level 4 quantizes activations to int8).
            g.node(OnnxLimits.MICROSOFT, "MatMulNBits", in, List.of(y), Attribute.of("K", q.k()), Attribute.of("N", q.n()),
                    Attribute.of("bits", 4), Attribute.of("block_size", Int4Matrix.BLOCK), Attribute.of("accuracy_level", 0));
        } else {
            MatrixPayload p = new MatrixPayload(w, names, true, storageType());
            String wt = cast(g.initializer(initName, storageType(), new long[] {p.cols(), p.totalRows()}, p));
            y = bias == null && out != null ? out : g.fresh("MatMul");
            g.node("", "MatMul", List.of(x, wt), List.of(y));
        }
        if (bias == null) return y;
        String yb = out != null ? out : g.fresh("Add");
        g.node("", "Add", List.of(y, fp32(bias)), List.of(yb));
        return yb;
    }

    public String linear(String x, String module, boolean bias) {
        return linear(x, module + ".weight", List.of(module + ".weight"), bias && w.has(module + ".bias") ? module + ".bias" : null, false, null);
    }

    private ElemType storageType() {
        return precision == Precision.FP16 ? ElemType.FLOAT16 : ElemType.FLOAT;
    }

    private String cast(String init) {
        return precision == Precision.FP16 ? g.op("Cast", init, Attribute.of("to", ElemType.FLOAT.code)) : init;
    }
}
