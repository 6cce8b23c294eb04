package org.llavapack.convert.xtuner;

import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.llavapack.convert.names.NameMap;

/**
 * Routes XTuner checkpoint names to output folders and PEFT/HF names, using the data in
 * {@code converters/xtuner-llava.json} (the map decides; this class only groups its answers).
 */
public final class XtunerNames {
    private XtunerNames() {}

    public static final String MAP_RESOURCE = "converters/xtuner-llava.json";

    private static volatile NameMap map;

    /** One tensor's destination. {@code kind} is the rule's kind: lora, modules_to_save or weights. */
    public record Routed(String source, String target, XtunerOutput output, String kind) {}

    public static NameMap map() {
        NameMap m = map;
        if (m == null) map = m = NameMap.fromResource(MAP_RESOURCE);
        return m;
    }

    /**
     * Every source name routed, grouped by output folder (in {@link XtunerOutput} order), each group in source order.
     * Ignored names are left out; an unmatched name is bad input naming {@code inputFile}.
     */
    public static Map<XtunerOutput, List<Routed>> route(Collection<String> names, String inputFile) {
        return route(map(), names, inputFile);
    }

    static Map<XtunerOutput, List<Routed>> route(NameMap nameMap, Collection<String> names, String inputFile) {
        Map<XtunerOutput, List<Routed>> out = new EnumMap<>(XtunerOutput.class);
        for (NameMap.Mapped m : nameMap.applyAll(names, inputFile)) {
            String folder = m.attribute("output").orElseThrow(() -> new IllegalStateException(
                    nameMap.name() + " rule " + m.rule().index() + " has no \"output\""));
            XtunerOutput o = XtunerOutput.ofFolder(folder).orElseThrow(() -> new IllegalStateException(
                    nameMap.name() + " rule " + m.rule().index() + " names an unknown output '" + folder + "'"));
            out.computeIfAbsent(o, k -> new ArrayList<>()).add(new Routed(m.source(), m.target(), o,
                    m.attribute("kind").orElse("weights")));
        }
        return out;
    }
}
