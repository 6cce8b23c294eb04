package org.llavapack.convert.onnx;

import java.util.Map;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.model.Weights;

/** How a graph builder gets its {@link GraphWeights}: the precision, and where int4 matrices are recorded. */
public record GraphWeightsFactory(Precision precision, Map<String, Int4Source> quantized) {
    public GraphWeights create(OnnxGraph g, Weights w) {
        return new GraphWeights(g, w, precision, quantized);
    }

    /** The vision tower and the connector stay fp32 under int4 (only decoder matrices are quantized). */
    public GraphWeightsFactory forEncoder() {
        return precision.isInt4() ? new GraphWeightsFactory(Precision.FP32, quantized) : this;
    }
}
