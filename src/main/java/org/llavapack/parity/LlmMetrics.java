package org.llavapack.parity;

/**
 * Next-token agreement of two LLMs on the same positions: top-1 agreement, KL(ref ‖ cand) of the softmax
 * distributions (in nats, computed in double from the fp32 logits), and greedy continuations compared token by token.
 *
 * @param top1PerPosition whether the argmax agrees at each position
 * @param klPerPosition KL divergence at each position
 * @param greedyPrefix how many leading greedy tokens agree before the first difference
 * @param greedyMatches how many greedy positions hold the same token (after a divergence the two continue from different contexts)
 */
public record LlmMetrics(int positions, double top1Agreement, boolean[] top1PerPosition, double klMean, double klMax, double[] klPerPosition,
                         int[] greedyReference, int[] greedyCandidate, int greedyPrefix, int greedyMatches, double[] referenceMargin, double[] referenceRms) {

    /**
     * Top-1 agreement over the positions where the reference is decisive: its top-1/top-2 logit gap exceeds
     * {@code 2 · relTolerance · rms(reference logits at that position)}, the most a within-tolerance error can move two
     * logits apart. A flip between near-tied tokens is consistent with an error the tolerance accepts; the relative L2
     * check judges that error, so only flips at decisive positions count here.
     */
    public Top1 decisiveTop1(double relTolerance) {
        int decisive = 0, agree = 0;
        for (int p = 0; p < positions; p++) {
            if (referenceMargin[p] <= 2 * relTolerance * referenceRms[p]) continue;
            decisive++;
            if (top1PerPosition[p]) agree++;
        }
        return new Top1(decisive == 0 ? 1.0 : (double) agree / decisive, decisive, positions - decisive);
    }

    /** @param nearTies positions excused because the reference's own margin was within the tolerance */
    public record Top1(double agreement, int decisivePositions, int nearTies) {}

    public static LlmMetrics of(float[] refLogits, float[] candLogits, int positions, int vocab, int[] greedyRef, int[] greedyCand) {
        boolean[] top1 = new boolean[positions];
        double[] kl = new double[positions], margin = new double[positions], rms = new double[positions];
        int agree = 0;
        double sum = 0, max = 0;
        for (int p = 0; p < positions; p++) {
            int off = p * vocab;
            top1[p] = argmax(refLogits, off, vocab) == argmax(candLogits, off, vocab);
            if (top1[p]) agree++;
            kl[p] = kl(refLogits, candLogits, off, vocab);
            double first = Double.NEGATIVE_INFINITY, second = Double.NEGATIVE_INFINITY, sq = 0;
            for (int v = 0; v < vocab; v++) {
                double x = refLogits[off + v];
                sq += x * x;
                if (x > first) {
                    second = first;
                    first = x;
                } else if (x > second) {
                    second = x;
                }
            }
            margin[p] = vocab > 1 ? first - second : Double.POSITIVE_INFINITY;
            rms[p] = Math.sqrt(sq / vocab);
            sum += kl[p];
            max = Math.max(max, kl[p]);
        }
        int prefix = 0, matches = 0;
        int n = Math.min(greedyRef.length, greedyCand.length);
        boolean diverged = false;
        for (int i = 0; i < n; i++) {
            if (greedyRef[i] == greedyCand[i]) {
                matches++;
                if (!diverged) prefix++;
            } else {
                diverged = true;
            }
        }
        return new LlmMetrics(positions, positions == 0 ? 1 : (double) agree / positions, top1, positions == 0 ? 0 : sum / positions, max, kl,
                greedyRef, greedyCand, prefix, matches, margin, rms);
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** KL(p ‖ q) = Σ p (log p − log q) with log-softmax done stably in double. */
    static double kl(float[] pLogits, float[] qLogits, int off, int n) {
        double pm = Double.NEGATIVE_INFINITY, qm = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            pm = Math.max(pm, pLogits[off + i]);
            qm = Math.max(qm, qLogits[off + i]);
        }
        double ps = 0, qs = 0;
        for (int i = 0; i < n; i++) {
            ps += Math.exp(pLogits[off + i] - pm);
            qs += Math.exp(qLogits[off + i] - qm);
        }
        double pl = Math.log(ps), ql = Math.log(qs), kl = 0;
        for (int i = 0; i < n; i++) {
            double lp = pLogits[off + i] - pm - pl, lq = qLogits[off + i] - qm - ql;
            kl += Math.exp(lp) * (lp - lq);
        }
        return Math.max(0, kl);
    }
}
