package org.llavapack.parity;

import java.util.List;
import java.util.Locale;
import org.llavapack.parity.ParityReport.ComponentResult;
import org.llavapack.parity.ParityReport.LayerError;

/**
 * One self-contained HTML page (no scripts, fonts or images from anywhere): the verdict table, per-layer relative
 * error curves, a |Δ| histogram per component and the LLM's next-token agreement along the prompt, all drawn as
 * inline SVG. Numbers that the charts show are also written as text (titles and tables), so the page can be read
 * without the pictures and checked by a test that renders it.
 */
public final class ReportHtml {
    private ReportHtml() {}

    private static final int W = 640, H = 260, L = 70, R = 20, T = 20, B = 60;

    public static String render(ParityReport r) {
        StringBuilder s = new StringBuilder(32_000);
        s.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>llavapack parity: ").append(r.passed() ? "PASS" : "FAIL")
                .append("</title>\n<style>")
                .append("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}")
                .append("table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
                .append("th{background:#f3f3f3}td.l,th.l{text-align:left}.PASS{background:#d8f5d8}.FAIL{background:#f8d0d0}.SKIPPED{background:#eee}")
                .append("h1 .v{padding:2px 10px;border-radius:4px}.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}")
                .append("svg{background:#fff;border:1px solid #ddd;margin:4px 8px 12px 0}</style></head><body>\n");
        String verdict = r.passed() ? "PASS" : "FAIL";
        s.append("<h1>Parity <span class=\"v ").append(verdict).append("\" id=\"verdict\">").append(verdict).append("</span></h1>\n");
        s.append("<p>Reference <span class=\"mono\">").append(esc(r.reference().path())).append("</span> (").append(esc(r.reference().kind()))
                .append(")<br>Candidate <span class=\"mono\">").append(esc(r.candidate().path())).append("</span> (").append(esc(r.candidate().kind()))
                .append(")<br>Engine ").append(esc(r.engine())).append(", llavapack ").append(esc(r.llavapackVersion())).append("</p>\n");

        s.append("<h2>Verdict</h2>\n<table id=\"verdicts\"><tr><th class=l>component</th><th>verdict</th><th class=l>dtypes</th><th>tolerance</th>")
                .append("<th>max |Δ|</th><th>mean |Δ|</th><th>rel L2</th><th>NMSE</th><th>cosine</th><th class=l>reason</th></tr>\n");
        for (ComponentResult c : r.components()) {
            s.append("<tr class=\"").append(c.status()).append("\"><td class=l>").append(c.component().label).append("</td><td>").append(c.status()).append("</td>");
            if (c.metrics() == null) {
                s.append("<td colspan=7></td>");
            } else {
                var m = c.metrics();
                s.append("<td class=l>").append(esc(c.dtypePair())).append("</td><td>").append(esc(c.tolerance().name())).append(" (rel L2 ≤ ")
                        .append(sci(c.tolerance().maxRelL2())).append(")</td><td>").append(sci(m.maxAbs())).append("</td><td>").append(sci(m.meanAbs()))
                        .append("</td><td>").append(sci(m.relL2())).append("</td><td>").append(sci(m.nmse())).append("</td><td>")
                        .append(String.format(Locale.ROOT, "%.9f", m.cosine())).append("</td>");
            }
            s.append("<td class=l>").append(esc(c.reason())).append("</td></tr>\n");
        }
        s.append("</table>\n");
        s.append(verdictChart(r.components()));

        for (ComponentResult c : r.components()) {
            if (c.metrics() == null) continue;
            s.append("<h2>").append(c.component().label).append("</h2>\n");
            s.append(layerChart(c));
            s.append(histogram(c));
            if (c.llm() != null) s.append(tokenChart(c));
            s.append("<table><tr><th class=l>layer</th><th>rel L2</th><th>max |Δ|</th></tr>");
            for (LayerError l : c.layers()) {
                s.append("<tr><td class=l>").append(esc(l.name())).append("</td><td>").append(sci(l.relL2())).append("</td><td>").append(sci(l.maxAbs())).append("</td></tr>");
            }
            s.append("</table>\n");
            if (c.llm() != null) {
                var l = c.llm();
                LlmMetrics.Top1 d = l.decisiveTop1(c.tolerance().maxRelL2());
                s.append(String.format(Locale.ROOT, "<p>Top-1 agreement <b>%.2f%%</b> over %d positions (%.2f%% over %d decisive positions; %d near-ties, "
                                + "where the reference's top-2 gap is within the tolerance, are not counted); KL(ref‖cand) mean %s, max %s nats; greedy "
                                + "continuation agrees for <b>%d of %d</b> tokens before the first difference (%d positions equal in all).</p>\n",
                        100 * l.top1Agreement(), l.positions(), 100 * d.agreement(), d.decisivePositions(), d.nearTies(), sci(l.klMean()), sci(l.klMax()),
                        l.greedyPrefix(), l.greedyReference().length, l.greedyMatches()));
                s.append("<p class=mono>reference greedy ").append(java.util.Arrays.toString(l.greedyReference())).append("<br>candidate greedy ")
                        .append(java.util.Arrays.toString(l.greedyCandidate())).append("</p>\n");
            }
        }
        s.append("<h2>Inputs</h2>\n<p>Seed ").append(r.inputs().seed()).append("; pixels: ").append(esc(r.inputs().pixelSource()))
                .append("; connector input: ").append(esc(r.inputs().connectorInputSource())).append("; image rows spliced: ")
                .append(r.inputs().imageTokens()).append("</p>\n<p class=mono>").append(esc(r.inputs().prompt())).append("</p>\n");
        s.append("<p class=mono>input_ids ").append(java.util.Arrays.toString(r.inputs().inputIds())).append("</p>\n</body></html>\n");
        return s.toString();
    }

    /** Bars of relative L2 against each component's tolerance (log scale): the verdict at a glance. */
    private static String verdictChart(List<ComponentResult> comps) {
        List<ComponentResult> shown = comps.stream().filter(c -> c.metrics() != null).toList();
        if (shown.isEmpty()) return "";
        int h = 48 + 36 * shown.size();
        StringBuilder s = svgOpen("verdict-chart", W, h, "relative L2 error vs tolerance");
        double lo = -12, hi = 1;
        int x0 = 110, x1 = W - R;
        for (int e = (int) lo; e <= hi; e += 2) {
            double x = x0 + (e - lo) / (hi - lo) * (x1 - x0);
            s.append(line(x, 20, x, h - 20, "#eee")).append(text(x, h - 6, "1e" + e, "middle", 10));
        }
        for (int i = 0; i < shown.size(); i++) {
            ComponentResult c = shown.get(i);
            double y = 32 + 36 * i;
            double v = Math.log10(Math.max(c.metrics().relL2(), 1e-12));
            double xv = x0 + (Math.min(v, hi) - lo) / (hi - lo) * (x1 - x0);
            double xt = x0 + (Math.log10(c.tolerance().maxRelL2()) - lo) / (hi - lo) * (x1 - x0);
            String fill = c.status() == ParityReport.Status.PASS ? "#4caf50" : "#e53935";
            s.append(text(x0 - 8, y + 16, c.component().label, "end", 12));
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"22\" fill=\"%s\"><title>%s rel L2 %s</title></rect>",
                    x0, y, Math.max(1, xv - x0), fill, c.component().label, sci(c.metrics().relL2())));
            s.append(line(xt, y - 3, xt, y + 25, "#000")).append(text(xt + 3, y - 4, "tol " + sci(c.tolerance().maxRelL2()), "start", 9));
        }
        return s.append("</svg>\n").toString();
    }

    /** Relative L2 error of each hidden state / intermediate, log scale, with the tolerance as a dashed line. */
    private static String layerChart(ComponentResult c) {
        List<LayerError> ls = c.layers();
        if (ls.isEmpty()) return "";
        StringBuilder s = svgOpen("layers-" + c.component().label, W, H, c.component().label + ": relative L2 error per layer");
        double lo = -12, hi = 1;
        axes(s, lo, hi, "rel L2 (log10)");
        int n = ls.size();
        StringBuilder path = new StringBuilder();
        for (int i = 0; i < n; i++) {
            double x = L + (n == 1 ? 0.5 : (double) i / (n - 1)) * (W - L - R);
            double v = Math.log10(Math.max(ls.get(i).relL2(), 1e-12));
            double y = yOf(Math.min(v, hi), lo, hi);
            path.append(i == 0 ? "M" : "L").append(String.format(Locale.ROOT, "%.1f %.1f ", x, y));
            s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#1565c0\"><title>%s: rel L2 %s, max |Δ| %s</title></circle>",
                    x, y, esc(ls.get(i).name()), sci(ls.get(i).relL2()), sci(ls.get(i).maxAbs())));
            if (n <= 40 || i % Math.max(1, n / 20) == 0) {
                s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-45 %.1f %d)\">%s</text>",
                        x, H - B + 14, x, H - B + 14, esc(ls.get(i).name())));
            }
        }
        s.append("<path d=\"").append(path).append("\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\"/>");
        double yt = yOf(Math.log10(c.tolerance().maxRelL2()), lo, hi);
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e53935\" stroke-dasharray=\"5 4\"/>", L, yt, W - R, yt));
        s.append(text(W - R - 4, yt - 4, "tolerance " + sci(c.tolerance().maxRelL2()), "end", 10));
        return s.append("</svg>\n").toString();
    }

    /** Counts of |Δ| per decade (log-scaled bar heights). */
    private static String histogram(ComponentResult c) {
        long[] h = c.histogram();
        double[] e = c.histogramEdges();
        StringBuilder s = svgOpen("hist-" + c.component().label, W, H, c.component().label + ": histogram of |Δ| (" + c.metrics().count() + " values)");
        long max = 1;
        for (long k : h) max = Math.max(max, k);
        double bw = (double) (W - L - R) / h.length;
        s.append(line(L, H - B, W - R, H - B, "#888"));
        for (int i = 0; i < h.length; i++) {
            double frac = h[i] == 0 ? 0 : Math.log10(1 + h[i]) / Math.log10(1 + max);
            double bh = frac * (H - T - B);
            double x = L + i * bw;
            String label = i == 0 ? "<1e-9" : Double.isInfinite(e[i + 1]) ? "≥" + sciShort(e[i]) : sciShort(e[i]) + "…";
            s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#7e57c2\"><title>|Δ| in [%s, %s): %d</title></rect>",
                    x + 2, H - B - bh, bw - 4, bh, sciShort(e[i]), sciShort(e[i + 1]), h[i]));
            if (h[i] > 0) s.append(text(x + bw / 2, H - B - bh - 3, Long.toString(h[i]), "middle", 9));
            s.append(text(x + bw / 2, H - B + 14, label, "middle", 9));
        }
        return s.append("</svg>\n").toString();
    }

    /** Per prompt position: green/red top-1 agreement and the KL divergence (log scale) as a line. */
    private static String tokenChart(ComponentResult c) {
        LlmMetrics l = c.llm();
        int n = l.positions();
        StringBuilder s = svgOpen("tokens-" + c.component().label, W, H, "next-token agreement along the prompt (" + n + " positions)");
        double lo = -12, hi = 1;
        axes(s, lo, hi, "KL (log10 nats)");
        double bw = (double) (W - L - R) / Math.max(1, n);
        StringBuilder path = new StringBuilder();
        for (int p = 0; p < n; p++) {
            double x = L + p * bw;
            String fill = l.top1PerPosition()[p] ? "#a5d6a7" : "#ef9a9a";
            s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>position %d: top-1 %s, KL %s</title></rect>",
                    x + 0.5, H - B + 4, Math.max(0.5, bw - 1), 10, fill, p, l.top1PerPosition()[p] ? "agrees" : "differs", sci(l.klPerPosition()[p])));
            double y = yOf(Math.min(hi, Math.log10(Math.max(l.klPerPosition()[p], 1e-12))), lo, hi);
            path.append(p == 0 ? "M" : "L").append(String.format(Locale.ROOT, "%.1f %.1f ", x + bw / 2, y));
        }
        s.append("<path d=\"").append(path).append("\" fill=\"none\" stroke=\"#ef6c00\" stroke-width=\"1.5\"/>");
        s.append(text(L, H - B + 30, String.format(Locale.ROOT, "top-1 agreement %.2f%% (green agrees, red differs)", 100 * l.top1Agreement()), "start", 10));
        return s.append("</svg>\n").toString();
    }

    private static StringBuilder svgOpen(String id, int w, int h, String title) {
        return new StringBuilder().append(String.format(Locale.ROOT,
                "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>%s</title>",
                esc(id), w, h, w, h, esc(title))).append(text(w / 2.0, 14, title, "middle", 12));
    }

    private static void axes(StringBuilder s, double lo, double hi, String label) {
        s.append(line(L, T, L, H - B, "#888")).append(line(L, H - B, W - R, H - B, "#888"));
        for (int e = (int) lo; e <= hi; e += 2) {
            double y = yOf(e, lo, hi);
            s.append(line(L, y, W - R, y, "#f0f0f0")).append(text(L - 6, y + 3, "1e" + e, "end", 10));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" font-size=\"10\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">%s</text>",
                (T + H - B) / 2, (T + H - B) / 2, esc(label)));
    }

    private static double yOf(double v, double lo, double hi) {
        return T + (hi - v) / (hi - lo) * (H - T - B);
    }

    private static String line(double x1, double y1, double x2, double y2, String stroke) {
        return String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x1, y1, x2, y2, stroke);
    }

    private static String text(double x, double y, String t, String anchor, int size) {
        return String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\">%s</text>", x, y, size, anchor, esc(t));
    }

    /** The format the table and the JSON-reading tests use: {@code 3.203e-03}. */
    public static String sci(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
        return String.format(Locale.ROOT, "%.3e", v);
    }

    private static String sciShort(double v) {
        if (v == 0) return "0";
        if (Double.isInfinite(v)) return "∞";
        return String.format(Locale.ROOT, "1e%d", (int) Math.round(Math.log10(v)));
    }

    static String esc(String s) {
        if (s == null) return "";
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
