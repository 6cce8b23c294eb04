package org.llavapack.convert.names;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.llavapack.BadInputException;

/**
 * A tensor-name map loaded from data (converters/README.md): ordered rules, each a {@code from} regular expression
 * that must match the whole source name and a {@code to} template with {@code {1}}, {@code {2}} … for its groups
 * ({@code {0}} is the whole name; a group that did not take part gives ""; {@code {{} and {@code }}} are literal
 * braces), plus string attributes a converter documents (an output folder, a dtype …). The first matching rule
 * wins. A name that no rule matches is an error unless it matches an {@code ignore} pattern.
 *
 * <p>Keeping names as data means a new model family is a new JSON file, not a new class; the same loader serves
 * XTuner → PEFT/HF and, later, HF → GGUF maps.
 */
public final class NameMap {
    private static final int MAX_UNMATCHED_LISTED = 10;

    private final String origin;
    private final String name;
    private final List<Rule> rules;
    private final List<Pattern> ignore;

    private NameMap(String origin, String name, List<Rule> rules, List<Pattern> ignore) {
        this.origin = origin;
        this.name = name;
        this.rules = List.copyOf(rules);
        this.ignore = List.copyOf(ignore);
    }

    /** One rule. {@code attributes} holds every field besides {@code from} and {@code to}, as strings. */
    public record Rule(int index, Pattern from, String to, Map<String, String> attributes) {
        public Rule {
            attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
        }

        public Optional<String> attribute(String key) {
            return Optional.ofNullable(attributes.get(key));
        }
    }

    /** What the map says about one source name. Sealed: a name is mapped, ignored, or unmatched, nothing else. */
    public sealed interface Result permits Mapped, Ignored, Unmatched {
        String source();
    }

    /** @param groups the {@code from} pattern's capture groups (index 0 is group 1) */
    public record Mapped(String source, String target, Rule rule, List<String> groups) implements Result {
        public Mapped {
            groups = Collections.unmodifiableList(new ArrayList<>(groups));
        }

        public Optional<String> attribute(String key) {
            return rule.attribute(key);
        }

        /** GGUF maps: the head count ("n_head" / "n_head_kv") of a Q/K row permutation, if the rule asks for one. */
        public Optional<String> permute() {
            return attribute("permute");
        }

        /** GGUF maps: the rule keeps the tensor F32 whatever the output type (norms). */
        public boolean forceF32() {
            return attribute("f32").map(Boolean::parseBoolean).orElse(false);
        }

        /** The layer index, from the capture group the rule's {@code layer} attribute names; -1 when it names none. */
        public int layer() {
            int g = attribute("layer").map(Integer::parseInt).orElse(0);
            return g > 0 && g <= groups.size() && groups.get(g - 1) != null ? Integer.parseInt(groups.get(g - 1)) : -1;
        }
    }

    public record Ignored(String source, Pattern pattern) implements Result {}

    public record Unmatched(String source) implements Result {}

