package org.llavapack.model.lora;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.llavapack.BadInputException;

/**
 * The parts of a PEFT {@code adapter_config.json} that decide what a LoRA merge computes (spec §6.1, §7). Keys that do
 * not affect merged weights (dropout, init, task type, …) are ignored; unknown keys are accepted because newer peft
 * versions add some.
 *
 * @param r default rank
 * @param loraAlpha default alpha
 * @param rankPattern per-module rank overrides, in file order (the first matching pattern wins)
 * @param alphaPattern per-module alpha overrides, in file order
 * @param targets which modules peft wrapped
 * @param layersToTransform layer indexes peft restricted the targets to; empty means all
 * @param layersPattern names of the layer list for {@code layersToTransform}; empty means any
 * @param modulesToSave modules trained in full whose copies replace the base tensors
 * @param loraBias newer peft's {@code lora_bias}: lora_B carries a bias that is added to the base bias
 */
public record LoraConfig(Path file, int r, double loraAlpha, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern,
                         boolean useRslora, boolean useDora, boolean fanInFanOut, Bias bias, boolean loraBias,
                         Targets targets, List<Integer> layersToTransform, List<String> layersPattern,
                         List<String> modulesToSave, Optional<String> baseModelNameOrPath) {

    /** peft's {@code bias} option: which bias vectors the adapter trained (and therefore saved). */
    public enum Bias { NONE, ALL, LORA_ONLY }

    /** {@code target_modules}: a list of module-name suffixes, a regular expression, or peft's "all-linear". */
    public sealed interface Targets {
        /** Whether peft's {@code check_target_module_exists} selects the module with this key. */
        boolean matches(String moduleKey);

        /** Names: the key equals a name or ends with "." + name (peft: {@code key.endswith(f".{target}")}). */
        record Names(List<String> names) implements Targets {
            @Override
            public boolean matches(String key) {
                for (String n : names) if (key.equals(n) || key.endsWith("." + n)) return true;
                return false;
            }
        }

        /** A string is a regular expression that must match the whole key ({@code re.fullmatch}). */
        record Regex(Pattern pattern) implements Targets {
            @Override
            public boolean matches(String key) {
                return pattern.matcher(key).matches();
            }
        }

        /** "all-linear": every Linear except the output layer (peft excludes it); shapes decide what is linear. */
        record AllLinear() implements Targets {
            @Override
            public boolean matches(String key) {
                return !(key.equals("lm_head") || key.endsWith(".lm_head") || key.endsWith("output_layer"));
            }
        }

        /** {@code target_modules: null}: peft filled in a model-type default; the adapter's tensors say which. */
        record Unspecified() implements Targets {
            @Override
            public boolean matches(String key) {
                return true;
            }
        }
    }

    /** The rank, alpha and scale that apply to one module after the patterns. */
    public record ModuleRank(int r, double alpha, float scale) {}

    /** Reads and validates {@code adapter_config.json}; every problem is a one-line exit-3 error naming the file. */
    public static LoraConfig parse(Path file, JsonNode root) {
        if (!root.isObject()) throw new BadInputException(file, "not a JSON object");
        String peftType = root.path("peft_type").asText("");
        if (!peftType.equals("LORA")) {
            throw new BadInputException(file, "peft_type is " + (peftType.isEmpty() ? "missing" : "'" + peftType + "'")
                    + "; merge-lora handles LoRA adapters (peft_type LORA) only");
        }
        JsonNode replication = root.get("layer_replication");
        if (replication != null && !replication.isNull()) {
            throw new BadInputException(file, "layer_replication is set: the adapter belongs to a model with duplicated layers, which cannot be merged into the base");
        }
        int r = positiveInt(file, root.get("r"), "r");
        double alpha = number(file, root.get("lora_alpha"), "lora_alpha");
        Map<String, Integer> rankPattern = patterns(file, root.get("rank_pattern"), "rank_pattern",
                (key, v) -> positiveInt(file, v, "rank_pattern." + key));
        Map<String, Double> alphaPattern = patterns(file, root.get("alpha_pattern"), "alpha_pattern",
                (key, v) -> number(file, v, "alpha_pattern." + key));
        for (String p : rankPattern.keySet()) compile(file, p, false);
        for (String p : alphaPattern.keySet()) compile(file, p, false);
        Bias bias = switch (root.path("bias").asText("none")) {
            case "none" -> Bias.NONE;
            case "all" -> Bias.ALL;
            case "lora_only" -> Bias.LORA_ONLY;
            default -> throw new BadInputException(file, "bias is '" + root.path("bias").asText() + "' (expected none, all or lora_only)");
        };
        return new LoraConfig(file, r, alpha, rankPattern, alphaPattern,
                bool(file, root, "use_rslora"), bool(file, root, "use_dora"), bool(file, root, "fan_in_fan_out"), bias,
                bool(file, root, "lora_bias"), targets(file, root.get("target_modules")),
                intList(file, root.get("layers_to_transform"), "layers_to_transform"),
                stringList(file, root.get("layers_pattern"), "layers_pattern"),
                stringList(file, root.get("modules_to_save"), "modules_to_save"),
                Optional.ofNullable(root.get("base_model_name_or_path")).filter(JsonNode::isTextual).map(JsonNode::asText));
    }

    /**
     * How rank_pattern / alpha_pattern keys are matched against a module key. peft changed this twice; the rules agree
     * on every key that matches a pattern after a dot and on every adapter whose patterns name r and alpha alike.
     */
    public enum PatternRule {
        /** Spec §7: in each dict the first key p, in file order, with {@code re.match(rf".*\.{p}$", key)}. */
        PER_DICT("first pattern p of each dict with re.match(r'.*\\.p$')"),
        /** Newer peft: per dict with {@code (.*\.)?(p)$}, so a pattern may also name the full module path. */
        FULL_KEY("newer peft's rule, which also lets a pattern name the whole module path"),
        /** peft 0.11/0.12: one key found in the rank keys then the alpha keys, then looked up in both dicts. */
        CHAINED("peft 0.11/0.12's rule, which looks one pattern up in both dicts");

        private final String description;

        PatternRule(String description) {
            this.description = description;
        }

        public String description() {
            return description;
        }
    }

    /**
     * Rank and alpha for a module key such as {@code model.layers.1.mlp.down_proj} under {@code rule}; the scale is
     * alpha/r, or alpha/√r with rsLoRA, computed in double as Python does and used as fp32, as torch does when it
     * multiplies an fp32 tensor by a Python float.
     */
    public ModuleRank rankFor(String moduleKey, PatternRule rule) {
        int rank;
        double a;
        switch (rule) {
            case PER_DICT, FULL_KEY -> {
                boolean full = rule == PatternRule.FULL_KEY;
                rank = firstMatch(rankPattern, moduleKey, full).orElse(r);
                a = firstMatch(alphaPattern, moduleKey, full).orElse(loraAlpha);
            }
            case CHAINED -> {
                List<String> chain = new ArrayList<>(rankPattern.keySet());
                alphaPattern.keySet().stream().filter(k -> !rankPattern.containsKey(k)).forEach(chain::add);
                Optional<String> key = chain.stream().filter(p -> compile(file, p, false).matcher(moduleKey).matches()).findFirst();
                rank = key.map(k -> rankPattern.getOrDefault(k, r)).orElse(r);
                a = key.map(k -> alphaPattern.getOrDefault(k, loraAlpha)).orElse(loraAlpha);
            }
            default -> throw new AssertionError(rule);
        }
        return new ModuleRank(rank, a, scale(rank, a));
    }

    private float scale(int rank, double a) {
        return (float) (useRslora ? a / Math.sqrt(rank) : a / rank);
    }

    /**
     * Whether peft wrapped this module: it matches target_modules and, when layers_to_transform is set, its layer
     * index (the number after one of layers_pattern, or after any component) is listed.
     */
    public boolean selects(String moduleKey) {
        if (!targets.matches(moduleKey)) return false;
        if (layersToTransform.isEmpty()) return true;
        Integer layer = null;
        if (layersPattern.isEmpty()) {
            Matcher m = Pattern.compile(".*\\.[^.]*\\.(\\d+)\\..*").matcher(moduleKey);
            if (m.matches()) layer = Integer.valueOf(m.group(1));
        } else {
            for (String lp : layersPattern) {
                Matcher m = Pattern.compile(".*\\." + lp + "\\.(\\d+)\\..*").matcher(moduleKey);
                if (m.matches()) {
                    layer = Integer.valueOf(m.group(1));
                    break;
                }
            }
        }
        return layer != null && layersToTransform.contains(layer);
    }

    /** peft's {@code modules_to_save} test: {@code key.endswith(name)} for any name (a plain suffix, as peft has it). */
    public boolean savesModule(String moduleKey) {
        for (String m : modulesToSave) if (moduleKey.endsWith(m)) return true;
        return false;
    }

    private <T> Optional<T> firstMatch(Map<String, T> patterns, String key, boolean fullKey) {
        for (Map.Entry<String, T> e : patterns.entrySet()) {
            if (compile(file, e.getKey(), fullKey).matcher(key).matches()) return Optional.of(e.getValue());
        }
        return Optional.empty();
    }

    /**
     * {@code re.match(rf".*\.{p}$", key)} (or {@code (.*\.)?(p)$}): anchored at the start by match and at the end by
     * $, so Java's whole-string {@code matches()} is the same test; p is itself a regular expression.
     */
    private static Pattern compile(Path file, String p, boolean fullKey) {
        try {
            return Pattern.compile((fullKey ? "(?:.*\\.)?(?:" : ".*\\.(?:") + p + ")");
        } catch (PatternSyntaxException e) {
            throw new BadInputException(file, "pattern key '" + p + "' is not a valid regular expression");
        }
    }

    private static Targets targets(Path file, JsonNode node) {
        if (node == null || node.isNull()) return new Targets.Unspecified();
        if (node.isTextual()) {
            if (node.asText().equals("all-linear")) return new Targets.AllLinear();
            try {
                return new Targets.Regex(Pattern.compile(node.asText()));
            } catch (PatternSyntaxException e) {
                throw new BadInputException(file, "target_modules '" + node.asText() + "' is not a valid regular expression");
            }
        }
        List<String> names = stringList(file, node, "target_modules");
        if (names.isEmpty()) throw new BadInputException(file, "target_modules is empty");
        return new Targets.Names(names);
    }

    private static <T> Map<String, T> patterns(Path file, JsonNode node, String what, BiFunction<String, JsonNode, T> value) {
        Map<String, T> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) return out;
        if (!node.isObject()) throw new BadInputException(file, what + " is not an object");
        node.properties().forEach(e -> out.put(e.getKey(), value.apply(e.getKey(), e.getValue())));
        return out;
    }

    private static int positiveInt(Path file, JsonNode n, String what) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0) {
            throw new BadInputException(file, what + " must be a positive integer, found " + (n == null ? "nothing" : n.toString()));
        }
        return n.asInt();
    }

    private static double number(Path file, JsonNode n, String what) {
        if (n == null || !n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new BadInputException(file, what + " must be a number, found " + (n == null ? "nothing" : n.toString()));
        }
        return n.asDouble();
    }

    private static boolean bool(Path file, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return false;
        if (!n.isBoolean()) throw new BadInputException(file, key + " must be true or false, found " + n);
        return n.asBoolean();
    }

    private static List<String> stringList(Path file, JsonNode n, String what) {
        List<String> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isTextual()) return List.of(n.asText());
        if (!n.isArray()) throw new BadInputException(file, what + " must be a list of names, found " + n);
        for (JsonNode e : n) {
            if (!e.isTextual()) throw new BadInputException(file, what + " must be a list of names, found " + n);
            out.add(e.asText());
        }
        return List.copyOf(out);
    }

    private static List<Integer> intList(Path file, JsonNode n, String what) {
        if (n == null || n.isNull()) return List.of();
        if (n.isIntegralNumber()) return List.of(n.asInt());
        if (!n.isArray()) throw new BadInputException(file, what + " must be an integer or a list of integers, found " + n);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isIntegralNumber()) throw new BadInputException(file, what + " must be a list of integers, found " + n);
            out.add(e.asInt());
        }
        return List.copyOf(out);
    }
}
