package org.llavapack.parity;

import java.io.PrintWriter;
import java.util.Locale;
import org.llavapack.parity.ParityReport.ComponentResult;

/** The human-readable table parity prints on stdout. */
public final class ReportText {
    private ReportText() {}

    public static void print(ParityReport r, PrintWriter out) {
        out.println("reference: " + r.reference().path() + "  [" + r.reference().kind() + "]");
        r.reference().components().forEach((k, v) -> out.println("  " + k + ": " + v));
        r.reference().notes().forEach(n -> out.println("  note: " + n));
        out.println("candidate: " + r.candidate().path() + "  [" + r.candidate().kind() + "]");
        r.candidate().components().forEach((k, v) -> out.println("  " + k + ": " + v));
        r.candidate().notes().forEach(n -> out.println("  note: " + n));
        out.println("engine:    " + r.engine());
        out.println();
        out.printf(Locale.ROOT, "%-10s %-8s %-21s %-6s %11s %11s %11s %11s %12s%n",
                "component", "verdict", "dtypes", "tol", "max|Δ|", "mean|Δ|", "rel L2", "NMSE", "cosine");
        for (ComponentResult c : r.components()) {
            if (c.metrics() == null) {
                out.printf(Locale.ROOT, "%-10s %-8s %s%n", c.component().label, c.status(), c.reason());
                continue;
            }
            var m = c.metrics();
            out.printf(Locale.ROOT, "%-10s %-8s %-21s %-6s %11.3e %11.3e %11.3e %11.3e %12.9f%n", c.component().label, c.status(),
                    c.dtypePair(), c.tolerance().name().replace("+overrides", "+"), m.maxAbs(), m.meanAbs(), m.relL2(), m.nmse(), m.cosine());
        }
        for (ComponentResult c : r.components()) {
            if (c.llm() == null) continue;
            var l = c.llm();
            out.println();
            LlmMetrics.Top1 d = l.decisiveTop1(c.tolerance().maxRelL2());
            out.printf(Locale.ROOT, "llm next-token: top-1 agreement %.2f%% over %d positions (%.2f%% over %d decisive ones, %d near-ties excused), KL mean %.3e max %.3e nats; "
                            + "greedy %d tokens: %d agree before the first difference, %d in all%n",
                    100 * l.top1Agreement(), l.positions(), 100 * d.agreement(), d.decisivePositions(), d.nearTies(), l.klMean(), l.klMax(),
                    l.greedyReference().length, l.greedyPrefix(), l.greedyMatches());
            out.println("  reference greedy: " + java.util.Arrays.toString(l.greedyReference()));
            out.println("  candidate greedy: " + java.util.Arrays.toString(l.greedyCandidate()));
        }
        out.println();
        for (ComponentResult c : r.components()) {
            if (c.tolerance() == null) continue;
            Tolerance t = c.tolerance();
            out.printf(Locale.ROOT, "%-10s tolerance %s: rel L2 ≤ %.3e, cosine ≥ %.6f%s; %s%n", c.component().label, t.name(), t.maxRelL2(), t.minCosine(),
                    c.llm() == null ? "" : String.format(Locale.ROOT, ", top-1 ≥ %.2f%s%s", t.minTop1(),
                            Double.isNaN(t.maxKlMean()) ? "" : String.format(Locale.ROOT, ", mean KL ≤ %.1e", t.maxKlMean()),
                            t.minGreedy() < 0 ? "" : ", greedy all " + c.llm().greedyReference().length),
                    c.status() == ParityReport.Status.PASS ? "pass" : "FAIL: " + c.reason());
        }
        out.println(r.passed() ? "PASS" : r.failed().isEmpty() ? "NOTHING COMPARED" : "FAIL: " + String.join(", ", r.failed().stream().map(c -> c.component().label).toList()));
        out.flush();
    }
}
