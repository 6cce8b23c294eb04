package org.llavapack.model.lora;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.TensorStores;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A PEFT LoRA adapter folder ({@code adapter_config.json} + {@code adapter_model.safetensors} or {@code .bin}), read and
 * checked against the base model it will be merged into. Every adapter tensor is accounted for: LoRA factors of a
 * module, DoRA magnitudes, lora_B biases, or a full tensor that replaces a base tensor (modules_to_save, trained
 * biases, saved embedding layers). Anything else, and every inconsistency that would make the merge differ from what
 * peft computes, is a one-line exit-3 error; doubts that do not change the numbers are warnings.
 *
 * @param modules the LoRA updates, keyed by the base weight they change, in base order
 * @param biasUpdates the lora_B biases, keyed by the base bias they change
 * @param replacements base tensor name → adapter tensor that replaces it, in base order
 */
public record PeftAdapter(Path dir, LoraConfig config, TensorStore weights, Map<String, LoraModule> modules,
                          Map<String, LoraModule> biasUpdates, Map<String, String> replacements, List<String> warnings)
        implements AutoCloseable {

    /** The prefix get_peft_model_state_dict leaves on every key: PeftModel.base_model (LoraModel) .model. */
    public static final String PREFIX = "base_model.model.";

    /** Layers peft saves in full when the vocabulary was resized (peft's EMBEDDING_LAYER_NAMES). */
    private static final List<String> EMBEDDING_LAYER_NAMES = List.of("embed_tokens", "lm_head");

    /** The parts of a module an adapter tensor can be, by the suffix of its name. */
    private enum Part {
        A(".lora_A.weight"), B(".lora_B.weight"), B_BIAS(".lora_B.bias"),
        EMBEDDING_A(".lora_embedding_A"), EMBEDDING_B(".lora_embedding_B"),
        MAGNITUDE(".lora_magnitude_vector"), MAGNITUDE_WEIGHT(".lora_magnitude_vector.weight");

        final String suffix;

        Part(String suffix) {
            this.suffix = suffix;
        }
    }

    /** Opens the adapter in {@code dir} and validates it against {@code base} (whose folder, if any, is {@code baseDir}). */
    public static PeftAdapter open(Path dir, TensorStore base, Path baseDir) {
        if (!Files.isDirectory(dir)) throw new BadInputException(dir, "not a folder (expected a PEFT adapter folder with adapter_config.json)");
        Path configFile = dir.resolve("adapter_config.json");
        if (!Files.isRegularFile(configFile)) throw new BadInputException(dir, "no adapter_config.json: not a PEFT adapter folder");
        LoraConfig config = LoraConfig.parse(configFile, HfFolder.readJson(configFile));
        Path weightsFile = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(weightsFile)) weightsFile = dir.resolve("adapter_model.bin");
        if (!Files.isRegularFile(weightsFile)) {
            throw new BadInputException(dir, "no adapter_model.safetensors or adapter_model.bin next to adapter_config.json");
        }
        TensorStore weights = TensorStores.open(weightsFile);
        try {
            List<String> warnings = new ArrayList<>();
            checkBaseModel(config, dir, baseDir, warnings);
            return new Builder(dir, config, weights, base, warnings).build();
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    @Override
    public void close() {
        weights.close();
    }

    /** Groups the adapter's tensors by module and checks each group against the base. */
    private static final class Builder {
        private final Path dir;
        private final LoraConfig config;
        private final TensorStore weights;
        private final TensorStore base;
        private final List<String> warnings;
        private final Path source;

        Builder(Path dir, LoraConfig config, TensorStore weights, TensorStore base, List<String> warnings) {
            this.dir = dir;
            this.config = config;
            this.weights = weights;
            this.base = base;
            this.warnings = warnings;
            this.source = weights.source();
        }

        PeftAdapter build() {
            Map<String, Map<Part, TensorInfo>> parts = new TreeMap<>();
            Map<String, String> replacementByBase = new LinkedHashMap<>();
            for (TensorInfo t : weights.tensors()) {
                String name = t.name();
                if (!name.startsWith(PREFIX)) {
                    throw new BadInputException(source, "tensor '" + name + "' does not start with '" + PREFIX + "': not a PEFT adapter state dict");
                }
                String key = name.substring(PREFIX.length());
                Part part = partOf(key);
                if (part != null) {
                    String module = key.substring(0, key.length() - part.suffix.length());
                    parts.computeIfAbsent(module, m -> new LinkedHashMap<>()).put(part, t);
                } else if (key.contains("lora_")) {
                    throw new BadInputException(source, "unrecognised LoRA tensor '" + name + "' (expected <module>.lora_A.weight, "
                            + "lora_B.weight, lora_magnitude_vector, lora_embedding_A/B; an adapter name left in the key?)");
                } else {
                    String baseName = replacementTarget(t, key);
                    if (replacementByBase.put(baseName, name) != null) {
                        throw new BadInputException(source, "two adapter tensors replace base tensor '" + baseName + "'");
                    }
                }
            }
            if (!parts.isEmpty()) checkTargetsMatchBase();
            Map<String, LoraModule> byWeight = new LinkedHashMap<>();
            Map<String, LoraModule> byBias = new LinkedHashMap<>();
            for (Map.Entry<String, Map<Part, TensorInfo>> e : parts.entrySet()) {
                LoraModule m = module(e.getKey(), e.getValue());
                byWeight.put(m.weight(), m);
                m.loraBias().ifPresent(b -> byBias.put(m.bias(), m));
            }
            for (String b : byBias.keySet()) {
                if (replacementByBase.containsKey(b)) {
                    throw new BadInputException(source, "base tensor '" + b + "' is both replaced by a trained bias and updated by a lora_B.bias");
                }
            }
            for (String w : byWeight.keySet()) {
                if (replacementByBase.containsKey(w)) {
                    throw new BadInputException(source, "base tensor '" + w + "' has LoRA factors and is also replaced by a saved copy");
                }
            }
            if (byWeight.isEmpty() && replacementByBase.isEmpty()) throw new BadInputException(source, "the adapter holds no tensors");
            warnUntargeted(byWeight);
            return new PeftAdapter(dir, config, weights, inBaseOrder(byWeight), inBaseOrder(byBias),
                    inBaseOrder(replacementByBase), List.copyOf(warnings));
        }

        private <T> Map<String, T> inBaseOrder(Map<String, T> byName) {
            Map<String, T> out = new LinkedHashMap<>();
            for (TensorInfo t : base.tensors()) if (byName.containsKey(t.name())) out.put(t.name(), byName.get(t.name()));
            return out;
        }

        private static Part partOf(String key) {
            for (Part p : Part.values()) if (key.endsWith(p.suffix) && key.length() > p.suffix.length()) return p;
            return null;
        }

        /**
         * A full tensor in the adapter replaces the base tensor of the same name (peft's wrapper prefix
         * {@code .base_layer.} removed) when peft saved it as trained: modules_to_save, biases with bias = all or
         * lora_only, or embedding layers saved after a vocabulary resize.
         */
        private String replacementTarget(TensorInfo t, String key) {
            String baseName = key.replace(".base_layer.", ".");
            int dot = baseName.lastIndexOf('.');
            String module = dot < 0 ? "" : baseName.substring(0, dot);
            boolean saved = config.savesModule(module)
                    || (baseName.endsWith(".bias") && config.bias() != LoraConfig.Bias.NONE)
                    || EMBEDDING_LAYER_NAMES.stream().anyMatch(n -> module.equals(n) || module.endsWith("." + n));
            if (!saved) {
                throw new BadInputException(source, "unknown tensor '" + t.name() + "': not a LoRA factor, and module '" + module
                        + "' is not in modules_to_save" + (baseName.endsWith(".bias") ? " (and bias is \"none\")" : ""));
            }
            TensorInfo b = base.info(baseName).orElseThrow(() -> new BadInputException(source,
                    "tensor '" + t.name() + "' replaces '" + baseName + "', which the base model does not have"));
            if (!Arrays.equals(b.shape(), t.shape())) {
                throw new BadInputException(source, "tensor '" + t.name() + "' has shape " + t.shapeString() + " but base '"
                        + baseName + "' is " + b.shapeString() + " (a resized vocabulary needs the resized base)");
            }
            if (!t.dtype().isFloatingPoint() || !b.dtype().isFloatingPoint()) {
                throw new BadInputException(source, "tensor '" + t.name() + "' (" + t.dtype() + ") replaces '" + baseName + "' (" + b.dtype() + "): only floating-point tensors can be replaced");
            }
            return baseName;
        }

        private LoraModule module(String module, Map<Part, TensorInfo> p) {
            boolean embedding = p.containsKey(Part.EMBEDDING_A) || p.containsKey(Part.EMBEDDING_B);
            TensorInfo a = p.get(embedding ? Part.EMBEDDING_A : Part.A);
            TensorInfo b = p.get(embedding ? Part.EMBEDDING_B : Part.B);
            if (embedding && (p.containsKey(Part.A) || p.containsKey(Part.B))) {
                throw new BadInputException(source, "module '" + module + "' has both lora_A/B and lora_embedding_A/B tensors");
            }
            if (a == null || b == null) {
                TensorInfo any = p.values().iterator().next();
                throw new BadInputException(source, "module '" + module + "' has " + (a == null ? "no lora_A" : "no lora_B")
                        + " tensor (found '" + any.name() + "')");
            }
            String weightName = module + ".weight";
            TensorInfo w = base.info(weightName).orElseThrow(() -> new BadInputException(source,
                    "adapter targets module '" + module + "', but the base model has no tensor '" + weightName + "'"));
            if (!config.selects(module)) {
                throw new BadInputException(source, "module '" + module + "' has LoRA weights but target_modules/layers_to_transform in "
                        + "adapter_config.json do not select it, so peft would not load them");
            }
            for (TensorInfo t : List.of(a, b)) {
                if (t.rank() != 2 || !isFloat(t.dtype())) {
                    throw new BadInputException(source, "'" + t.name() + "' must be a 2-D F32/BF16/F16 matrix, found " + t.dtype() + t.shapeString());
                }
            }
            if (w.rank() != 2 || !isFloat(w.dtype())) {
                throw new BadInputException(base.source(), "'" + weightName + "' is " + w.dtype() + w.shapeString()
                        + "; a LoRA target must be a 2-D F32/BF16/F16 weight");
            }
            long rA = a.dim(0), rB = b.dim(1), in = a.dim(1), out = b.dim(0);
            if (rA != rB) {
                throw new BadInputException(source, "rank mismatch in module '" + module + "': lora_A " + a.shapeString()
                        + " has r=" + rA + " but lora_B " + b.shapeString() + " has r=" + rB);
            }
            LoraModule.Kind kind = kind(module, w, embedding, in, out, a, b);
            LoraConfig.ModuleRank rank = rankOf(module, (int) rA);
            Optional<String> magnitude = magnitude(module, p, out, kind);
            Optional<String> loraBias = Optional.ofNullable(p.get(Part.B_BIAS)).map(t -> checkLoraBias(module, t, out, kind));
            return new LoraModule(module, weightName, kind, a.name(), b.name(), (int) rA, rank.scale(), magnitude, loraBias, w.dim(0), w.dim(1));
        }

        /**
         * Linear stores W as [out, in], Conv1D (fan_in_fan_out) and Embedding as [in, out]. peft itself corrects a
         * wrong fan_in_fan_out flag from the module type (with a warning); the shapes tell the type here, and the flag
         * decides only for square weights, where they cannot.
         */
        private LoraModule.Kind kind(String module, TensorInfo w, boolean embedding, long in, long out, TensorInfo a, TensorInfo b) {
            boolean normal = w.dim(0) == out && w.dim(1) == in;
            boolean transposed = w.dim(0) == in && w.dim(1) == out;
            if (embedding) {
                if (!transposed) throw shapeMismatch(module, w, a, b, "[" + in + ", " + out + "] (embedding: [num_embeddings, dim])");
                if (config.useDora()) throw new BadInputException(source, "DoRA on embedding layer '" + module + "' is not supported");
                return LoraModule.Kind.EMBEDDING;
            }
            if (!normal && !transposed) {
                throw shapeMismatch(module, w, a, b, config.fanInFanOut() ? "[" + in + ", " + out + "]" : "[" + out + ", " + in + "]");
            }
            if (normal && transposed) return config.fanInFanOut() ? LoraModule.Kind.CONV1D : LoraModule.Kind.LINEAR;
            if (transposed != config.fanInFanOut()) {
                warnings.add(source + ": fan_in_fan_out is " + config.fanInFanOut() + " but '" + w.name() + "' " + w.shapeString()
                        + " is stored " + (transposed ? "[in, out] (Conv1D)" : "[out, in] (Linear)") + "; merging by the shape, as peft corrects the flag per layer");
            }
            return transposed ? LoraModule.Kind.CONV1D : LoraModule.Kind.LINEAR;
        }

        private BadInputException shapeMismatch(String module, TensorInfo w, TensorInfo a, TensorInfo b, String expected) {
            return new BadInputException(source, "shape mismatch in module '" + module + "': lora_B " + b.shapeString() + " · lora_A "
                    + a.shapeString() + " needs a base weight " + expected + ", but '" + w.name() + "' is " + w.shapeString());
        }

        /**
         * The configured rank must equal the tensors' rank. peft matched rank_pattern/alpha_pattern keys three ways
         * over its versions; the spec's rule goes first, another rule is used only when the tensors prove it, and a
         * different alpha under another rule is reported because the tensors cannot tell alpha.
         */
        private LoraConfig.ModuleRank rankOf(String module, int tensorRank) {
            LoraConfig.ModuleRank chosen = config.rankFor(module, LoraConfig.PatternRule.PER_DICT);
            LoraConfig.PatternRule rule = LoraConfig.PatternRule.PER_DICT;
            if (chosen.r() != tensorRank) {
                for (LoraConfig.PatternRule other : List.of(LoraConfig.PatternRule.FULL_KEY, LoraConfig.PatternRule.CHAINED)) {
                    LoraConfig.ModuleRank alt = config.rankFor(module, other);
                    if (alt.r() == tensorRank) {
                        warnings.add(config.file() + ": module '" + module + "' has rank " + tensorRank + " only under " + other.description()
                                + "; using that rule (alpha " + fmt(alt.alpha()) + ", scale " + alt.scale() + ")");
                        chosen = alt;
                        rule = other;
                        break;
                    }
                }
            }
            if (chosen.r() != tensorRank) {
                boolean patterned = !config.rankPattern().isEmpty();
                throw new BadInputException(source, "rank mismatch in module '" + module + "': adapter_config.json gives r=" + chosen.r()
                        + (patterned ? " (r and rank_pattern)" : "") + " but lora_A/lora_B have r=" + tensorRank);
            }
            for (LoraConfig.PatternRule other : LoraConfig.PatternRule.values()) {
                LoraConfig.ModuleRank alt = config.rankFor(module, other);
                if (other != rule && alt.r() == chosen.r() && alt.alpha() != chosen.alpha()) {
                    warnings.add(config.file() + ": module '" + module + "': alpha " + fmt(chosen.alpha()) + " (scale " + chosen.scale()
                            + "), but " + other.description() + " gives alpha " + fmt(alt.alpha()) + "; check which peft trained the adapter");
                    break;
                }
            }
            return chosen;
        }

        private Optional<String> magnitude(String module, Map<Part, TensorInfo> p, long out, LoraModule.Kind kind) {
            TensorInfo m = p.containsKey(Part.MAGNITUDE) ? p.get(Part.MAGNITUDE) : p.get(Part.MAGNITUDE_WEIGHT);
            if (p.containsKey(Part.MAGNITUDE) && p.containsKey(Part.MAGNITUDE_WEIGHT)) {
                throw new BadInputException(source, "module '" + module + "' has two lora_magnitude_vector tensors");
            }
            if (!config.useDora()) {
                if (m != null) throw new BadInputException(source, "'" + m.name() + "' is a DoRA magnitude but adapter_config.json has use_dora false");
                return Optional.empty();
            }
            if (m == null) throw new BadInputException(source, "use_dora is true but module '" + module + "' has no lora_magnitude_vector");
            if (m.rank() != 1 || m.dim(0) != out || !isFloat(m.dtype())) {
                throw new BadInputException(source, "'" + m.name() + "' is " + m.dtype() + m.shapeString() + "; DoRA needs a float vector of the "
                        + out + " output features");
            }
            return Optional.of(m.name());
        }

        private String checkLoraBias(String module, TensorInfo t, long out, LoraModule.Kind kind) {
            if (kind == LoraModule.Kind.EMBEDDING || config.useDora()) {
                throw new BadInputException(source, "'" + t.name() + "': lora_B bias is not supported with " + (config.useDora() ? "DoRA" : "embeddings"));
            }
            if (t.rank() != 1 || t.dim(0) != out || !isFloat(t.dtype())) {
                throw new BadInputException(source, "'" + t.name() + "' is " + t.dtype() + t.shapeString() + "; expected a float vector [" + out + "]");
            }
            String biasName = module + ".bias";
            TensorInfo b = base.info(biasName).orElseThrow(() -> new BadInputException(source,
                    "'" + t.name() + "' is a lora_B bias, but the base model has no '" + biasName + "' to add it to"));
            if (b.rank() != 1 || b.dim(0) != out || !isFloat(b.dtype())) {
                throw new BadInputException(base.source(), "'" + biasName + "' is " + b.dtype() + b.shapeString() + "; expected [" + out + "]");
            }
            return t.name();
        }

        /** Base weights that target_modules (and layers_to_transform) select: the 2-D {@code <module>.weight}s. */
        private List<String> targetedWeights() {
            List<String> targeted = new ArrayList<>();
            if (config.targets() instanceof LoraConfig.Targets.Unspecified) return targeted;
            for (TensorInfo t : base.tensors()) {
                if (t.rank() != 2 || !t.name().endsWith(".weight")) continue;
                if (config.selects(t.name().substring(0, t.name().length() - ".weight".length()))) targeted.add(t.name());
            }
            return targeted;
        }

        /** peft refuses a config whose target_modules find nothing in the model ("Target modules … not found"). */
        private void checkTargetsMatchBase() {
            if (config.targets() instanceof LoraConfig.Targets.Unspecified) return;
            if (targetedWeights().isEmpty()) {
                throw new BadInputException(config.file(), "target_modules " + describe(config.targets())
                        + (config.layersToTransform().isEmpty() ? "" : " with layers_to_transform " + config.layersToTransform())
                        + " match no layer of the base model");
            }
        }

        /** Layers that target_modules select but the adapter has no weights for stay unchanged; worth a warning. */
        private void warnUntargeted(Map<String, LoraModule> byWeight) {
            if (byWeight.isEmpty()) return;
            // Embeddings match broad targets ("all-linear", regexes) without being layers peft would wrap.
            List<String> untouched = targetedWeights().stream().filter(n -> !byWeight.containsKey(n))
                    .filter(n -> EMBEDDING_LAYER_NAMES.stream().noneMatch(e -> n.equals(e + ".weight") || n.endsWith("." + e + ".weight")))
                    .toList();
            if (!untouched.isEmpty()) {
                warnings.add(source + ": " + untouched.size() + " layer(s) selected by target_modules have no LoRA weights and stay unchanged, e.g. '"
                        + untouched.getFirst() + "'");
            }
        }

        private static String describe(LoraConfig.Targets t) {
            return switch (t) {
                case LoraConfig.Targets.Names n -> n.names().toString();
                case LoraConfig.Targets.Regex r -> "'" + r.pattern().pattern() + "'";
                case LoraConfig.Targets.AllLinear a -> "all-linear";
                case LoraConfig.Targets.Unspecified u -> "(unspecified)";
            };
        }
    }

    private static boolean isFloat(DType t) {
        return t == DType.F32 || t == DType.BF16 || t == DType.F16;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** Fields whose difference means the adapter was trained on another architecture or size. */
    private static final List<String> ARCHITECTURE_FIELDS = List.of("model_type", "architectures", "hidden_size", "intermediate_size",
            "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "n_embd", "n_layer", "n_head");

    /**
     * Warns when the adapter says it was trained on another model. If {@code base_model_name_or_path} is a local
     * folder (as given, or next to the adapter folder) its config.json is compared field by field; a hub id is
     * compared by name with the base folder's path and config.
     */
    static void checkBaseModel(LoraConfig config, Path adapterDir, Path baseDir, List<String> warnings) {
        if (config.baseModelNameOrPath().isEmpty() || baseDir == null) return;
        String named = config.baseModelNameOrPath().get();
        Path baseConfig = baseDir.resolve("config.json");
        if (named.isBlank() || !Files.isRegularFile(baseConfig)) return;
        JsonNode ours = HfFolder.readJson(baseConfig);
        Optional<Path> local = localModel(named, adapterDir);
        if (local.isPresent()) {
            Path theirs = local.get().resolve("config.json");
            JsonNode trained;
            try {
                trained = HfFolder.readJson(theirs);
            } catch (BadInputException e) {
                return;
            }
            List<String> diffs = new ArrayList<>();
            for (String f : ARCHITECTURE_FIELDS) {
                JsonNode x = trained.get(f), y = ours.get(f);
                if (x != null && y != null && !x.equals(y)) diffs.add(f + " " + x + " vs " + y);
            }
            if (!diffs.isEmpty()) {
                warnings.add(config.file() + ": the adapter was trained on '" + named + "', whose config differs from the base's: "
                        + String.join(", ", diffs));
            }
            return;
        }
        String want = normalise(named.substring(named.lastIndexOf('/') + 1));
        String have = normalise(baseDir.toAbsolutePath().normalize().toString()) + " " + normalise(ours.path("_name_or_path").asText(""));
        if (!want.isEmpty() && !have.contains(want)) {
            warnings.add(config.file() + ": the adapter was trained on '" + named + "', and the base folder does not look like it ("
                    + baseDir + "); check that this is the right base model");
        }
    }

    private static Optional<Path> localModel(String named, Path adapterDir) {
        List<Path> candidates = new ArrayList<>();
        try {
            candidates.add(Path.of(named));
            Path parent = adapterDir.toAbsolutePath().normalize().getParent();
            if (parent != null) candidates.add(parent.resolve(named));
        } catch (java.nio.file.InvalidPathException e) {
            return Optional.empty();
        }
        return candidates.stream().filter(p -> Files.isRegularFile(p.resolve("config.json"))).findFirst();
    }

    private static String normalise(String s) {
        return s.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "");
    }
}
