package org.llavapack.tensor;

/**
 * Widening of the two OCP 8-bit float formats safetensors names. E4M3 is the "fn" variant: no infinities, and
 * S.1111.111 is NaN. E5M2 is IEEE-like (the top half of a binary16).
 */
public final class Float8 {
    private Float8() {}

    public static float e5m2ToFloat(byte b) {
        return Float.float16ToFloat((short) ((b & 0xFF) << 8));
    }

    public static float e4m3ToFloat(byte b) {
        int v = b & 0xFF;
        boolean negative = (v & 0x80) != 0;
        int exponent = (v >>> 3) & 0xF;
        int mantissa = v & 0x7;
        float magnitude;
        if (exponent == 0xF && mantissa == 0x7) return Float.NaN;
        if (exponent == 0) magnitude = mantissa / 8f * 0x1p-6f;
        else magnitude = (1 + mantissa / 8f) * (float) Math.scalb(1.0, exponent - 7);
        return negative ? -magnitude : magnitude;
    }
}
