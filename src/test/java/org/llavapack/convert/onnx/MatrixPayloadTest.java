package org.llavapack.convert.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.llavapack.formats.onnx.ElemType;
import org.llavapack.model.Weights;

/** Row blocks written in parallel, stacked and transposed, agree with the plain definition at every block seam. */
class MatrixPayloadTest {
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static Weights weights() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        shapes.put("a", new long[] {301, 70});
        shapes.put("b", new long[] {45, 70});
        values.put("a", OnnxFixtures.normals(301 * 70, 1));
        values.put("b", OnnxFixtures.normals(45 * 70, 2));
        return Weights.ofArrays("test", shapes, values);
    }

    @Test
    void stackedTransposedBlocksMatchTheDefinition() {
        Weights w = weights();
        for (ElemType t : new ElemType[] {ElemType.FLOAT, ElemType.FLOAT16}) {
            for (boolean transposed : new boolean[] {false, true}) {
                MatrixPayload p = new MatrixPayload(w, List.of("a", "b"), transposed, t);
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment out = arena.allocate(p.bytes());
                    p.write(out, 700); // 10 rows per block: 31 + 5 blocks, uneven last blocks
                    int rows = 346, cols = 70;
                    for (int r = 0; r < rows; r++) {
                        float[] src = r < 301 ? w.floats("a") : w.floats("b");
                        int rr = r < 301 ? r : r - 301;
                        for (int c = 0; c < cols; c++) {
                            float v = src[rr * cols + c];
                            long idx = transposed ? (long) c * rows + r : (long) r * cols + c;
                            float got = t == ElemType.FLOAT ? out.get(F, idx * 4) : Float.float16ToFloat(out.get(H, idx * 2));
                            float want = t == ElemType.FLOAT ? v : Float.float16ToFloat(Float.floatToFloat16(v));
                            assertEquals(want, got, 0f, t + " transposed=" + transposed + " at row " + r + " col " + c);
                        }
                    }
                }
            }
        }
    }
}
