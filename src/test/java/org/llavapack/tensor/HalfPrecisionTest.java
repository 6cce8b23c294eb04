package org.llavapack.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * bf16/f16 conversions against independent references: exhaustive over all 65,536 16-bit patterns for widening and
 * round trips, and against a double-precision round-to-nearest-even oracle for narrowing.
 */
class HalfPrecisionTest {
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void bf16WideningIsExactAndRoundTripsForAllPatterns() {
        for (int bits = 0; bits < 65536; bits++) {
            float f = BFloat16.toFloat((short) bits);
            int fb = Float.floatToRawIntBits(f);
            assertEquals(bits, fb >>> 16, "high half");
            assertEquals(0, fb & 0xFFFF, "low half");
            short back = BFloat16.fromFloat(f);
            if (Float.isNaN(f)) assertEquals(BFloat16.CANONICAL_NAN, back);
            else assertEquals((short) bits, back, () -> "pattern " + Integer.toHexString(0));
        }
    }

    @Test
    void f16WideningMatchesDefinitionAndRoundTripsForAllPatterns() {
        for (int bits = 0; bits < 65536; bits++) {
            float f = Float16.toFloat((short) bits);
            assertEquals(referenceF16ToDouble(bits), (double) f, 0.0, "pattern " + Integer.toHexString(bits));
            if (!Float.isNaN(f)) assertEquals((short) bits, Float16.fromFloat(f));
        }
    }

    /** binary16 decoded from its fields, in double. */
    private static double referenceF16ToDouble(int bits) {
        int sign = (bits >>> 15) & 1, exp = (bits >>> 10) & 0x1F, man = bits & 0x3FF;
        double v;
        if (exp == 0x1F) v = man == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else if (exp == 0) v = man * Math.pow(2, -24);
        else v = (1 + man / 1024.0) * Math.pow(2, exp - 15);
        return sign == 1 ? -v : v;
    }

    /** RNE to bf16 decided by comparing distances in double arithmetic (exact for these operands). */
    private static short referenceBf16(float f) {
        if (Float.isNaN(f)) return BFloat16.CANONICAL_NAN;
        int bits = Float.floatToRawIntBits(f);
        int sign = bits & 0x80000000;
        int mag = bits & 0x7FFFFFFF;
        if (mag >= 0x7F800000) return (short) (bits >>> 16); // infinities
        int lo = mag & 0xFFFF0000;
        int hi = lo + 0x10000;
        double x = Float.intBitsToFloat(mag);
        double dlo = Float.intBitsToFloat(lo);
        double dhi = hi >= 0x7F800000 ? Math.scalb(1.0, 128) : Float.intBitsToFloat(hi);
        double a = x - dlo, b = dhi - x;
        int chosen = a < b ? lo : a > b ? hi : (((lo >>> 16) & 1) == 0 ? lo : hi);
        if (chosen >= 0x7F800000) chosen = 0x7F800000;
        return (short) ((sign | chosen) >>> 16);
    }

