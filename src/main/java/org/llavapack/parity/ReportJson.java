package org.llavapack.parity;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.llavapack.parity.ParityReport.ComponentResult;

/**
 * The JSON report: {@code {"llavapack", "engine", "device", "reference", "candidate", "inputs", "components": [{"component",
 * "verdict", "reason", "dtypes", "tolerance", "metrics", "layers", "histogram", "llm"}], "verdict", "failed"}}.
 * Non-finite numbers are written as strings ("NaN", "Infinity") so the file stays strict JSON.
 */
public final class ReportJson {
    private ReportJson() {}

    public static ObjectNode toJson(ParityReport r) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("llavapack", r.llavapackVersion());
        root.put("engine", r.engine());
        root.put("device", r.device());
        source(root.putObject("reference"), r.reference());
        source(root.putObject("candidate"), r.candidate());
        ObjectNode in = root.putObject("inputs");
        in.put("seed", r.inputs().seed());
        in.put("pixels", r.inputs().pixelSource());
        in.put("connector_input", r.inputs().connectorInputSource());
        in.put("prompt", r.inputs().prompt());
        ArrayNode ids = in.putArray("input_ids");
        for (int id : r.inputs().inputIds()) ids.add(id);
        in.put("image_tokens", r.inputs().imageTokens());
        in.put("greedy_tokens", r.inputs().greedyTokens());
        ArrayNode comps = root.putArray("components");
        for (ComponentResult c : r.components()) component(comps.addObject(), c);
        root.put("verdict", r.passed() ? "PASS" : "FAIL");
        ArrayNode failed = root.putArray("failed");
        r.failed().forEach(c -> failed.add(c.component().label));
        return root;
    }

    public static String render(ParityReport r) {
        try {
            return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(toJson(r)) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void source(ObjectNode n, ParityReport.Source s) {
        n.put("path", s.path());
        n.put("kind", s.kind());
        ObjectNode c = n.putObject("components");
        s.components().forEach(c::put);
        ArrayNode notes = n.putArray("notes");
        s.notes().forEach(notes::add);
    }

    static void num(ObjectNode n, String key, double v) {
        if (Double.isFinite(v)) n.put(key, v);
        else n.put(key, Double.toString(v));
    }

    private static void component(ObjectNode n, ComponentResult c) {
        n.put("component", c.component().label);
        n.put("verdict", c.status().name());
        n.put("reason", c.reason());
        if (c.metrics() == null) return;
        n.put("dtypes", c.dtypePair());
        if (!Double.isNaN(c.seconds())) n.put("seconds", Math.round(c.seconds() * 1000) / 1000.0);
        Tolerance t = c.tolerance();
        ObjectNode tol = n.putObject("tolerance");
        tol.put("class", t.name());
        num(tol, "max_rel_l2", t.maxRelL2());
        num(tol, "min_cosine", t.minCosine());
        if (c.llm() != null) {
            num(tol, "min_top1", t.minTop1());
            if (!Double.isNaN(t.maxKlMean())) num(tol, "max_kl_mean", t.maxKlMean());
            if (t.minGreedy() >= 0) tol.put("min_greedy_prefix", Math.min(t.minGreedy(), c.llm().greedyReference().length));
        }
        ObjectNode m = n.putObject("metrics");
        m.put("count", c.metrics().count());
        num(m, "max_abs", c.metrics().maxAbs());
        num(m, "mean_abs", c.metrics().meanAbs());
        num(m, "rel_l2", c.metrics().relL2());
        num(m, "nmse", c.metrics().nmse());
        num(m, "cosine", c.metrics().cosine());
        num(m, "reference_rms", c.metrics().refRms());
        ArrayNode layers = n.putArray("layers");
        for (ParityReport.LayerError l : c.layers()) {
            ObjectNode ln = layers.addObject();
            ln.put("name", l.name());
            num(ln, "rel_l2", l.relL2());
            num(ln, "max_abs", l.maxAbs());
        }
        ObjectNode h = n.putObject("abs_diff_histogram");
        ArrayNode edges = h.putArray("edges");
        for (double e : c.histogramEdges()) {
            if (Double.isFinite(e)) edges.add(e);
            else edges.add("Infinity");
        }
        ArrayNode counts = h.putArray("counts");
        for (long k : c.histogram()) counts.add(k);
        if (c.llm() != null) {
            LlmMetrics l = c.llm();
            ObjectNode ln = n.putObject("llm");
            ln.put("positions", l.positions());
            num(ln, "top1_agreement", l.top1Agreement());
            LlmMetrics.Top1 d = l.decisiveTop1(c.tolerance().maxRelL2());
            num(ln, "top1_agreement_decisive", d.agreement());
            ln.put("decisive_positions", d.decisivePositions());
            ln.put("near_ties_excused", d.nearTies());
            ArrayNode agree = ln.putArray("top1_per_position");
            for (boolean b : l.top1PerPosition()) agree.add(b);
            num(ln, "kl_mean", l.klMean());
            num(ln, "kl_max", l.klMax());
            ArrayNode kl = ln.putArray("kl_per_position");
            for (double k : l.klPerPosition()) kl.add(k);
            ArrayNode gr = ln.putArray("greedy_reference");
            for (int g : l.greedyReference()) gr.add(g);
            ArrayNode gc = ln.putArray("greedy_candidate");
            for (int g : l.greedyCandidate()) gc.add(g);
            ln.put("greedy_prefix_agreement", l.greedyPrefix());
            ln.put("greedy_matches", l.greedyMatches());
        }
        ArrayNode f = n.putArray("failures");
        c.failures().forEach(f::add);
    }
}