    /** Loads a map shipped in the jar, e.g. {@code converters/xtuner-llava.json}. */
    public static NameMap fromResource(String resource) {
        String path = resource.startsWith("/") ? resource.substring(1) : resource;
        try (InputStream in = NameMap.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) throw new IllegalStateException("name map " + path + " is missing from the jar");
            return parse(new ObjectMapper().readTree(in), path);
        } catch (IOException e) {
            throw new BadInputException(path, "not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Parses map JSON text; {@code origin} names it in errors. */
    public static NameMap parse(String json, String origin) {
        try {
            JsonNode root = new ObjectMapper().readTree(json);
            if (root == null) throw new BadInputException(origin, "empty name map", null);
            return parse(root, origin);
        } catch (IOException e) {
            throw new BadInputException(origin, "not valid JSON: " + e.getMessage(), e);
        }
    }

    public static NameMap parse(JsonNode root, String origin) {
        if (!root.isObject()) throw bad(origin, "a name map is a JSON object with \"rules\"");
        JsonNode rulesNode = root.path("rules");
        if (!rulesNode.isArray()) throw bad(origin, "\"rules\" must be a list");
        List<Rule> rules = new ArrayList<>();
        for (int i = 0; i < rulesNode.size(); i++) {
            JsonNode r = rulesNode.get(i);
            if (!r.isObject()) throw bad(origin, "rule " + i + " is not an object");
            String from = text(r, "from", origin, i);
            String to = text(r, "to", origin, i);
            Pattern p = compile(from, origin, "rule " + i);
            checkTemplate(to, p.matcher("").groupCount(), origin, i);
            Map<String, String> attrs = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> f : r.properties()) {
                if (f.getKey().equals("from") || f.getKey().equals("to")) continue;
                if (f.getValue().isContainerNode()) throw bad(origin, "rule " + i + ": \"" + f.getKey() + "\" must be a plain value");
                attrs.put(f.getKey(), f.getValue().asText());
            }
            rules.add(new Rule(i, p, to, attrs));
        }
        List<Pattern> ignore = new ArrayList<>();
        JsonNode ig = root.path("ignore");
        if (!ig.isMissingNode()) {
            if (!ig.isArray()) throw bad(origin, "\"ignore\" must be a list of regular expressions");
            for (int i = 0; i < ig.size(); i++) {
                if (!ig.get(i).isTextual()) throw bad(origin, "ignore[" + i + "] is not a string");
                ignore.add(compile(ig.get(i).textValue(), origin, "ignore[" + i + "]"));
            }
        }
        return new NameMap(origin, root.path("name").asText(origin), rules, ignore);
    }

    public String name() {
        return name;
    }

    public String origin() {
        return origin;
    }

    public List<Rule> rules() {
        return rules;
    }

    public List<Pattern> ignore() {
        return ignore;
    }

    /** The mapping of {@code source}, or empty when it is ignored or unmatched (tell them apart with {@link #apply}). */
    public Optional<Mapped> map(String source) {
        return apply(source) instanceof Mapped m ? Optional.of(m) : Optional.empty();
    }

    public boolean ignored(String source) {
        return apply(source) instanceof Ignored;
    }

    /** The first rule whose {@code from} matches the whole name; else an ignore pattern; else unmatched. */
    public Result apply(String source) {
        for (Rule r : rules) {
            Matcher m = r.from().matcher(source);
            if (m.matches()) {
                List<String> groups = new ArrayList<>();
                for (int g = 1; g <= m.groupCount(); g++) groups.add(m.group(g));
                return new Mapped(source, expand(r.to(), m), r, groups);
            }
        }
        for (Pattern p : ignore) {
            if (p.matcher(source).matches()) return new Ignored(source, p);
        }
        return new Unmatched(source);
    }

    /**
     * Maps every name, in order, leaving out ignored ones. Throws {@link BadInputException} naming {@code inputFile}
     * when a name matches nothing, or when two sources would land on one target with the same attributes.
     */
    public List<Mapped> applyAll(Collection<String> sources, String inputFile) {
        List<Mapped> out = new ArrayList<>();
        List<String> unmatched = new ArrayList<>();
        Map<String, String> targets = new LinkedHashMap<>();
        for (String s : sources) {
            switch (apply(s)) {
                case Mapped m -> {
                    String key = m.rule().attributes() + "\0" + m.target();
                    String prev = targets.putIfAbsent(key, s);
                    if (prev != null) {
                        throw new BadInputException(inputFile, "tensors '" + prev + "' and '" + s + "' both map to '" + m.target()
                                + "' (name map " + name + ")", null);
                    }
                    out.add(m);
                }
                case Ignored ignored -> { }
                case Unmatched u -> unmatched.add(u.source());
            }
        }
        if (!unmatched.isEmpty()) {
            List<String> shown = unmatched.subList(0, Math.min(MAX_UNMATCHED_LISTED, unmatched.size()));
            throw new BadInputException(inputFile, unmatched.size() + " tensor name(s) not covered by name map " + name
                    + ": " + String.join(", ", shown) + (unmatched.size() > shown.size() ? ", …" : ""), null);
        }
        return out;
    }

    static String expand(String template, Matcher m) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int close = template.indexOf('}', i);
                int g = Integer.parseInt(template.substring(i + 1, close));
                String v = m.group(g);
                if (v != null) sb.append(v);
                i = close;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** Templates are checked when the map loads, so applying one can never fail. */
    private static void checkTemplate(String to, int groups, String origin, int rule) {
        for (int i = 0; i < to.length(); i++) {
            char c = to.charAt(i);
            boolean doubled = i + 1 < to.length() && to.charAt(i + 1) == c;
            if ((c == '{' || c == '}') && doubled) {
                i++;
            } else if (c == '{') {
                int close = to.indexOf('}', i);
                String num = close < 0 ? "" : to.substring(i + 1, close);
                if (!num.matches("\\d{1,3}")) throw bad(origin, "rule " + rule + ": bad placeholder in \"to\": " + to);
                if (Integer.parseInt(num) > groups) {
                    throw bad(origin, "rule " + rule + ": \"to\" uses {" + num + "} but \"from\" has " + groups + " group(s)");
                }
                i = close;
            } else if (c == '}') {
                throw bad(origin, "rule " + rule + ": unbalanced '}' in \"to\": " + to);
            }
        }
    }

    private static String text(JsonNode r, String field, String origin, int i) {
        JsonNode v = r.get(field);
        if (v == null || !v.isTextual()) throw bad(origin, "rule " + i + " needs a string \"" + field + "\"");
        return v.textValue();
    }

    private static Pattern compile(String regex, String origin, String where) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw bad(origin, where + ": bad regular expression: " + e.getDescription());
        }
    }

    private static BadInputException bad(String origin, String what) {
        return new BadInputException(origin, what, null);
    }
}
