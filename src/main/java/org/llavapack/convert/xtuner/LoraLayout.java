package org.llavapack.convert.xtuner;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.llavapack.BadInputException;

/**
 * What an adapter's tensors say about its LoRA (spec §6): the rank of every adapted module (from lora_A/lora_B shapes),
 * the module names it targets, whether it is DoRA, and which modules it saves whole. The config supplies only what
 * shapes cannot (alpha, dropout).
 *
 * @param r             the rank written as {@code r}: the config's r when some module has it, else the most common
 * @param rankPattern   modules whose rank differs from {@code r}: by leaf name when all modules of that name share the
 *                      rank, else by path (see {@link #patternKey})
 * @param targetModules adapted module leaf names, sorted
 * @param modulesToSave modules saved whole (PEFT modules_to_save), sorted
 * @param dora          DoRA magnitude vectors present
 * @param moduleRanks   module path → rank, in tensor order
 */
public record LoraLayout(long r, Map<String, Long> rankPattern, List<String> targetModules, List<String> modulesToSave,
                         boolean dora, Map<String, Long> moduleRanks) {

    public LoraLayout {
        rankPattern = Collections.unmodifiableMap(new TreeMap<>(rankPattern));
        targetModules = List.copyOf(targetModules);
        modulesToSave = List.copyOf(modulesToSave);
        moduleRanks = Collections.unmodifiableMap(new LinkedHashMap<>(moduleRanks));
    }

    private static final Pattern LORA = Pattern.compile(
            "(.+)\\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)(?:\\.weight)?");

    /**
     * Reads the layout from adapter tensors under PEFT names ({@code base_model.model.…q_proj.lora_A.weight} → shape).
     * {@code preferredR} (the config's r) breaks ties; {@code origin} names the checkpoint in errors.
     */
    public static LoraLayout fromTensors(Map<String, long[]> shapes, Optional<Long> preferredR, String origin) {
        Map<String, Long> rankA = new LinkedHashMap<>();
        Map<String, Long> rankB = new LinkedHashMap<>();
        TreeSet<String> targets = new TreeSet<>();
        TreeSet<String> saved = new TreeSet<>();
        boolean dora = false;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            Matcher m = LORA.matcher(e.getKey());
            long[] s = e.getValue();
            if (!m.matches()) {
                // modules_to_save: base_model.model.lm_head.weight → lm_head
                String module = e.getKey().contains(".") ? e.getKey().substring(0, e.getKey().lastIndexOf('.')) : e.getKey();
                saved.add(leaf(module));
                continue;
            }
            String module = m.group(1);
            switch (m.group(2)) {
                case "lora_A", "lora_embedding_A" -> rankA.put(module, axis(s, 0, e.getKey(), origin));
                case "lora_B", "lora_embedding_B" -> rankB.put(module, axis(s, 1, e.getKey(), origin));
                default -> dora = true;
            }
            targets.add(leaf(module));
        }
        if (rankA.isEmpty() && rankB.isEmpty()) throw new BadInputException(origin, "no LoRA tensors (lora_A / lora_B)", null);
        Map<String, Long> ranks = new LinkedHashMap<>();
        for (Map.Entry<String, Long> a : rankA.entrySet()) {
            Long b = rankB.get(a.getKey());
            if (b == null) throw new BadInputException(origin, a.getKey() + " has lora_A but no lora_B", null);
            if (!b.equals(a.getValue())) {
                throw new BadInputException(origin, a.getKey() + ": lora_A has rank " + a.getValue() + ", lora_B " + b, null);
            }
            ranks.put(a.getKey(), a.getValue());
        }
        for (String b : rankB.keySet()) {
            if (!rankA.containsKey(b)) throw new BadInputException(origin, b + " has lora_B but no lora_A", null);
        }
        TreeMap<Long, Integer> counts = new TreeMap<>();
        ranks.values().forEach(r -> counts.merge(r, 1, Integer::sum));
        long r;
        if (preferredR.isPresent() && counts.containsKey(preferredR.get())) {
            r = preferredR.get();
        } else {
            r = counts.entrySet().stream().max((x, y) -> x.getValue().equals(y.getValue())
                    ? Long.compare(y.getKey(), x.getKey()) : Integer.compare(x.getValue(), y.getValue())).orElseThrow().getKey();
        }
        // Compact patterns: a leaf name whose modules all share one rank other than r gets one key ("k_proj": 2);
        // otherwise each differing module gets its own key. Never both for one leaf: peft takes the first matching
        // key in file (sorted) order, and a leaf key would shadow the longer ones.
        Map<String, TreeSet<Long>> byLeaf = new TreeMap<>();
        ranks.forEach((module, rank) -> byLeaf.computeIfAbsent(leaf(module), k -> new TreeSet<>()).add(rank));
        Map<String, Long> pattern = new TreeMap<>();
        for (Map.Entry<String, Long> e : ranks.entrySet()) {
            if (e.getValue() == r) continue;
            TreeSet<Long> leafRanks = byLeaf.get(leaf(e.getKey()));
            if (leafRanks.size() == 1) pattern.put(leaf(e.getKey()), e.getValue());
            else pattern.put(patternKey(e.getKey()), e.getValue());
        }
        return new LoraLayout(r, pattern, List.copyOf(targets), List.copyOf(saved), dora, ranks);
    }

    /**
     * A rank_pattern key for a module: its path inside the base model without the first component
     * ({@code base_model.model.model.layers.0.self_attn.q_proj} → {@code layers.0.self_attn.q_proj}). peft 0.11 matches
     * keys with {@code re.match(".*\.KEY$", module_name)}, which needs a dot before the key, and module names there start
     * at the base model ({@code model.layers…}); newer peft matches {@code (.*\.)?KEY$}, which accepts this key too.
     */
    static String patternKey(String module) {
        String m = module.startsWith("base_model.model.") ? module.substring("base_model.model.".length()) : module;
        int dot = m.indexOf('.');
        return dot > 0 ? m.substring(dot + 1) : m;
    }

    private static String leaf(String module) {
        return module.substring(module.lastIndexOf('.') + 1);
    }

    private static long axis(long[] shape, int axis, String name, String origin) {
        if (shape.length <= axis) {
            throw new BadInputException(origin, name + " has shape " + Arrays.toString(shape) + ", too few dimensions for LoRA", null);
        }
        return shape[axis];
    }
}
