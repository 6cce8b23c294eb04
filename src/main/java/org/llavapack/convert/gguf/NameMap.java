package org.llavapack.convert.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tensor-name map loaded from {@code converters/*.json} in the jar (see converters/README.md): rules tried in order,
 * each a {@code from} regular expression matched against the whole source name and a {@code to} template with
 * {@code {1}}, {@code {2}} … for its groups, plus the optional fields {@code permute} ("n_head" / "n_head_kv"),
 * {@code f32} (force F32) and {@code layer} (the group holding the layer index).
 */
public final class NameMap {
    /** How one source tensor maps. */
    public record Mapping(String target, String permute, boolean forceF32, int layer) {
        public boolean permuted() {
            return permute != null;
        }
    }

    private record Rule(Pattern from, String to, String permute, boolean forceF32, int layerGroup) {}

    private final String resource;
    private final List<Rule> rules;
    private final List<Pattern> ignore;

    private NameMap(String resource, List<Rule> rules, List<Pattern> ignore) {
        this.resource = resource;
        this.rules = rules;
        this.ignore = ignore;
    }

    /** Loads {@code converters/NAME} from the class path. */
    public static NameMap load(String name) {
        String resource = "/converters/" + name;
        try (InputStream in = NameMap.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("name map " + resource + " is missing from the jar");
            JsonNode root = new ObjectMapper().readTree(in);
            List<Rule> rules = new ArrayList<>();
            for (JsonNode r : root.path("rules")) {
                rules.add(new Rule(Pattern.compile(r.get("from").asText()), r.get("to").asText(),
                        r.hasNonNull("permute") ? r.get("permute").asText() : null,
                        r.path("f32").asBoolean(false), r.path("layer").asInt(0)));
            }
            List<Pattern> ignore = new ArrayList<>();
            for (JsonNode i : root.path("ignore")) ignore.add(Pattern.compile(i.asText()));
            return new NameMap(resource, List.copyOf(rules), List.copyOf(ignore));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read name map " + resource, e);
        }
    }

    public String resource() {
        return resource;
    }

    public boolean ignored(String source) {
        return ignore.stream().anyMatch(p -> p.matcher(source).matches());
    }

    /** The mapping of {@code source}, or empty if no rule matches (check {@link #ignored} to tell the two apart). */
    public Optional<Mapping> map(String source) {
        for (Rule r : rules) {
            Matcher m = r.from().matcher(source);
            if (!m.matches()) continue;
            String target = r.to();
            for (int g = m.groupCount(); g >= 1; g--) target = target.replace("{" + g + "}", m.group(g) == null ? "" : m.group(g));
            int layer = r.layerGroup() > 0 ? Integer.parseInt(m.group(r.layerGroup())) : -1;
            return Optional.of(new Mapping(target, r.permute(), r.forceF32(), layer));
        }
        return Optional.empty();
    }
}
