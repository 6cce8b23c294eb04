package org.llavapack.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Optional;
import org.llavapack.io.RegionChunks;

/**
 * Summary of a tensor's values: range, mean, RMS and the count of non-finite elements. Computed in one streaming pass
 * over mapped windows, so it is also how llavapack reads every byte of a model (inspect --stats).
 */
public record TensorStats(long count, double min, double max, double mean, double rms, long nan, long inf) {

    public static TensorStats of(TensorStore store, TensorInfo info) {
        Accumulator acc = new Accumulator();
        Optional<TensorStore.FileRegion> region = store.region(info.name());
        if (region.isPresent() && info.dtype().size() <= 8) {
            int elem = info.dtype().size();
            long window = RegionChunks.WINDOW - RegionChunks.WINDOW % elem;
            RegionChunks.forEach(region.get(), window, (chunk, offset) ->
                    acc.add(new Tensor(info.withShape(chunk.byteSize() / elem), chunk)));
        } else {
            acc.add(store.tensor(info.name()));
        }
        return acc.result();
    }

    private static final class Accumulator {
        private final float[] buf = new float[1 << 16];
        long count, nan, inf;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY, sum, sumSq;

        void add(Tensor t) {
            long n = t.numel();
            if (!t.dtype().isFloatingPoint()) {
                for (long i = 0; i < n; i++) accept(t.getLong(i));
                return;
            }
            for (long i = 0; i < n; i += buf.length) {
                int k = (int) Math.min(buf.length, n - i);
                t.readFloats(i, buf, 0, k);
                float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                double s = 0, sq = 0;
                for (int j = 0; j < k; j++) {
                    float v = buf[j];
                    if (Float.isFinite(v)) {
                        lo = Math.min(lo, v);
                        hi = Math.max(hi, v);
                        s += v;
                        sq += (double) v * v;
                        count++;
                    } else if (Float.isNaN(v)) {
                        nan++;
                    } else {
                        inf++;
                    }
                }
                min = Math.min(min, lo);
                max = Math.max(max, hi);
                sum += s;
                sumSq += sq;
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