    /** RNE to binary16 via double: the JDK conversion checked against the field-level definition. */
    private static short referenceF16(float f) {
        if (Float.isNaN(f)) return Float16.fromFloat(f);
        short best = 0;
        double bestDist = Double.POSITIVE_INFINITY;
        // binary search over ordered positive patterns 0..0x7C00
        double x = Math.abs((double) f);
        int lo = 0, hi = 0x7C00;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (referenceF16ToDouble(mid) <= x) lo = mid;
            else hi = mid - 1;
        }
        int below = lo;
        int above = Math.min(lo + 1, 0x7C00);
        double dBelow = x - referenceF16ToDouble(below);
        double upper = above == 0x7C00 ? 65536.0 : referenceF16ToDouble(above); // 65536 = max + ulp: the overflow threshold's partner
        double dAbove = upper - x;
        int chosen = dBelow < dAbove ? below : dBelow > dAbove ? above : ((below & 1) == 0 ? below : above);
        best = (short) (chosen | (f < 0 || (f == 0 && 1 / f < 0) ? 0x8000 : 0));
        return best;
    }

    @Test
    void bf16NarrowingMatchesReferenceOnEdgesAndRandomFloats() {
        float[] edges = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1f, 1.00390625f /* tie to even */,
                1.01171875f /* tie to odd→up */, Float.intBitsToFloat(0x7F7F8000), Float.intBitsToFloat(0x7F7F7FFF),
                Float.intBitsToFloat(0x00008000), Float.intBitsToFloat(0x0001FFFF), 3.14159265f};
        for (float f : edges) assertEquals(referenceBf16(f), BFloat16.fromFloat(f), () -> "value " + f);
        SplittableRandom r = new SplittableRandom(42);
        for (int i = 0; i < 2_000_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            assertEquals(referenceBf16(f), BFloat16.fromFloat(f), "bits " + Integer.toHexString(Float.floatToRawIntBits(f)));
        }
        // every tie and near-tie around each bf16 value
        for (int hiBits = 0; hiBits < 65536; hiBits++) {
            for (int low : new int[] {0x7FFF, 0x8000, 0x8001}) {
                float f = Float.intBitsToFloat((hiBits << 16) | low);
                assertEquals(referenceBf16(f), BFloat16.fromFloat(f));
            }
        }
    }

    @Test
    void f16NarrowingMatchesReference() {
        float[] edges = {65504f, 65519.99f, 65520f, 65536f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,
                -0f, 1.0009765625f, 1.00048828125f /* tie */, 1.00146484375f /* tie to even up */};
        for (float f : edges) assertEquals(referenceF16(f), Float16.fromFloat(f), () -> "value " + f);
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 300_000; i++) {
            // concentrate on the binary16 range, where rounding is interesting
            float f = (float) ((r.nextDouble() * 2 - 1) * Math.pow(2, r.nextInt(-26, 17)));
            assertEquals(referenceF16(f), Float16.fromFloat(f), "value " + f);
        }
    }

    @Test
    void bulkConversionsEqualScalarOnes() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 4099; // not a multiple of any vector length
        float[] src = new float[n];
        for (int i = 0; i < n; i++) src[i] = i % 97 == 0 ? Float.NaN : i % 89 == 0 ? Float.NEGATIVE_INFINITY : Float.intBitsToFloat(r.nextInt());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(2L * n + 2);
            BFloat16.fromFloats(src, 0, seg, 2, n);
            float[] back = new float[n];
            BFloat16.toFloats(seg, 2, back, 0, n);
            for (int i = 0; i < n; i++) {
                short expected = BFloat16.fromFloat(src[i]);
                assertEquals(expected, seg.get(LE_SHORT, 2 + 2L * i), "element " + i);
                assertEquals(Float.floatToRawIntBits(BFloat16.toFloat(expected)), Float.floatToRawIntBits(back[i]));
            }
            Float16.fromFloats(src, 0, seg, 0, n);
            Float16.toFloats(seg, 0, back, 0, n);
            for (int i = 0; i < n; i++) {
                short expected = Float16.fromFloat(src[i]);
                assertEquals(expected, seg.get(LE_SHORT, 2L * i));
                assertTrue(Float.isNaN(back[i]) ? Float.isNaN(src[i]) : back[i] == Float16.toFloat(expected));
            }
        }
    }

    @Test
    void float8WideningMatchesFormatDefinitions() {
        assertEquals(448f, Float8.e4m3ToFloat((byte) 0x7E));
        assertTrue(Float.isNaN(Float8.e4m3ToFloat((byte) 0x7F)));
        assertEquals(-0x1p-9f, Float8.e4m3ToFloat((byte) 0x81)); // smallest subnormal: 2^-6 · 1/8
        assertEquals(57344f, Float8.e5m2ToFloat((byte) 0x7B));
        assertEquals(Float.POSITIVE_INFINITY, Float8.e5m2ToFloat((byte) 0x7C));
        assertEquals(1.0f, Float8.e4m3ToFloat((byte) 0x38));
        assertEquals(1.0f, Float8.e5m2ToFloat((byte) 0x3C));
    }
}
