package org.llavapack.formats.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The quantizers against independent, straightforward implementations of ggml's reference algorithms written here
 * (own fp16 rounding, own round-half-away), plus properties of the K-quants. Byte equality with llama.cpp's own
 * compiled {@code quantize_row_*_ref} is checked in {@code LlamaCppIT}.
 */
class QuantizerTest {

    /** FP16 library's fp32 → fp16 (the software path of GGML_FP32_TO_FP16), independent of the JDK. */
    static short fp16(float f) {
        float scaleToInf = 0x1.0p+112f, scaleToZero = 0x1.0p-110f;
        float base = (Math.abs(f) * scaleToInf) * scaleToZero;
        int w = Float.floatToRawIntBits(f);
        int shl1W = w + w;
        int sign = w & 0x80000000;
        int bias = shl1W & 0xFF000000;
        if (Integer.compareUnsigned(bias, 0x71000000) < 0) bias = 0x71000000;
        base = Float.intBitsToFloat((bias >>> 1) + 0x07800000) + base;
        int bits = Float.floatToRawIntBits(base);
        int expBits = (bits >>> 13) & 0x00007C00;
        int mantissaBits = bits & 0x00000FFF;
        int nonsign = expBits + mantissaBits;
        return (short) ((sign >>> 16) | (Integer.compareUnsigned(shl1W, 0xFF000000) > 0 ? 0x7E00 : nonsign));
    }

    static float roundHalfAway(float v) {
        double a = Math.abs((double) v);
        double r = Math.floor(a);
        if (a - r >= 0.5) r += 1;
        return (float) (v < 0 ? -r : r);
    }

