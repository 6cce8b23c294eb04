package org.llavapack.convert.xtuner;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.OutputException;
import org.llavapack.formats.deepspeed.ReconstructedTensor;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/**
 * Writes the OUT_DIR of {@code pth-to-hf} from a consolidated XTuner state dict: {@code llm_adapter/} (PEFT),
 * {@code projector/} (config.json + weights), {@code visual_encoder_adapter/}, {@code visual_encoder/}, {@code llm/}
 * — whichever the checkpoint has tensors for (spec §5.2). Names come from the shipped name map; values stream tensor by
 * tensor from their {@link org.llavapack.formats.deepspeed.TensorSource}, rounded once to the output dtype. The whole
 * folder appears atomically.
 *
 * <p>Input-agnostic on purpose: the tensors may come from a DeepSpeed consolidation (master or module) or from a
 * single {@code .pth} state dict; the caller builds the {@link ReconstructedTensor} list either way.
 */
public final class XtunerExport {
    private XtunerExport() {}

    /**
     * @param dtype         floating-point output dtype; integer buffers keep theirs
     * @param maxShardBytes shard limit for {@code llm/} and {@code visual_encoder/} (adapters and the projector are one file)
     * @param loraAlpha     {@code --lora-alpha}, which wins over the config
     * @param force         replace an existing OUT_DIR
     */
    public record Options(DType dtype, long maxShardBytes, Optional<Number> loraAlpha, boolean force) {}

    /** What was written, for conversion.json and the user. */
    public record Result(Map<XtunerOutput, List<String>> files, Optional<ConnectorLayout> connector,
                         Optional<AdapterConfig> llmAdapter, Optional<AdapterConfig> visualEncoderAdapter, DType dtype,
                         int tensors, long bytes, List<String> warnings) {
        public Result {
            files = Map.copyOf(files);
            warnings = List.copyOf(warnings);
        }
    }

    /** Adds files to the folder before it is committed (conversion.json, a copy of the config …). */
    @FunctionalInterface
    public interface Extra {
        void write(Path folder) throws IOException;
    }

