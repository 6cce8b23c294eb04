package org.llavapack.parity;

import java.util.List;
import java.util.Map;

/** Everything one parity run found; rendered as a table, JSON and HTML. */
public record ParityReport(String llavapackVersion, String engine, String device, Source reference, Source candidate, Inputs inputs,
                           List<ComponentResult> components) {

    public enum Component {
        PLIP("plip"), CONNECTOR("connector"), LLM("llm");

        public final String label;

        Component(String label) {
            this.label = label;
        }
    }

    public enum Status { PASS, FAIL, SKIPPED }

    /** One side: path, what was recognised, and per component a description with its weight dtype. */
    public record Source(String path, String kind, Map<String, String> components, List<String> notes) {}

    /** What was fed in. {@code imageTokens} rows of the reference connector replaced the {@code <image>} placeholder. */
    public record Inputs(long seed, String pixelSource, String prompt, int[] inputIds, int imageTokens, int greedyTokens, String connectorInputSource) {}

    /** One hidden state / intermediate compared: the per-layer error curve. */
    public record LayerError(String name, double relL2, double maxAbs) {}

    /**
     * @param metrics on the component's output (vision: the selected features; connector: its output; LLM: logits)
     * @param failures the criteria that did not hold, in words
     */
    public record ComponentResult(Component component, Status status, String reason, String dtypePair, Tolerance tolerance, Metrics metrics,
                                  List<LayerError> layers, double[] histogramEdges, long[] histogram, LlmMetrics llm, List<String> failures,
                                  double seconds) {
        static ComponentResult skipped(Component c, String reason) {
            return new ComponentResult(c, Status.SKIPPED, reason, null, null, null, List.of(), null, null, null, List.of(), 0);
        }
    }

    /**
     * This report as a release bundles it: paths under {@code folder} written relative to it and no timings, so the
     * same artifacts give the same bytes wherever and however fast the release ran (bundles are reproducible).
     */
    public ParityReport reproducible(String folder) {
        String prefix = folder.endsWith("/") ? folder : folder + "/";
        java.util.function.UnaryOperator<String> rel = s -> s == null ? null : s.replace(prefix, "");
        java.util.function.UnaryOperator<Source> src = s -> new Source(rel.apply(s.path()), s.kind(),
                s.components().entrySet().stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, e -> rel.apply(e.getValue()),
                        (a, b) -> a, java.util.LinkedHashMap::new)),
                s.notes().stream().map(rel).toList());
        List<ComponentResult> cs = components.stream().map(c -> new ComponentResult(c.component(), c.status(), c.reason(), c.dtypePair(),
                c.tolerance(), c.metrics(), c.layers(), c.histogramEdges(), c.histogram(), c.llm(), c.failures(), Double.NaN)).toList();
        return new ParityReport(llavapackVersion, engine, device, src.apply(reference), src.apply(candidate), inputs, cs);
    }

    public boolean passed() {
        return components.stream().noneMatch(c -> c.status() == Status.FAIL) && components.stream().anyMatch(c -> c.status() == Status.PASS);
    }

    public List<ComponentResult> failed() {
        return components.stream().filter(c -> c.status() == Status.FAIL).toList();
    }
}
