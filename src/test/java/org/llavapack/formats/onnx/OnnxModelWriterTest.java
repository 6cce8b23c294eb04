package org.llavapack.formats.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.formats.onnx.proto.OnnxProto;

/** The container rules of formats/onnx, read back with the generated protobuf classes. */
class OnnxModelWriterTest {
    @TempDir
    Path tmp;

    static OnnxGraph smallGraph() {
        OnnxGraph g = new OnnxGraph("t");
        String x = g.input(ValueInfo.of("x", ElemType.FLOAT, "batch_size", 3));
        String w = g.initializer("w", ElemType.FLOAT, new long[] {3, 5}, new OnnxGraph.FloatArrayPayload(new float[15]));
        String b = g.initializer("b", ElemType.FLOAT, new long[] {5}, new OnnxGraph.FloatArrayPayload(new float[] {1, 2, 3, 4, 5}));
        String y = g.op("MatMul", x, w);
        String r = g.op("Reshape", g.op("Add", y, b), g.longs(0, 5));
        g.node(OnnxLimits.MICROSOFT, "FakeContribOp", List.of(r), List.of("y"));
        g.output(ValueInfo.of("y", ElemType.FLOAT, "batch_size", 5));
        return g;
    }

    @Test
    void externalDataIsAlignedAndConstantsInline() throws Exception {
        OnnxModelWriter.Written wr = OnnxModelWriter.write(smallGraph(), tmp, "m.onnx", "test", Map.of("k", "v"));
        OnnxProto.ModelProto m = OnnxProto.ModelProto.parseFrom(Files.readAllBytes(wr.model()));
        assertEquals(OnnxLimits.IR_VERSION, m.getIrVersion());
        Map<String, Long> opsets = new HashMap<>();
        m.getOpsetImportList().forEach(o -> opsets.put(o.getDomain(), o.getVersion()));
        assertEquals(Map.of("", 21L, "com.microsoft", 1L), opsets);
        long dataSize = Files.size(tmp.resolve("m.onnx_data"));
        assertEquals(wr.dataBytes(), dataSize);
        int external = 0, inline = 0;
        for (OnnxProto.TensorProto t : m.getGraph().getInitializerList()) {
            if (t.getDataLocation() == OnnxProto.TensorProto.DataLocation.EXTERNAL) {
                external++;
                Map<String, String> kv = new HashMap<>();
                t.getExternalDataList().forEach(e -> kv.put(e.getKey(), e.getValue()));
                assertEquals("m.onnx_data", kv.get("location"));
                long off = Long.parseLong(kv.get("offset")), len = Long.parseLong(kv.get("length"));
                assertEquals(0, off % 4096, t.getName() + " offset aligned");
                assertTrue(off + len <= dataSize);
                assertFalse(t.hasRawData());
                if (t.getName().equals("b")) {
                    ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(tmp.resolve("m.onnx_data"))).order(ByteOrder.LITTLE_ENDIAN);
                    assertEquals(3f, bb.getFloat((int) off + 8));
                }
            } else {
                inline++;
                assertEquals(OnnxProto.TensorProto.DataType.INT64.getNumber(), t.getDataType(), "only shape constants are inline");
                assertEquals(16, t.getRawData().size());
            }
        }
        assertEquals(2, external);
        assertEquals(1, inline);
        for (OnnxProto.NodeProto n : m.getGraph().getNodeList()) {
            for (OnnxProto.AttributeProto a : n.getAttributeList()) assertTrue(a.hasType(), "attribute type is always set");
        }
        assertEquals("v", m.getMetadataProps(0).getValue());
    }

    @Test
    void invalidGraphsAreRefusedBeforeAnythingIsWritten() {
        OnnxGraph g = new OnnxGraph("bad");
        String x = g.input(ValueInfo.of("x", ElemType.FLOAT, 1));
        assertThrows(IllegalStateException.class, () -> g.op("Add", x, "undefined"), "a node cannot read a value defined later");
        assertThrows(IllegalStateException.class, () -> g.input(ValueInfo.of("x", ElemType.FLOAT, 1)), "values are defined once");
        g.op("Relu", x);
        g.output(ValueInfo.of("never", ElemType.FLOAT, 1));
        List<String> problems = g.validate();
        assertEquals(1, problems.size(), problems.toString());
        assertTrue(problems.getFirst().contains("never"), problems.toString());
        assertThrows(IllegalStateException.class, () -> OnnxModelWriter.write(g, tmp, "bad.onnx", "test", Map.of()));
        assertFalse(Files.exists(tmp.resolve("bad.onnx")));
    }

    @Test
    void oversizedInlineConstantsAreABug() {
        assertThrows(IllegalArgumentException.class, () -> new Initializer("big", ElemType.INT64, new long[] {1000},
                new OnnxGraph.LongArrayPayload(new long[1000]), true));
    }
}
