package org.llavapack.formats.gguf;

/** Rounding helpers with exactly ggml's semantics. */
final class QuantMath {
    private QuantMath() {}

    /**
     * ggml's {@code nearest_int}: adds 1.5·2^23 and reads the low mantissa bits, which rounds half to even for
     * |f| ≤ 4194303 (the function's documented domain).
     */
    static int nearestInt(float fval) {
        float val = fval + 12582912.f;
        int i = Float.floatToRawIntBits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    /** C {@code roundf}: half away from zero; computed in double, where |v| + 0.5 is exact for any float. */
    static float roundf(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (float) Math.copySign(a, v);
    }

    /**
     * {@code (int) roundf(v)} for |v| < 2^23 without leaving float: the fraction {@code a − trunc(a)} is exact there,
     * so comparing it with 0.5 decides halves exactly (away from zero, as C's roundf).
     */
    static int roundfInt(float v) {
        float a = Math.abs(v);
        int r = (int) a;
        if (a - r >= 0.5f) r++;
        return v < 0 ? -r : r;
    }

    /** f32 → f16 → f32, the value a stored f16 scale decodes to. */
    static float viaHalf(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }
}
