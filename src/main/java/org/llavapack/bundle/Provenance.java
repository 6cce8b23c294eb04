package org.llavapack.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Where the bundled weights came from and how well they match it, read from files other llavapack commands leave
 * in their output folders: {@code conversion.json} (pth-to-hf: every source checkpoint file with size and SHA-256)
 * and a parity report (a JSON object with a {@code verdict}). Both are read leniently: their producers are separate
 * commands, so unknown fields are kept out of the way rather than failing a release at its last step.
 */
public final class Provenance {
    private Provenance() {}

    public record SourceFile(String path, long size, String sha256) {}

    /** One conversion.json: its place in the bundle, the checkpoint files it names, and its scalar facts. */
    public record Conversion(String bundlePath, List<SourceFile> checkpointFiles, Map<String, String> facts) {}

    public record Component(String name, String verdict, Map<String, String> metrics) {}

    /** One parity report: overall verdict, per-component results, and an HTML rendering bundled next to it. */
    public record Parity(String bundlePath, String verdict, List<Component> components, Optional<String> htmlPath) {
        public boolean passed() {
            return verdict.equalsIgnoreCase("pass") || verdict.equalsIgnoreCase("passed") || verdict.equalsIgnoreCase("ok");
        }
    }

    public record Found(List<Conversion> conversions, List<Parity> parity, List<String> warnings) {}

    private static final Pattern PARITY_JSON = Pattern.compile("(.*parity.*|report)\\.json", Pattern.CASE_INSENSITIVE);
    private static final Pattern PARITY_HTML = Pattern.compile("(.*parity.*|report)\\.html?", Pattern.CASE_INSENSITIVE);
    private static final long MAX_JSON = 64L << 20;

    /** Looks through the files to bundle (bundle path → file on disk). */
    public static Found scan(Map<String, Path> files) {
        List<Conversion> conversions = new ArrayList<>();
        List<Parity> parity = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        for (var e : files.entrySet()) {
            String path = e.getKey();
            String base = path.substring(path.lastIndexOf('/') + 1);
            if (base.equals("conversion.json")) {
                read(e.getValue(), warnings, path).ifPresent(json -> conversions.add(conversion(path, json)));
            } else if (PARITY_JSON.matcher(base).matches()) {
                Optional<JsonNode> json = read(e.getValue(), warnings, path);
                if (json.isPresent() && (json.get().has("verdict") || json.get().has("passed"))) {
                    parity.add(parity(path, json.get(), htmlNextTo(path, files)));
                }
            }
        }
        return new Found(List.copyOf(conversions), List.copyOf(parity), List.copyOf(warnings));
    }

    private static Optional<String> htmlNextTo(String jsonPath, Map<String, Path> files) {
        String dir = jsonPath.contains("/") ? jsonPath.substring(0, jsonPath.lastIndexOf('/') + 1) : "";
        return files.keySet().stream()
                .filter(p -> p.startsWith(dir) && p.indexOf('/', dir.length()) < 0)
                .filter(p -> PARITY_HTML.matcher(p.substring(dir.length())).matches())
                .findFirst();
    }

    private static Optional<JsonNode> read(Path file, List<String> warnings, String path) {
        try {
            if (Files.size(file) > MAX_JSON) {
                warnings.add(path + ": too large to read as provenance; bundled as is");
                return Optional.empty();
            }
            return Optional.ofNullable(new ObjectMapper().readTree(file.toFile())).filter(JsonNode::isObject);
        } catch (IOException e) {
            warnings.add(path + ": not valid JSON, so not used in the model card (" + e.getClass().getSimpleName() + ")");
            return Optional.empty();
        }
    }

    static Conversion conversion(String bundlePath, JsonNode json) {
        List<SourceFile> files = new ArrayList<>();
        collectFiles(json, files);
        Map<String, String> facts = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        flattenScalars("", json, facts, 1);
        return new Conversion(bundlePath, List.copyOf(files), facts);
    }

    /** Any object with a 64-hex "sha256" and a name-like field is a hashed source file, wherever it sits. */
    private static void collectFiles(JsonNode node, List<SourceFile> out) {
        if (node.isObject()) {
            String sha = node.path("sha256").asText("").toLowerCase(Locale.ROOT);
            String name = firstText(node, "path", "file", "name");
            if (Sha256.isHex(sha) && name != null) {
                out.add(new SourceFile(name, node.path("size").asLong(node.path("bytes").asLong(-1)), sha));
                return;
            }
            for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) collectFiles(it.next(), out);
        } else if (node.isArray()) {
            for (JsonNode n : node) collectFiles(n, out);
        }
    }

    private static String firstText(JsonNode node, String... fields) {
        for (String f : fields) if (node.path(f).isTextual()) return node.path(f).asText();
        return null;
    }

    private static void flattenScalars(String prefix, JsonNode node, Map<String, String> out, int depth) {
        for (var it = node.properties().iterator(); it.hasNext() && out.size() < 40; ) {
            var e = it.next();
            JsonNode v = e.getValue();
            String key = prefix + e.getKey();
            if (v.isValueNode() && !v.isNull()) {
                String text = v.asText();
                if (text.length() <= 200) out.put(key, text);
            } else if (v.isObject() && depth > 0) {
                flattenScalars(key + ".", v, out, depth - 1);
            }
        }
    }

    static Parity parity(String bundlePath, JsonNode json, Optional<String> html) {
        String verdict = verdictOf(json).orElse("unknown");
        List<Component> components = new ArrayList<>();
        JsonNode comps = json.path("components");
        if (comps.isObject()) {
            for (var it = comps.properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (e.getValue().isObject()) components.add(component(e.getKey(), e.getValue()));
            }
        } else if (comps.isArray()) {
            for (JsonNode c : comps) {
                String name = firstText(c, "name", "component");
                if (c.isObject()) components.add(component(name == null ? "component " + (components.size() + 1) : name, c));
            }
        }
        return new Parity(bundlePath, verdict, List.copyOf(components), html);
    }

    private static Optional<String> verdictOf(JsonNode n) {
        for (String f : new String[] {"verdict", "status", "result"}) if (n.path(f).isTextual()) return Optional.of(n.path(f).asText());
        for (String f : new String[] {"passed", "pass", "ok"}) if (n.path(f).isBoolean()) return Optional.of(n.path(f).asBoolean() ? "pass" : "fail");
        return Optional.empty();
    }

    private static Component component(String name, JsonNode c) {
        Map<String, String> metrics = new LinkedHashMap<>();
        for (JsonNode src : new JsonNode[] {c, c.path("metrics")}) {
            if (!src.isObject()) continue;
            for (var it = src.properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (e.getValue().isNumber()) metrics.put(e.getKey(), formatNumber(e.getValue()));
            }
        }
        return new Component(name, verdictOf(c).orElse("-"), metrics);
    }

    private static String formatNumber(JsonNode n) {
        if (n.isIntegralNumber()) return n.asText();
        double d = n.asDouble();
        if (d != 0 && (Math.abs(d) < 1e-3 || Math.abs(d) >= 1e6)) return String.format(Locale.ROOT, "%.3e", d);
        return String.format(Locale.ROOT, "%.6g", d);
    }
}
