package org.llavapack.convert.xtuner;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import org.llavapack.json.PythonJson;

/**
 * {@code adapter_config.json} with peft 0.11's key set (spec §6.1): older peft raises on unknown keys and newer peft
 * reads these. {@code r}, target modules, rank pattern and DoRA come from the tensors; alpha from the user or the
 * XTuner config and never from a guess.
 *
 * @param loraAlpha   Long or Double, written as Python would ({@code 16} vs {@code 16.0})
 * @param loraDropout Long or Double
 * @param taskType    empty → {@code null} (PEFT's default, e.g. for a vision-tower adapter)
 */
public record AdapterConfig(Optional<String> baseModelNameOrPath, long r, Number loraAlpha, Number loraDropout, String bias,
                            List<String> targetModules, Map<String, Long> rankPattern, Optional<List<String>> modulesToSave,
                            boolean useRslora, boolean useDora, Optional<String> taskType) {

    public AdapterConfig {
        targetModules = List.copyOf(targetModules);
        rankPattern = Map.copyOf(rankPattern);
        modulesToSave = modulesToSave.map(List::copyOf);
    }

    /**
     * Combines what the tensors say with the config and the command line.
     *
     * @param layout          read from the adapter tensors
     * @param config          the XTuner config's LoraConfig for this adapter, if a config was read
     * @param baseModel       the base model name or path (the config's llm / visual encoder)
     * @param cliAlpha        {@code --lora-alpha}, if given (it wins over the config)
     * @param defaultTaskType CAUSAL_LM for the LLM adapter, empty for a vision-tower adapter
     * @param warnings        receives disagreements and defaults used
     * @throws MissingSettingException when neither the config nor the command line gives lora_alpha
     */
    public static AdapterConfig resolve(LoraLayout layout, Optional<XtunerConfig.LoraSettings> config, Optional<String> baseModel,
                                        Optional<Number> cliAlpha, Optional<String> defaultTaskType, List<String> warnings) {
        Optional<Number> configAlpha = config.flatMap(XtunerConfig.LoraSettings::alpha);
        Number alpha;
        if (cliAlpha.isPresent()) {
            alpha = cliAlpha.get();
            if (configAlpha.isPresent() && configAlpha.get().doubleValue() != alpha.doubleValue()) {
                warnings.add("--lora-alpha " + alpha + " overrides the config's lora_alpha " + configAlpha.get());
            }
        } else if (configAlpha.isPresent()) {
            alpha = configAlpha.get();
        } else {
            throw new MissingSettingException("--lora-alpha", "lora_alpha is not stored in the checkpoint and cannot be read "
                    + "from the tensors: pass --config XTUNER_CONFIG.py or --lora-alpha A (the LoRA scale is lora_alpha / r = "
                    + "A / " + layout.r() + "; PA-LLaVA trained with r 128 and lora_alpha 256)");
        }
        config.flatMap(XtunerConfig.LoraSettings::r).filter(r -> !layout.moduleRanks().containsValue(r)).ifPresent(r ->
                warnings.add("the config says r=" + r + ", the tensors have rank " + layout.r() + "; using the tensors"));
        config.flatMap(XtunerConfig.LoraSettings::targetModules).ifPresent(t -> {
            if (!new TreeSet<>(t).equals(new TreeSet<>(layout.targetModules()))) {
                warnings.add("the config's target_modules " + t + " differ from the adapted modules " + layout.targetModules()
                        + "; using the tensors");
            }
        });
        config.flatMap(XtunerConfig.LoraSettings::useDora).filter(d -> d != layout.dora()).ifPresent(d ->
                warnings.add("the config says use_dora=" + (d ? "True" : "False") + ", the tensors say otherwise; using the tensors"));
        Number dropout = config.flatMap(XtunerConfig.LoraSettings::dropout).orElseGet(() -> {
            warnings.add("lora_dropout unknown; writing PEFT's default 0.0 (it has no effect at inference)");
            return 0.0;
        });
        String bias = config.flatMap(XtunerConfig.LoraSettings::bias).orElse("none");
        Optional<String> task = config.flatMap(XtunerConfig.LoraSettings::taskType).or(() -> defaultTaskType);
        boolean rslora = config.flatMap(XtunerConfig.LoraSettings::useRslora).orElse(false);
        if (baseModel.isEmpty()) warnings.add("base model unknown (no --config): base_model_name_or_path is null");
        Optional<List<String>> save = layout.modulesToSave().isEmpty() ? Optional.empty() : Optional.of(layout.modulesToSave());
        return new AdapterConfig(baseModel, layout.r(), alpha, dropout, bias, layout.targetModules(), layout.rankPattern(),
                save, rslora, layout.dora(), task);
    }

    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode o = f.objectNode();
        o.putObject("alpha_pattern");
        o.putNull("auto_mapping");
        baseModelNameOrPath.ifPresentOrElse(b -> o.put("base_model_name_or_path", b), () -> o.putNull("base_model_name_or_path"));
        o.put("bias", bias);
        o.put("fan_in_fan_out", false);
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("layer_replication");
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        o.putObject("loftq_config");
        putNumber(o, "lora_alpha", loraAlpha);
        putNumber(o, "lora_dropout", loraDropout);
        o.putNull("megatron_config");
        o.put("megatron_core", "megatron.core");
        modulesToSave.ifPresentOrElse(m -> {
            ArrayNode a = o.putArray("modules_to_save");
            m.forEach(a::add);
        }, () -> o.putNull("modules_to_save"));
        o.put("peft_type", "LORA");
        o.put("r", r);
        ObjectNode rp = o.putObject("rank_pattern");
        new TreeMap<>(rankPattern).forEach(rp::put);
        o.putNull("revision");
        ArrayNode t = o.putArray("target_modules");
        targetModules.forEach(t::add);
        taskType.ifPresentOrElse(x -> o.put("task_type", x), () -> o.putNull("task_type"));
        o.put("use_dora", useDora);
        o.put("use_rslora", useRslora);
        return o;
    }

    /** The file text exactly as peft's save_pretrained writes it: json.dumps(indent=2, sort_keys=True), no newline. */
    public String toText() {
        return PythonJson.dumps(toJson(), 2, true);
    }

    private static void putNumber(ObjectNode o, String key, Number n) {
        if (n instanceof Double || n instanceof Float) o.put(key, n.doubleValue());
        else o.put(key, n.longValue());
    }

    /** Parses {@code --lora-alpha}: "256" stays an int, "256.0" / "0.5" become floats, as Python would write them. */
    public static Number parseAlpha(String text) {
        String s = text.strip();
        try {
            if (s.matches("[+-]?\\d{1,18}")) return Long.parseLong(s);
            double d = Double.parseDouble(s);
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--lora-alpha: not a number: '" + text + "'");
        }
    }
}
