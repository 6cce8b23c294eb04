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

    public boolean passed() {
        return components.stream().noneMatch(c -> c.status() == Status.FAIL) && components.stream().anyMatch(c -> c.status() == Status.PASS);
    }

    public List<ComponentResult> failed() {
        return components.stream().filter(c -> c.status() == Status.FAIL).toList();
    }
}
