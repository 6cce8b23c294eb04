package org.llavapack.tensor;

import java.lang.foreign.MemorySegment;

/**
 * IEEE binary16 ↔ float32. The JDK's {@link Float#float16ToFloat} and {@link Float#floatToFloat16} are exact and round
 * to nearest even (HotSpot compiles them to F16C instructions and vectorizes simple loops over them).
 */
public final class Float16 {
    private Float16() {}

    public static float toFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    public static short fromFloat(float value) {
        return Float.floatToFloat16(value);
    }

    public static void toFloats(MemorySegment src, long srcOffset, float[] dst, int dstIndex, int count) {
        for (int i = 0; i < count; i++) {
            dst[dstIndex + i] = Float.float16ToFloat(src.get(BFloat16.LE_SHORT, srcOffset + 2L * i));
        }
    }

    public static void fromFloats(float[] src, int srcIndex, MemorySegment dst, long dstOffset, int count) {
        for (int i = 0; i < count; i++) {
            dst.set(BFloat16.LE_SHORT, dstOffset + 2L * i, Float.floatToFloat16(src[srcIndex + i]));
        }
    }
}
