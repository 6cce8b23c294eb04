package org.llavapack.model.llama;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.model.Weights;
import org.llavapack.model.lora.LoraModule;
import org.llavapack.model.lora.PeftAdapter;

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

    /** Hyper-parameters of an XTuner LoRA (peft's LoraConfig as XTuner sets it: no rank or alpha patterns). */
    public record Hyper(int r, double alpha, boolean rslora) {
        double scale(int rank, double a) {
            return rslora ? a / Math.sqrt(rank) : a / rank;
        }
    }

    /**
     * The runtime view of a PEFT adapter that {@link PeftAdapter} has read and validated against the base (the same
     * reading merge-lora uses: rank/alpha patterns with peft's rule, rsLoRA, shapes). Parity applies it unmerged, so
     * only plain Linear LoRA is accepted; the rest is refused with the way around.
     */
    public static LoraAdapter fromPeft(PeftAdapter a) {
        Map<String, Module> modules = new LinkedHashMap<>();
        for (LoraModule m : a.modules().values()) {
            if (m.magnitude().isPresent()) {
                throw new BadInputException(a.dir(), "DoRA (" + m.module() + ") is not run unmerged by parity: merge it (merge-lora) and compare the merged model");
            }
            if (m.kind() != LoraModule.Kind.LINEAR) {
                throw new BadInputException(a.dir(), m.kind().name().toLowerCase(java.util.Locale.ROOT) + " LoRA on " + m.module()
                        + " is not run unmerged by parity: merge it (merge-lora) and compare the merged model");
            }
            modules.put(m.module(), new Module(m.module(), m.loraA(), m.loraB(), m.rank(), m.scale()));
        }
        if (!a.biasUpdates().isEmpty()) {
            throw new BadInputException(a.dir(), "lora_B biases are not run unmerged by parity: merge the adapter (merge-lora) and compare the merged model");
        }
        return new LoraAdapter(a.dir().toString(), Weights.of(a.weights(), ""), modules, Optional.empty());
    }

    /**
     * Collects LoRA pairs from an XTuner checkpoint's weights named {@code <module>.lora_A.default.weight} (after the
     * {@code llm.base_model.model.} prefix), with the hyper-parameters from its training config.
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
            if (hyper.r() != rank) {
                throw new BadInputException(source, module + ": the adapter config gives r=" + hyper.r() + " but lora_A has " + rank + " rows", null);
            }
            modules.put(module, new Module(module, n, b, rank, hyper.scale(rank, hyper.alpha())));
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
