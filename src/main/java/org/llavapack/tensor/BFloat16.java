package org.llavapack.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * bfloat16 ↔ float32, bit-exact with PyTorch's scalar conversion (c10/util/BFloat16.h): widening is a 16-bit shift,
 * narrowing rounds to nearest even and maps every NaN to the canonical quiet NaN 0x7FC0.
 */
public final class BFloat16 {
    private BFloat16() {}

    public static final short CANONICAL_NAN = 0x7FC0;

    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(INTS.length() * Short.SIZE));
    private static final boolean VECTORIZE = INTS.length() >= 4 && !Boolean.getBoolean("llavapack.noVector");

    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    public static short fromFloat(float value) {
        if (Float.isNaN(value)) return CANONICAL_NAN;
        int bits = Float.floatToRawIntBits(value);
        int bias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + bias) >>> 16);
    }

    /** Widens {@code count} little-endian bf16 values starting at byte {@code srcOffset} into {@code dst[dstIndex…]}. */
    public static void toFloats(MemorySegment src, long srcOffset, float[] dst, int dstIndex, int count) {
        int i = 0;
        if (VECTORIZE && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            int step = INTS.length();
            int bound = count - count % step;
            for (; i < bound; i += step) {
                ShortVector s = ShortVector.fromMemorySegment(SHORTS, src, srcOffset + 2L * i, ByteOrder.LITTLE_ENDIAN);
                IntVector w = (IntVector) s.convertShape(VectorOperators.S2I, INTS, 0);
                w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstIndex + i);
            }
        }
        for (; i < count; i++) dst[dstIndex + i] = toFloat(src.get(LE_SHORT, srcOffset + 2L * i));
    }

    /** Rounds {@code count} floats to bf16 (RNE) and stores them little-endian at byte {@code dstOffset}. */
    public static void fromFloats(float[] src, int srcIndex, MemorySegment dst, long dstOffset, int count) {
        int i = 0;
        if (VECTORIZE && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            int step = FLOATS.length();
            int bound = count - count % step;
            IntVector nan = IntVector.broadcast(INTS, CANONICAL_NAN);
            for (; i < bound; i += step) {
                FloatVector f = FloatVector.fromArray(FLOATS, src, srcIndex + i);
                IntVector bits = f.reinterpretAsInts();
                IntVector bias = bits.lanewise(VectorOperators.LSHR, 16).and(1).add(0x7FFF);
                IntVector rounded = bits.add(bias).lanewise(VectorOperators.LSHR, 16);
                VectorMask<Float> isNan = f.test(VectorOperators.IS_NAN);
                rounded = rounded.blend(nan, isNan.cast(INTS));
                ShortVector narrow = (ShortVector) rounded.convertShape(VectorOperators.I2S, SHORTS, 0);
                narrow.intoMemorySegment(dst, dstOffset + 2L * i, ByteOrder.LITTLE_ENDIAN);
            }
        }
        for (; i < count; i++) dst.set(LE_SHORT, dstOffset + 2L * i, fromFloat(src[srcIndex + i]));
    }
}