    /**
     * Writes everything under {@code outDir}. {@code inputName} names the checkpoint in errors; {@code extra} runs last,
     * inside the temporary folder.
     */
    public static Result write(List<ReconstructedTensor> tensors, Optional<XtunerConfig> config, String inputName, Path outDir,
                               Options options, Extra extra, Progress progress) {
        Map<String, ReconstructedTensor> byName = new LinkedHashMap<>();
        for (ReconstructedTensor t : tensors) byName.put(t.name(), t);
        Map<XtunerOutput, List<XtunerNames.Routed>> routed = XtunerNames.route(byName.keySet(), inputName);
        List<String> warnings = new ArrayList<>();
        Map<XtunerOutput, List<String>> files = new EnumMap<>(XtunerOutput.class);
        Optional<ConnectorLayout> connector = Optional.empty();
        Optional<AdapterConfig> llmAdapter = Optional.empty();
        Optional<AdapterConfig> visAdapter = Optional.empty();

        // plan every folder first, so configuration problems (missing alpha, unknown layout) fail before any writing
        Map<XtunerOutput, List<TensorInfo>> plans = new EnumMap<>(XtunerOutput.class);
        Map<String, ReconstructedTensor> byTarget = new LinkedHashMap<>();
        for (Map.Entry<XtunerOutput, List<XtunerNames.Routed>> e : routed.entrySet()) {
            List<TensorInfo> infos = new ArrayList<>();
            for (XtunerNames.Routed r : e.getValue()) {
                ReconstructedTensor t = byName.get(r.source());
                TensorInfo info = t.info(options.dtype()).withName(r.target());
                infos.add(info);
                byTarget.put(e.getKey().folder() + "/" + r.target(), t);
            }
            plans.put(e.getKey(), infos);
        }
        Map<XtunerOutput, String> texts = new EnumMap<>(XtunerOutput.class);
        if (plans.containsKey(XtunerOutput.LLM_ADAPTER)) {
            LoraLayout layout = LoraLayout.fromTensors(shapes(plans.get(XtunerOutput.LLM_ADAPTER)),
                    config.flatMap(XtunerConfig::llmLora).flatMap(XtunerConfig.LoraSettings::r), inputName);
            AdapterConfig ac = AdapterConfig.resolve(layout, config.flatMap(XtunerConfig::llmLora),
                    config.flatMap(XtunerConfig::llmName), options.loraAlpha(), Optional.of("CAUSAL_LM"), warnings);
            llmAdapter = Optional.of(ac);
            texts.put(XtunerOutput.LLM_ADAPTER, ac.toText());
        }
        if (plans.containsKey(XtunerOutput.VISUAL_ENCODER_ADAPTER)) {
            LoraLayout layout = LoraLayout.fromTensors(shapes(plans.get(XtunerOutput.VISUAL_ENCODER_ADAPTER)),
                    config.flatMap(XtunerConfig::visualEncoderLora).flatMap(XtunerConfig.LoraSettings::r), inputName);
            // --lora-alpha names the LLM adapter's alpha; the vision adapter's comes from the config only
            Optional<Number> alpha = config.flatMap(XtunerConfig::visualEncoderLora).flatMap(XtunerConfig.LoraSettings::alpha);
            if (alpha.isEmpty()) {
                throw new MissingSettingException("--config", "the checkpoint has a vision-tower LoRA, whose lora_alpha only "
                        + "the XTuner config states: pass --config XTUNER_CONFIG.py");
            }
            AdapterConfig ac = AdapterConfig.resolve(layout, config.flatMap(XtunerConfig::visualEncoderLora),
                    config.flatMap(XtunerConfig::visualEncoderName), Optional.empty(), Optional.empty(), warnings);
            visAdapter = Optional.of(ac);
            texts.put(XtunerOutput.VISUAL_ENCODER_ADAPTER, ac.toText());
        }
        if (plans.containsKey(XtunerOutput.PROJECTOR)) {
            ConnectorLayout layout = ConnectorLayout.detect(shapes(plans.get(XtunerOutput.PROJECTOR)), inputName);
            connector = Optional.of(layout);
            ProjectorConfig.Hints hints = config.map(ProjectorConfig.Hints::from).orElse(ProjectorConfig.Hints.none());
            texts.put(XtunerOutput.PROJECTOR, ProjectorConfig.toText(ProjectorConfig.toJson(layout, options.dtype(), hints, warnings)));
        }
        if (plans.containsKey(XtunerOutput.VISUAL_ENCODER)) {
            warnings.add("visual_encoder/ holds the trained vision-tower weights only; copy config.json and "
                    + "preprocessor_config.json from the base vision tower next to them");
        }
        if (plans.containsKey(XtunerOutput.LLM)) {
            warnings.add("llm/ holds the fully trained LLM weights only; copy config.json and the tokenizer files from the "
                    + "base model next to them");
        }

        long total = plans.values().stream().flatMap(List::stream).mapToLong(TensorInfo::byteSize).sum();
        int count = plans.values().stream().mapToInt(List::size).sum();
        try (AtomicOutput out = AtomicOutput.directory(outDir, options.force())) {
            progress.start("writing", total, count);
            for (Map.Entry<XtunerOutput, List<TensorInfo>> e : plans.entrySet()) {
                XtunerOutput o = e.getKey();
                Path dir = out.path().resolve(o.folder());
                Files.createDirectories(dir);
                SafetensorsWriter.Filler filler = (info, sink) -> byTarget.get(o.folder() + "/" + info.name()).source().writeTo(sink);
                List<String> written = new ArrayList<>();
                switch (o) {
                    case LLM_ADAPTER, VISUAL_ENCODER_ADAPTER -> {
                        Files.writeString(dir.resolve("adapter_config.json"), texts.get(o), StandardCharsets.UTF_8);
                        SafetensorsWriter.writeFile(dir.resolve("adapter_model.safetensors"), SafetensorsWriter.PT_METADATA,
                                e.getValue(), filler, progress);
                        written.addAll(List.of("adapter_config.json", "adapter_model.safetensors"));
                    }
                    case PROJECTOR -> {
                        Files.writeString(dir.resolve("config.json"), texts.get(o), StandardCharsets.UTF_8);
                        SafetensorsWriter.writeFile(dir.resolve("model.safetensors"), SafetensorsWriter.PT_METADATA,
                                e.getValue(), filler, progress);
                        written.addAll(List.of("config.json", "model.safetensors"));
                    }
                    case VISUAL_ENCODER, LLM -> written.addAll(SafetensorsWriter.writeSharded(dir, "model",
                            SafetensorsWriter.PT_METADATA, e.getValue(), options.maxShardBytes(), filler, progress).files());
                }
                files.put(o, written);
            }
            extra.write(out.path());
            out.commit();
        } catch (IOException e) {
            throw OutputException.of(outDir, e);
        }
        return new Result(files, connector, llmAdapter, visAdapter, options.dtype(), count, total, warnings);
    }

    private static Map<String, long[]> shapes(List<TensorInfo> infos) {
        Map<String, long[]> m = new LinkedHashMap<>();
        for (TensorInfo t : infos) m.put(t.name(), t.shape());
        return m;
    }
}
