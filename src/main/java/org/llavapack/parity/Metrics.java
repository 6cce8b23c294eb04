package org.llavapack.parity;

/**
 * Elementwise agreement of a candidate tensor with the reference: max and mean |Δ|, relative L2 ‖Δ‖/‖ref‖, NMSE
 * (its square: ‖Δ‖²/‖ref‖²) and cosine similarity. Sums in double, so the metric adds no error of its own.
 */
public record Metrics(long count, double maxAbs, double meanAbs, double relL2, double nmse, double cosine, double refRms) {

    public static Metrics of(float[] ref, float[] cand) {
        if (ref.length != cand.length) throw new IllegalArgumentException("shapes differ: " + ref.length + " vs " + cand.length + " values");
        double max = 0, sumAbs = 0, d2 = 0, r2 = 0, c2 = 0, dot = 0;
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i], c = cand[i], d = c - r;
            double a = Math.abs(d);
            if (a > max || Double.isNaN(a)) max = a;
            sumAbs += a;
            d2 += d * d;
            r2 += r * r;
            c2 += c * c;
            dot += r * c;
        }
        int n = Math.max(1, ref.length);
        double rel = r2 == 0 ? (d2 == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(d2 / r2);
        double nmse = r2 == 0 ? (d2 == 0 ? 0 : Double.POSITIVE_INFINITY) : d2 / r2;
        double cos = r2 == 0 || c2 == 0 ? (d2 == 0 ? 1 : 0) : dot / Math.sqrt(r2 * c2);
        return new Metrics(ref.length, max, sumAbs / n, rel, nmse, cos, Math.sqrt(r2 / n));
    }

    /** Histogram of |Δ| on log10 bins from 1e-10 to 1e2 (the first bin also holds exact zeros). */
    public static long[] absDiffHistogram(float[] ref, float[] cand, double[] edges) {
        long[] counts = new long[edges.length - 1];
        for (int i = 0; i < ref.length; i++) {
            double a = Math.abs((double) cand[i] - ref[i]);
            int b = 0;
            while (b < counts.length - 1 && a >= edges[b + 1]) b++;
            counts[b]++;
        }
        return counts;
    }

    /** Bin edges 0, 1e-9, 1e-8, …, 1e1, +∞. */
    public static double[] histogramEdges() {
        double[] e = new double[13];
        e[0] = 0;
        for (int i = 1; i < 12; i++) e[i] = Math.pow(10, i - 10);
        e[12] = Double.POSITIVE_INFINITY;
        return e;
    }
}
