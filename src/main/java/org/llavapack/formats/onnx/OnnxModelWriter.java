package org.llavapack.formats.onnx;

import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.llavapack.OutputException;
import org.llavapack.io.WritebackFlusher;
import org.llavapack.formats.onnx.proto.OnnxProto.AttributeProto;
import org.llavapack.formats.onnx.proto.OnnxProto.GraphProto;
import org.llavapack.formats.onnx.proto.OnnxProto.ModelProto;
import org.llavapack.formats.onnx.proto.OnnxProto.NodeProto;
import org.llavapack.formats.onnx.proto.OnnxProto.OperatorSetIdProto;
import org.llavapack.formats.onnx.proto.OnnxProto.StringStringEntryProto;
import org.llavapack.formats.onnx.proto.OnnxProto.TensorProto;
import org.llavapack.formats.onnx.proto.OnnxProto.TensorShapeProto;
import org.llavapack.formats.onnx.proto.OnnxProto.TypeProto;
import org.llavapack.formats.onnx.proto.OnnxProto.ValueInfoProto;

/**
 * Saves an {@link OnnxGraph} as {@code NAME.onnx} plus {@code NAME.onnx_data}: every initializer goes to the data
 * file (the protobuf 2 GiB limit never applies, and no file is ever re-saved as one piece, which breaks models,
 * huggingface/optimum#2223), at an offset aligned to 4096 so onnxruntime can memory-map it (zero padding between).
 * The data file is written first, tensor by tensor; the small ModelProto last. The pair must stay together; onnxruntime
 * must load the model from its file path (from bytes it cannot find the data file).
 */
public final class OnnxModelWriter {
    private OnnxModelWriter() {}

    /** What was written. */
    public record Written(Path model, Path data, long modelBytes, long dataBytes, int initializers, int nodes) {}

    public static String dataFileName(String modelFileName) {
        return modelFileName + "_data";
    }

