package org.llavapack.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Optional;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.llavapack.io.RegionChunks;

/**
 * Summary of a tensor's values: range, mean, RMS and the count of non-finite elements. Computed in one streaming pass
 * over mapped windows (vectorized for BF16 and F32), so it is also how llavapack reads every byte of a model
 * (inspect --stats) at close to the speed the page cache delivers.
 */
public record TensorStats(long count, double min, double max, double mean, double rms, long nan, long inf) {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(I.length() * 16));
    /** Elements summed in float lanes before folding into double: keeps rounding error far below what stats show. */
    private static final int BLOCK = 4096;

    public static TensorStats of(TensorStore store, TensorInfo info) {
        Accumulator acc = new Accumulator();
        Optional<TensorStore.FileRegion> region = store.region(info.name());
        if (region.isPresent()) {
            int elem = info.dtype().size();
            long window = RegionChunks.WINDOW - RegionChunks.WINDOW % elem;
            RegionChunks.forEach(region.get(), window, (chunk, offset) ->
                    acc.add(new Tensor(info.withShape(chunk.byteSize() / elem), chunk)));
        } else {
            try (TensorHandle h = store.open(info.name())) {
                acc.add(h.tensor());
            }
        }
        return acc.result();
    }

    /** Stats of one in-memory tensor. */
    public static TensorStats of(Tensor t) {
        Accumulator acc = new Accumulator();
        acc.add(t);
        return acc.result();
    }

    private static final class Accumulator {
        private float[] buf;
        long count, nan, inf;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY, sum, sumSq;

        void add(Tensor t) {
            switch (t.dtype()) {
                case BF16 -> addBf16(t.data(), t.numel());
                case F32 -> addF32(t.data(), t.numel());
                default -> addGeneric(t);
            }
        }

        // The per-block kernels are small methods so the JIT compiles them (and intrinsifies the Vector API) after a
        // few thousand calls rather than after one huge loop; vectors never escape a call, so none is allocated.
        private void addBf16(MemorySegment seg, long n) {
            long i = 0;
            for (; i + BLOCK <= n; i += BLOCK) blockBf16(seg, 2 * i);
            if (i < n) addScalar(new Tensor(new TensorInfo("tail", DType.BF16, new long[] {n - i}), seg.asSlice(2 * i, 2 * (n - i))));
        }

        private void addF32(MemorySegment seg, long n) {
            long i = 0;
            for (; i + BLOCK <= n; i += BLOCK) blockF32(seg, 4 * i);
            if (i < n) addScalar(new Tensor(new TensorInfo("tail", DType.F32, new long[] {n - i}), seg.asSlice(4 * i, 4 * (n - i))));
        }

        /** One block of bf16 widened in registers; non-finite lanes are counted and masked out of the sums. */
        private void blockBf16(MemorySegment seg, long byteOffset) {
            int step = I.length();
            FloatVector s = FloatVector.zero(F), sq = FloatVector.zero(F);
            FloatVector l = FloatVector.broadcast(F, Float.POSITIVE_INFINITY), h = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int k = 0; k < BLOCK; k += step) {
                ShortVector raw = ShortVector.fromMemorySegment(S, seg, byteOffset + 2L * k, ByteOrder.LITTLE_ENDIAN);
                IntVector bits = ((IntVector) raw.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16);
                FloatVector v = bits.reinterpretAsFloats();
                VectorMask<Integer> nonFinite = bits.and(0x7F800000).eq(0x7F800000);
                if (nonFinite.anyTrue()) {
                    VectorMask<Integer> isNan = nonFinite.and(bits.and(0x007FFFFF).compare(VectorOperators.NE, 0));
                    nan += isNan.trueCount();
                    inf += nonFinite.trueCount() - isNan.trueCount();
                    count -= nonFinite.trueCount();
                    VectorMask<Float> bad = nonFinite.cast(F);
                    l = l.min(v.blend(Float.POSITIVE_INFINITY, bad));
                    h = h.max(v.blend(Float.NEGATIVE_INFINITY, bad));
                    v = v.blend(0f, bad);
                } else {
                    l = l.min(v);
                    h = h.max(v);
                }
                s = s.add(v);
                sq = v.fma(v, sq);
            }
            min = Math.min(min, l.reduceLanes(VectorOperators.MIN));
            max = Math.max(max, h.reduceLanes(VectorOperators.MAX));
            count += BLOCK;
            sum += s.reduceLanes(VectorOperators.ADD);
            sumSq += sq.reduceLanes(VectorOperators.ADD);
        }

        private void blockF32(MemorySegment seg, long byteOffset) {
            int step = F.length();
            FloatVector s = FloatVector.zero(F), sq = FloatVector.zero(F);
            FloatVector l = FloatVector.broadcast(F, Float.POSITIVE_INFINITY), h = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int k = 0; k < BLOCK; k += step) {
                FloatVector v = FloatVector.fromMemorySegment(F, seg, byteOffset + 4L * k, ByteOrder.LITTLE_ENDIAN);
                VectorMask<Float> bad = v.test(VectorOperators.IS_FINITE).not();
                if (bad.anyTrue()) {
                    VectorMask<Float> isNan = v.test(VectorOperators.IS_NAN);
                    nan += isNan.trueCount();
                    inf += bad.trueCount() - isNan.trueCount();
                    count -= bad.trueCount();
                    l = l.min(v.blend(Float.POSITIVE_INFINITY, bad));
                    h = h.max(v.blend(Float.NEGATIVE_INFINITY, bad));
                    v = v.blend(0f, bad);
                } else {
                    l = l.min(v);
                    h = h.max(v);
                }
                s = s.add(v);
                sq = v.fma(v, sq);
            }
            min = Math.min(min, l.reduceLanes(VectorOperators.MIN));
            max = Math.max(max, h.reduceLanes(VectorOperators.MAX));
            count += BLOCK;
            sum += s.reduceLanes(VectorOperators.ADD);
            sumSq += sq.reduceLanes(VectorOperators.ADD);
        }

        private void addGeneric(Tensor t) {
            if (!t.dtype().isFloatingPoint()) {
                long n = t.numel();
                for (long i = 0; i < n; i++) accept(t.getLong(i));
                return;
            }
            addScalar(t);
        }

        private void addScalar(Tensor t) {
            if (buf == null) buf = new float[BLOCK];
            long n = t.numel();
            for (long i = 0; i < n; i += buf.length) {
                int k = (int) Math.min(buf.length, n - i);
                t.readFloats(i, buf, 0, k);
                for (int j = 0; j < k; j++) {
                    float v = buf[j];
                    if (Float.isNaN(v)) nan++;
                    else if (Float.isInfinite(v)) inf++;
                    else accept(v);
                }
            }
        }

        void accept(double v) {
            min = Math.min(min, v);
            max = Math.max(max, v);
            sum += v;
            sumSq += v * v;
            count++;
        }

        TensorStats result() {
            if (count == 0) return new TensorStats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, nan, inf);
            return new TensorStats(count, min, max, sum / count, Math.sqrt(sumSq / count), nan, inf);
        }
    }
}