    static byte[] refQ8_0(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(x.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) if (Math.abs(x[32 * b + j]) > amax) amax = Math.abs(x[32 * b + j]);
            float d = amax / 127f;
            float id = d == 0 ? 0 : 1f / d;
            out.putShort(fp16(d));
            for (int j = 0; j < 32; j++) out.put((byte) (int) roundHalfAway(x[32 * b + j] * id));
        }
        return out.array();
    }

    static byte[] refQ4_0(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(x.length / 32 * 18).order(ByteOrder.LITTLE_ENDIAN);
        for (int b = 0; b < x.length / 32; b++) {
            int at = 0;
            for (int j = 1; j < 32; j++) if (Math.abs(x[32 * b + j]) > Math.abs(x[32 * b + at])) at = j;
            float max = x[32 * b + at];
            float d = max / -8f;
            float id = d == 0 ? 0 : 1f / d;
            out.putShort(fp16(d));
            int[] q = new int[32];
            for (int j = 0; j < 32; j++) {
                float v = x[32 * b + j] * id;
                float shifted = v + 8.5f;
                int t = (int) shifted; // truncation toward zero, as the C cast
                q[j] = Math.min(15, t);
            }
            for (int j = 0; j < 16; j++) out.put((byte) (q[j] | (q[j + 16] << 4)));
        }
        return out.array();
    }

    static float[] testData(long seed) {
        Random r = new Random(seed);
        float[] x = new float[32 * 512];
        for (int i = 0; i < x.length; i++) {
            int block = i / 32;
            x[i] = switch (block % 8) {
                case 0 -> 0f;                                              // all-zero block
                case 1 -> 0.25f;                                           // constant block
                case 2 -> (float) (r.nextGaussian() * 1e-6);               // tiny (f16 subnormal scales)
                case 3 -> (float) (r.nextGaussian() * 3e4);                // near the f16 range
                case 4 -> (i % 32 == 7 ? 5f : (float) r.nextGaussian() * 0.01f); // one spike
                case 5 -> (i % 2 == 0 ? 1 : -1) * (i % 32) / 8f;          // exact halves after scaling
                case 6 -> -Math.abs((float) r.nextGaussian());             // one sign
                default -> (float) r.nextGaussian();
            };
        }
        return x;
    }

    @Test
    void independentFp16MatchesTheJdkEverywhere() {
        Random r = new Random(7);
        for (int i = 0; i < 2_000_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f)) continue;
            assertEquals(fp16(f), Float.floatToFloat16(f), () -> "fp16 of " + f);
        }
        assertEquals((short) 0x7E00, fp16(Float.NaN));
        assertEquals((short) 0x7E00, PlainCodec.toHalf(Float.NaN));
    }

    @Test
    void q8_0MatchesTheReferenceAlgorithmBitForBit() {
        for (long seed = 1; seed <= 5; seed++) {
            float[] x = testData(seed);
            byte[] mine = new byte[x.length / 32 * 34];
            Q8_0.INSTANCE.quantize(x, 0, x.length, mine, 0);
            assertArrayEquals(refQ8_0(x), mine, "seed " + seed);
        }
    }

    @Test
    void q4_0MatchesTheReferenceAlgorithmBitForBit() {
        for (long seed = 1; seed <= 5; seed++) {
            float[] x = testData(seed);
            byte[] mine = new byte[x.length / 32 * 18];
            Q4_0.INSTANCE.quantize(x, 0, x.length, mine, 0);
            assertArrayEquals(refQ4_0(x), mine, "seed " + seed);
        }
    }

    /** Hand-checked block: amax 127 gives d = 1, so q = roundf(x) with halves away from zero. */
    @Test
    void q8_0HandVector() {
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.49999997f;
        x[4] = -126.5f;
        byte[] y = new byte[34];
        Q8_0.INSTANCE.quantize(x, 0, 32, y, 0);
        assertEquals(0x3C00, ((y[1] & 0xFF) << 8) | (y[0] & 0xFF), "d = 1.0 in f16");
        assertEquals(127, y[2]);
        assertEquals(3, y[3]);
        assertEquals(-3, y[4]);
        assertEquals(0, y[5]);
        assertEquals(-127, y[6]);
    }

    @Test
    void kQuantsReconstructWithinTheirStepAndHandleDegenerateBlocks() {
        float[] x = testData(3);
        for (BlockCodec c : new BlockCodec[] {Q4_K.INSTANCE, Q6_K.INSTANCE, Q5_0.INSTANCE}) {
            int bs = c.type().blockSize();
            byte[] y = new byte[(int) c.type().rowBytes(x.length)];
            c.quantize(x, 0, x.length, y, 0);
            float[] back = new float[x.length];
            c.dequantize(y, 0, x.length, back, 0);
            for (int b = 0; b < x.length / bs; b++) {
                float amax = 0, min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
                for (int j = 0; j < bs; j++) {
                    float v = x[bs * b + j];
                    amax = Math.max(amax, Math.abs(v));
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                if (amax < 1e-3) continue; // f16 scales are subnormal there: precision is the format's, not ours
                double levels = switch (c.type()) {
                    case Q4_K -> 15;
                    case Q6_K -> 63;
                    default -> 31;
                };
                // generous: one quantization step of the block's range (K-quants also quantize their scales)
                double step = (c.type() == GgmlType.Q4_K ? (max - Math.min(0, min)) : 2 * amax) / levels;
                for (int j = 0; j < bs; j++) {
                    int i = bs * b + j;
                    assertTrue(Math.abs(x[i] - back[i]) <= 1.5 * step + 1e-6 * amax + 1e-30,
                            c.type() + " block " + b + " element " + j + ": " + x[i] + " -> " + back[i] + " (step " + step + ")");
                }
            }
        }
        float[] zeros = new float[256];
        byte[] y = new byte[210];
        Q6_K.INSTANCE.quantize(zeros, 0, 256, y, 0);
        assertArrayEquals(new byte[210], y, "an all-zero Q6_K block is all zero bytes");
    }

    /** get_scale_min_k4 packing: six-bit scales and mins survive the 12-byte layout for every value. */
    @Test
    void q4KScalePackingRoundTrips() {
        Random r = new Random(1);
        for (int k = 0; k < 1000; k++) {
            int[] ls = new int[8], lm = new int[8];
            byte[] sc = new byte[12];
            for (int j = 0; j < 8; j++) {
                ls[j] = r.nextInt(64);
                lm[j] = r.nextInt(64);
                if (j < 4) {
                    sc[j] = (byte) ls[j];
                    sc[j + 4] = (byte) lm[j];
                } else {
                    sc[j + 4] = (byte) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                    sc[j - 4] |= (byte) ((ls[j] >> 4) << 6);
                    sc[j] |= (byte) ((lm[j] >> 4) << 6);
                }
            }
            for (int j = 0; j < 8; j++) {
                assertEquals(ls[j], Q4_K.scale(sc, j));
                assertEquals(lm[j], Q4_K.min(sc, j));
            }
        }
    }

    /** Q6_K's vector-lane search gives the scalar port's bytes exactly, degenerate groups included. */
    @Test
    void kQuantLanesEqualTheScalarPorts() {
        for (long seed = 1; seed <= 4; seed++) {
            float[] x = testData(seed);
            // flat sub-blocks (max == min) and sign-only blocks inside super-blocks
            for (int i = 0; i < 32; i++) x[256 * 3 + 32 * 5 + i] = -0.75f;
            for (int i = 0; i < 16; i++) x[256 * 5 + 16 * 9 + i] = 0f;
            byte[] c = new byte[x.length / 256 * 210], d = new byte[c.length];
            Q6_K.INSTANCE.quantize(x, 0, x.length, c, 0, false);
            Q6_K.INSTANCE.quantize(x, 0, x.length, d, 0, true);
            assertArrayEquals(c, d, "Q6_K seed " + seed);
        }
    }

    @Test
    void nearestIntIsRoundHalfEven() {
        assertEquals(2, QuantMath.nearestInt(2.5f));
        assertEquals(4, QuantMath.nearestInt(3.5f));
        assertEquals(-2, QuantMath.nearestInt(-2.5f));
        assertEquals(-4, QuantMath.nearestInt(-3.5f));
        Random r = new Random(3);
        for (int i = 0; i < 100000; i++) {
            float f = (float) ((r.nextDouble() * 2 - 1) * 4_000_000);
            assertEquals((int) Math.rint(f), QuantMath.nearestInt(f));
        }
    }
}