    /**
     * @param dir an existing folder (the temporary output folder)
     * @param fileName e.g. {@code decoder_model_merged.onnx}
     * @param metadata {@code metadata_props}, written sorted
     */
    public static Written write(OnnxGraph graph, Path dir, String fileName, String producerVersion, Map<String, String> metadata) {
        List<String> problems = graph.validate();
        if (!problems.isEmpty()) {
            // A graph builder bug, not bad input: name the first few problems.
            throw new IllegalStateException("invalid ONNX graph " + graph.name() + ": " + String.join("; ", problems.subList(0, Math.min(5, problems.size()))));
        }
        Path modelPath = dir.resolve(fileName);
        String dataName = dataFileName(fileName);
        Path dataPath = dir.resolve(dataName);
        GraphProto.Builder g = GraphProto.newBuilder().setName(graph.name());
        long end = 0;
        List<Initializer> inits = graph.initializers();
        long[] offsets = new long[inits.size()];
        for (int i = 0; i < inits.size(); i++) {
            if (inits.get(i).inline()) continue;
            long off = align(end);
            offsets[i] = off;
            end = off + inits.get(i).payload().bytes();
        }
        // Sequential writes of one tensor at a time from an off-heap buffer the size of that tensor (memory follows the
        // largest tensor); the flusher writes finished bytes back to disk while later tensors are computed.
        try (FileChannel ch = FileChannel.open(dataPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
             WritebackFlusher flusher = WritebackFlusher.start(dir, dataName)) {
            long pos = 0;
            for (int i = 0; i < inits.size(); i++) {
                Initializer t = inits.get(i);
                if (t.inline()) {
                    g.addInitializer(inlineTensor(t));
                    continue;
                }
                long n = t.payload().bytes();
                if (offsets[i] > pos) pos = writeFully(ch, ByteBuffer.allocate((int) (offsets[i] - pos)), pos);
                if (n > 0) {
                    // Shared: payloads fill their tensor from several threads.
                    try (Arena arena = Arena.ofShared()) {
                        MemorySegment buf = arena.allocate(n, 64);
                        t.payload().write(buf);
                        for (long done = 0; done < n; ) {
                            long chunk = Math.min(n - done, 1L << 30);
                            pos = writeFully(ch, buf.asSlice(done, chunk).asByteBuffer(), pos);
                            done += chunk;
                        }
                    }
                }
                g.addInitializer(tensor(t, dataName, offsets[i]));
            }
            if (ch.size() != end) throw new OutputException(dataPath, "data file is " + ch.size() + " bytes, expected " + end, null);
        } catch (IOException e) {
            throw OutputException.of(dataPath, e);
        }
        for (ValueInfo v : graph.inputs()) g.addInput(valueInfo(v));
        for (ValueInfo v : graph.outputs()) g.addOutput(valueInfo(v));
        for (Node n : graph.nodes()) g.addNode(node(n));
        ModelProto.Builder m = ModelProto.newBuilder()
                .setIrVersion(OnnxLimits.IR_VERSION)
                .setProducerName("llavapack")
                .setProducerVersion(producerVersion)
                .setGraph(g);
        for (Map.Entry<String, Long> e : new TreeMap<>(OnnxLimits.opsets(graph.usesDomain(OnnxLimits.MICROSOFT))).entrySet()) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(e.getKey()).setVersion(e.getValue()));
        }
        for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
            m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(e.getKey()).setValue(e.getValue()));
        }
        ModelProto model = m.build();
        long size = model.getSerializedSize();
        if (size > OnnxLimits.MAX_PROTO_BYTES) throw new OutputException(modelPath, "graph exceeds protobuf's 2 GiB limit", null);
        try (OutputStream out = Files.newOutputStream(modelPath)) {
            model.writeTo(out);
        } catch (IOException e) {
            throw OutputException.of(modelPath, e);
        }
        return new Written(modelPath, dataPath, size, end, inits.size(), graph.nodes().size());
    }

    private static long writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) pos += ch.write(b, pos);
        return pos;
    }

    static long align(long pos) {
        long a = OnnxLimits.DATA_ALIGNMENT;
        return (pos + a - 1) / a * a;
    }

    private static TensorProto inlineTensor(Initializer t) {
        byte[] raw = new byte[(int) t.payload().bytes()];
        t.payload().write(MemorySegment.ofArray(raw));
        TensorProto.Builder b = TensorProto.newBuilder().setName(t.name()).setDataType(t.type().code).setRawData(ByteString.copyFrom(raw));
        for (long d : t.dims()) b.addDims(d);
        return b.build();
    }

    private static TensorProto tensor(Initializer t, String location, long offset) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(t.name()).setDataType(t.type().code)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL);
        for (long d : t.dims()) b.addDims(d);
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location));
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue(Long.toString(offset)));
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue(Long.toString(t.payload().bytes())));
        return b.build();
    }

    private static ValueInfoProto valueInfo(ValueInfo v) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (Dim d : v.shape()) {
            s.addDim(switch (d) {
                case Dim.Fixed f -> TensorShapeProto.Dimension.newBuilder().setDimValue(f.value());
                case Dim.Symbolic p -> TensorShapeProto.Dimension.newBuilder().setDimParam(p.name());
            });
        }
        TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(v.type().code).setShape(s)).build();
        return ValueInfoProto.newBuilder().setName(v.name()).setType(type).build();
    }

    private static NodeProto node(Node n) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(n.name()).setOpType(n.opType()).addAllInput(n.inputs()).addAllOutput(n.outputs());
        if (!n.domain().isEmpty()) b.setDomain(n.domain());
        for (Attribute a : n.attributes()) b.addAttribute(attribute(a));
        return b.build();
    }

    /** The {@code type} field is mandatory since IR 2 and must match the populated field. */
    private static AttributeProto attribute(Attribute a) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(a.name());
        switch (a) {
            case Attribute.Int i -> b.setType(AttributeProto.AttributeType.INT).setI(i.value());
            case Attribute.Float f -> b.setType(AttributeProto.AttributeType.FLOAT).setF(f.value());
            case Attribute.Ints is -> b.setType(AttributeProto.AttributeType.INTS).addAllInts(is.values());
            case Attribute.Str s -> b.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s.value()));
        }
        return b.build();
    }
}
