package org.llavapack.convert.onnx;

import java.util.List;
import org.llavapack.formats.onnx.Attribute;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.ValueInfo;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaNames;

/**
 * {@code embed_tokens.onnx}: {@code input_ids [batch, seq]} int64 → {@code inputs_embeds [batch, seq, hidden]} by
 * {@code Gather} on the embedding matrix. Under fp16 the rows are gathered first and then cast, so the table is
 * never widened as a whole; under int4 the table stays fp32 (only decoder matrices are quantized).
 */
public final class EmbedGraph {
    private EmbedGraph() {}

    public static final String INPUT = "input_ids";
    public static final String OUTPUT = DecoderGraph.INPUTS_EMBEDS;

    public static OnnxGraph build(Llama model, Precision precision) {
        OnnxGraph g = new OnnxGraph("llavapack_embed_tokens");
        String ids = g.input(ValueInfo.of(INPUT, ElemType.INT64, "batch_size", "sequence_length"));
        ElemType t = precision == Precision.FP16 ? ElemType.FLOAT16 : ElemType.FLOAT;
        String table = g.initializer(LlamaNames.EMBED, t, model.weights().shape(LlamaNames.EMBED),
                new MatrixPayload(model.weights(), List.of(LlamaNames.EMBED), false, t));
        if (t == ElemType.FLOAT) {
            g.node("", "Gather", List.of(table, ids), List.of(OUTPUT), Attribute.of("axis", 0L));
        } else {
            String rows = g.op("Gather", table, ids, Attribute.of("axis", 0L));
            g.node("", "Cast", List.of(rows), List.of(OUTPUT), Attribute.of("to", ElemType.FLOAT.code));
        }
        g.output(ValueInfo.of(OUTPUT, ElemType.FLOAT, "batch_size", "sequence_length", model.config().hiddenSize()));
        return g;
    }
}
