package org.llavapack.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The vectorized statistics agree with a plain double-precision loop, non-finite values included. */
class TensorStatsTest {

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "F32", "F16"})
    void vectorizedStatsMatchScalarReference(DType dtype) {
        int n = 3 * 4096 + 77;
        float[] values = new float[n];
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < n; i++) values[i] = (float) (r.nextGaussian() * 3 + 0.5);
        values[5] = Float.NaN;
        values[9000] = Float.POSITIVE_INFINITY;
        values[n - 1] = Float.NEGATIVE_INFINITY;
        values[n - 2] = Float.NaN;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) n * dtype.size());
            TensorInfo info = new TensorInfo("t", dtype, new long[] {n});
            switch (dtype) {
                case BF16 -> BFloat16.fromFloats(values, 0, seg, 0, n);
                case F16 -> Float16.fromFloats(values, 0, seg, 0, n);
                default -> MemorySegment.copy(values, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
            }
            Tensor t = new Tensor(info, seg);
            double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY, sum = 0, sq = 0;
            long count = 0, nan = 0, inf = 0;
            for (int i = 0; i < n; i++) {
                float v = t.getFloat(i);
                if (Float.isNaN(v)) nan++;
                else if (Float.isInfinite(v)) inf++;
                else {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                    sum += v;
                    sq += (double) v * v;
                    count++;
                }
            }
            TensorStats s = TensorStats.of(t);
            assertEquals(count, s.count());
            assertEquals(2, s.nan());
            assertEquals(2, s.inf());
            assertEquals(nan, s.nan());
            assertEquals(inf, s.inf());
            assertEquals(min, s.min(), 0.0);
            assertEquals(max, s.max(), 0.0);
            assertEquals(sum / count, s.mean(), 1e-5);
            assertEquals(Math.sqrt(sq / count), s.rms(), 1e-5);
        }
    }
}
