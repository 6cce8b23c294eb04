package org.llavapack.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.Weights;
import org.llavapack.tensor.TensorStore;

/**
 * A LoRA adapter for a Llama model, applied unmerged at run time: {@code y = W x + s · B (A x)}. Modules are keyed
 * by their module path ({@code model.layers.0.self_attn.q_proj}); A is {@code [r, in]}, B is {@code [out, r]}.
 *
 * @param lmHead a replacement lm_head from PEFT's {@code modules_to_save}, or empty
 */
public record LoraAdapter(String source, Weights weights, Map<String, Module> modules, Optional<String> lmHead) {

    /** One adapted projection: tensor names inside {@link #weights()} and the scale s. */
    public record Module(String module, String a, String b, int rank, double scale) {}

    public LoraAdapter {
        modules = Map.copyOf(modules);
    }

    public Optional<Module> module(String modulePath) {
        return Optional.ofNullable(modules.get(modulePath));
    }

    /** Hyper-parameters that decide each module's scale (peft's LoraConfig subset). */
    public record Hyper(int r, double alpha, boolean rslora, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {
        double scale(int rank, double a) {
            return rslora ? a / Math.sqrt(rank) : a / rank;
        }

        /**
         * peft's pattern lookup: the first pattern key {@code k} with {@code re.match(rf"(.*\.)?({k})$", module)}.
         * (A plain suffix test would wrongly let {@code p_proj} match {@code up_proj}.)
         */
        static <T> Optional<T> lookup(Map<String, T> patterns, String module) {
            for (Map.Entry<String, T> e : patterns.entrySet()) {
                if (Pattern.compile("(.*\\.)?(" + e.getKey() + ")$").matcher(module).matches()) return Optional.of(e.getValue());
            }
            return Optional.empty();
        }
    }

    /** Reads a PEFT adapter folder: {@code adapter_config.json} + {@code adapter_model.safetensors} (or .bin). */
    public static LoraAdapter readPeft(Path dir) {
        Path cfgFile = dir.resolve("adapter_config.json");
        JsonNode cfg = HfFolder.readJson(cfgFile);
        if (!cfg.path("peft_type").asText("LORA").equals("LORA")) {
            throw new BadInputException(cfgFile, "peft_type " + cfg.path("peft_type").asText() + " is not LORA");
        }
        if (cfg.path("use_dora").asBoolean(false)) {
            throw new BadInputException(cfgFile, "DoRA adapters are not supported by parity yet; merge them first (merge-lora) and compare the merged model");
        }
        if (cfg.path("fan_in_fan_out").asBoolean(false)) {
            throw new BadInputException(cfgFile, "fan_in_fan_out adapters (GPT-2 Conv1D) do not apply to Llama");
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        cfg.path("rank_pattern").properties().forEach(e -> ranks.put(e.getKey(), e.getValue().asInt()));
        Map<String, Double> alphas = new LinkedHashMap<>();
        cfg.path("alpha_pattern").properties().forEach(e -> alphas.put(e.getKey(), e.getValue().asDouble()));
        Hyper hyper = new Hyper(cfg.path("r").asInt(8), cfg.path("lora_alpha").asDouble(8), cfg.path("use_rslora").asBoolean(false), ranks, alphas);
        Path file = Files.isRegularFile(dir.resolve("adapter_model.safetensors")) ? dir.resolve("adapter_model.safetensors")
                : dir.resolve("adapter_model.bin");
        if (!Files.isRegularFile(file)) throw new BadInputException(dir, "no adapter_model.safetensors or adapter_model.bin");
        TensorStore store = TensorStores.open(file);
        return fromWeights(dir.toString(), Weights.of(store, "base_model.model."), "", hyper);
    }

    /**
     * Collects LoRA pairs from weights named {@code <module>.lora_A<infix>.weight} (PEFT files: infix "", XTuner
     * checkpoints: ".default"), after the {@code base_model.model.} prefix.
     */
    public static LoraAdapter fromWeights(String source, Weights w, String adapterInfix, Hyper hyper) {
        Map<String, Module> modules = new LinkedHashMap<>();
        String aSuffix = ".lora_A" + adapterInfix + ".weight";
        String bSuffix = ".lora_B" + adapterInfix + ".weight";
        List<String> unknown = new ArrayList<>();
        Optional<String> lmHead = Optional.empty();
        for (String n : w.names()) {
            if (n.endsWith("lora_magnitude_vector") || n.contains(".lora_magnitude_vector.")) {
                throw new BadInputException(source, "DoRA magnitude " + n + ": DoRA adapters are not supported by parity yet", null);
            }
            if (n.equals("lm_head.weight")) {
                lmHead = Optional.of(n);
                continue;
            }
            if (n.endsWith(bSuffix)) continue;
            if (!n.endsWith(aSuffix)) {
                if (n.contains("lora_")) unknown.add(n);
                continue;
            }
            String module = n.substring(0, n.length() - aSuffix.length());
            String b = module + bSuffix;
            if (!w.has(b)) throw new BadInputException(source, n + " has no matching " + b, null);
            long[] as = w.shape(n), bs = w.shape(b);
            if (as.length != 2 || bs.length != 2 || as[0] != bs[1]) {
                throw new BadInputException(source, module + ": lora_A " + java.util.Arrays.toString(as) + " and lora_B "
                        + java.util.Arrays.toString(bs) + " do not chain", null);
            }
            int rank = (int) as[0];
            int r = Hyper.lookup(hyper.rankPattern(), module).orElse(hyper.r());
            double alpha = Hyper.lookup(hyper.alphaPattern(), module).orElse(hyper.alpha());
            if (r != rank) {
                throw new BadInputException(source, module + ": the adapter config gives r=" + r + " but lora_A has " + rank + " rows", null);
            }
            modules.put(module, new Module(module, n, b, rank, hyper.scale(rank, alpha)));
        }
        if (!unknown.isEmpty()) throw new BadInputException(source, "LoRA tensors that are not A/B pairs: " + unknown.subList(0, Math.min(3, unknown.size())), null);
        if (modules.isEmpty()) throw new BadInputException(source, "no LoRA tensors (…lora_A" + adapterInfix + ".weight)", null);
        return new LoraAdapter(source, w, modules, lmHead);
    }

    /** Checks every module targets a Llama projection whose shape matches the base; returns this. */
    public LoraAdapter checkAgainst(LlamaConfig config, Weights base) {
        for (Iterator<Module> it = modules.values().iterator(); it.hasNext(); ) {
            Module m = it.next();
            String weight = m.module() + ".weight";
            if (!base.has(weight)) throw new BadInputException(source, "LoRA module " + m.module() + " has no base weight " + weight, null);
            long[] ws = base.shape(weight), as = weights.shape(m.a()), bs = weights.shape(m.b());
            if (as[1] != ws[1] || bs[0] != ws[0]) {
                throw new BadInputException(source, m.module() + ": LoRA shapes A" + java.util.Arrays.toString(as) + " B"
                        + java.util.Arrays.toString(bs) + " do not fit the base weight " + java.util.Arrays.toString(ws), null);
            }
        }
        return this;
    }
}
