package org.llavapack.formats.gguf;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q6_K's search ({@code make_qx_quants}) for eight independent groups at once: lane j runs group j's scalar algorithm with exactly the same float operations in the same order (no
 * reassociation, no FMA), so the result is bit-identical to the scalar ports, only several groups at a time. Groups
 * are independent in ggml too (the sub-blocks of a super-block), which is what makes this exact.
 *
 * (Tried for Q4_K's {@code make_qkx2_quants} too: no faster than the scalar port there, so not used.)
 *
 * <p>Data is transposed: element i of every group sits at {@code [i*8, i*8+8)} of a primitive array, and vectors are
 * loaded from and stored to those arrays inside the loops so they stay in registers.
 */
final class KQuantLanes {
    private KQuantLanes() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    /** Only where 256-bit vectors are real hardware; elsewhere the scalar ports are faster. */
    static final boolean ENABLED = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256 && !Boolean.getBoolean("llavapack.noVector");

    /** ggml's nearest_int, lanewise. */
    private static IntVector nearestInt(FloatVector f) {
        return f.add(12582912.f).reinterpretAsInts().and(0x007fffff).sub(0x00400000);
    }

    private static FloatVector load(float[] a, int i) {
        return FloatVector.fromArray(F, a, i * 8);
    }

    /** Scratch for one thread. */
    static final class Work {
        final float[] x = new float[16 * 8], w = new float[16 * 8];
        final int[] l = new int[16 * 8], laux = new int[16 * 8];
        final float[] scale = new float[8];
    }

    /** {@code make_qx_quants(n, nmax, x, L, rmse_type 1, NULL)} for 8 groups; {@code k.l} receives l + nmax. */
    static void makeQx(int n, int nmax, Work k) {
        float[] x = k.x, w = k.w;
        FloatVector zero = FloatVector.zero(F);
        FloatVector max = zero, amax = zero;
        for (int i = 0; i < n; i++) {
            FloatVector xi = load(x, i);
            FloatVector ax = xi.abs();
            VectorMask<Float> bigger = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, bigger);
            max = max.blend(xi, bigger);
        }
        VectorMask<Float> allZero = amax.compare(VectorOperators.LT, 1e-15f);
        FloatVector iscale = FloatVector.broadcast(F, (float) -nmax).div(max);
        FloatVector sumlx = zero, suml2 = zero;
        for (int i = 0; i < n; i++) {
            FloatVector xi = load(x, i);
            IntVector l = nearestInt(iscale.mul(xi)).max(-nmax).min(nmax - 1);
            l.add(nmax).intoArray(k.l, i * 8);
            FloatVector wi = xi.mul(xi);
            wi.intoArray(w, i * 8);
            FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
            sumlx = sumlx.add(wi.mul(xi).mul(lf));
            suml2 = suml2.add(wi.mul(lf).mul(lf));
        }
        FloatVector scale = sumlx.div(suml2).blend(zero, suml2.compare(VectorOperators.EQ, 0f));
        FloatVector best = scale.mul(sumlx);
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = FloatVector.broadcast(F, -(nmax + 0.1f * is)).div(max);
            sumlx = zero;
            suml2 = zero;
            for (int i = 0; i < n; i++) {
                FloatVector xi = load(x, i), wi = load(w, i);
                IntVector l = nearestInt(iscale.mul(xi)).max(-nmax).min(nmax - 1);
                l.intoArray(k.laux, i * 8);
                FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
                sumlx = sumlx.add(wi.mul(xi).mul(lf));
                suml2 = suml2.add(wi.mul(lf).mul(lf));
            }
            VectorMask<Float> accept = suml2.compare(VectorOperators.GT, 0f).and(sumlx.mul(sumlx).compare(VectorOperators.GT, best.mul(suml2)));
            if (!accept.anyTrue()) continue;
            VectorMask<Integer> acceptI = accept.cast(I);
            for (int i = 0; i < n; i++) {
                IntVector.fromArray(I, k.l, i * 8).blend(IntVector.fromArray(I, k.laux, i * 8).add(nmax), acceptI).intoArray(k.l, i * 8);
            }
            scale = scale.blend(sumlx.div(suml2), accept);
            best = best.blend(scale.mul(sumlx), accept);
        }
        if (allZero.anyTrue()) {
            VectorMask<Integer> zi = allZero.cast(I);
            for (int i = 0; i < n; i++) IntVector.fromArray(I, k.l, i * 8).blend(0, zi).intoArray(k.l, i * 8);
            scale = scale.blend(zero, allZero);
        }
        scale.intoArray(k.scale, 0);
    }
}
