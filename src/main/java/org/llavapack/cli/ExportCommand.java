package org.llavapack.cli;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.llavapack.convert.AdapterMerge;
import org.llavapack.convert.WeightTransform;
import org.llavapack.convert.gguf.LlamaGgufExport;
import org.llavapack.convert.gguf.LoraGgufExport;
import org.llavapack.convert.gguf.MmprojExport;
import org.llavapack.convert.gguf.OutType;
import org.llavapack.convert.onnx.Component;
import org.llavapack.convert.onnx.OnnxExport;
import org.llavapack.convert.onnx.Precision;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.parity.SourceOptions;
import org.llavapack.progress.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a model in another runtime's format (GGUF for llama.cpp, ONNX for onnxruntime).",
        subcommands = {ExportCommand.Gguf.class, ExportCommand.GgufLora.class, ExportCommand.Mmproj.class, ExportCommand.Onnx.class})
final class ExportCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing export format (see --help)");
    }

    static OutType outType(CommandLine.Model.CommandSpec spec, String s, OutType... allowed) {
        OutType t;
        try {
            t = OutType.parse(s);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        for (OutType a : allowed) if (a == t) return t;
        throw new CommandLine.ParameterException(spec.commandLine(), "--outtype " + s + " is not available here (choose "
                + java.util.Arrays.stream(allowed).map(OutType::cliName).collect(Collectors.joining(", ")) + ")");
    }

    /** What every GGUF-writing subcommand takes besides its inputs. */
    static final class GgufWriteOptions {
        @Option(names = "--threads", description = "Encoding threads (default: all cores).")
        int threads = Runtime.getRuntime().availableProcessors();

        @Option(names = "--force", description = "Replace OUT.gguf if it exists.")
        boolean force;
    }

    static String typeSummary(Map<GgmlType, Integer> types) {
        return types.entrySet().stream().map(e -> e.getValue() + " " + e.getKey()).collect(Collectors.joining(", "));
    }

    @Command(name = "gguf", mixinStandardHelpOptions = true,
            description = "Export an HF Llama model folder as a GGUF file for llama.cpp (merged weights, tokenizer, chat template).")
    static final class Gguf implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL_DIR", description = "HF Llama folder: config.json, safetensors weights, tokenizer.json.")
        Path model;

        @Parameters(index = "1", paramLabel = "OUT.gguf", description = "The file to write.")
        Path out;

        @Option(names = "--outtype", defaultValue = "f16", description = "f32, f16, bf16, q8_0, q4_0 or q4_k_m. Default: ${DEFAULT-VALUE}.")
        String outtype;

        @Option(names = "--adapter", paramLabel = "ADAPTER_DIR", description = "Merge this PEFT LoRA adapter while exporting (merge-lora's math, no intermediate folder).")
        Path adapter;

        @Option(names = "--name", description = "general.name (default: the folder's name).")
        String name;

        @CommandLine.Mixin
        GgufWriteOptions write;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            OutType t = outType(spec, outtype, OutType.values());
            AdapterMerge merge = adapter == null ? null : AdapterMerge.open(adapter, model);
            WeightTransform transform = merge == null ? WeightTransform.IDENTITY : merge;
            if (merge != null) merge.warnings().forEach(w -> GlobalOptions.info("warning: " + w));
            try (merge; Progress progress = GlobalOptions.progress()) {
                var r = LlamaGgufExport.run(model, out, new LlamaGgufExport.Options(t, transform, write.force, write.threads, name), progress);
                progress.close();
                r.notes().forEach(n -> GlobalOptions.info("note: " + n));
                if (r.f16Overflows() > 0) {
                    GlobalOptions.info("warning: " + r.f16Overflows() + " values exceed the f16 range and became ±inf; use --outtype bf16 or f32");
                }
                GlobalOptions.info("wrote " + out + ": " + r.tensors() + " tensors (" + typeSummary(r.types()) + "), "
                        + (merge != null ? merge.changedTensors() + " merged from " + adapter.getFileName() + ", " : "") + ByteSize.format(r.bytes()));
            }
            return 0;
        }
    }

    @Command(name = "gguf-lora", mixinStandardHelpOptions = true,
            description = "Export a PEFT LoRA adapter as a llama.cpp LoRA GGUF (use with llama.cpp's --lora).")
    static final class GgufLora implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "ADAPTER_DIR", description = "PEFT adapter folder (adapter_config.json, adapter_model.safetensors).")
        Path adapter;

        @Parameters(index = "1", paramLabel = "OUT.gguf", description = "The file to write.")
        Path out;

        @Option(names = "--base", required = true, paramLabel = "BASE_DIR", description = "The HF Llama folder the adapter was trained on.")
        Path base;

        @Option(names = "--outtype", defaultValue = "f32", description = "f32, f16, bf16 or q8_0. Default: ${DEFAULT-VALUE}.")
        String outtype;

        @Option(names = "--name", description = "general.name (default: the adapter folder's name).")
        String name;

        @CommandLine.Mixin
        GgufWriteOptions write;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            OutType t = outType(spec, outtype, OutType.F32, OutType.F16, OutType.BF16, OutType.Q8_0);
            try (Progress progress = GlobalOptions.progress()) {
                var r = LoraGgufExport.run(adapter, base, out, new LoraGgufExport.Options(t, write.force, write.threads, name), progress);
                progress.close();
                GlobalOptions.info("wrote " + out + ": " + r.tensors() + " tensors (" + typeSummary(r.types()) + "), adapter.lora.alpha "
                        + r.alpha() + (r.scaledModules() > 0 ? ", " + r.scaledModules() + " module(s) with B rescaled to keep PEFT's scale" : "")
                        + ", " + ByteSize.format(r.bytes()));
            }
            return 0;
        }
    }

    @Command(name = "mmproj", mixinStandardHelpOptions = true,
            description = "Export a CLIP vision tower and a two-layer MLP projector as a llama.cpp mmproj GGUF (projector type mlp).")
    static final class Mmproj implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "VISION_DIR", description = "HF CLIPVisionModel (or CLIPModel) folder.")
        Path vision;

        @Parameters(index = "1", paramLabel = "PROJECTOR_DIR", description = "Projector folder (XTuner ProjectorModel, model.0 / model.2).")
        Path projector;

        @Parameters(index = "2", paramLabel = "OUT.gguf", description = "The file to write.")
        Path out;

        @Option(names = "--outtype", defaultValue = "f16", description = "f32 or f16. Default: ${DEFAULT-VALUE}.")
        String outtype;

        @Option(names = "--feature-layer", defaultValue = "-2",
                description = "LLaVA's vision_feature_layer (hidden_states index; negative counts from the end). Default: ${DEFAULT-VALUE}.")
        int featureLayer;

        @Option(names = "--name", description = "general.name (default: the vision folder's name).")
        String name;

        @CommandLine.Mixin
        GgufWriteOptions write;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            OutType t = outType(spec, outtype, OutType.F32, OutType.F16);
            try (Progress progress = GlobalOptions.progress()) {
                var r = MmprojExport.run(vision, projector, out, new MmprojExport.Options(t, featureLayer, write.force, write.threads, name), progress);
                progress.close();
                GlobalOptions.info("wrote " + out + ": " + r.tensors() + " tensors (" + typeSummary(r.types()) + "), " + r.layers()
                        + " encoder layers, projection " + r.projectionDim() + ", " + ByteSize.format(r.bytes()));
            }
            return 0;
        }
    }

    @Command(name = "onnx", mixinStandardHelpOptions = true,
            description = {"Export the vision encoder, the connector (MLP or PA-LLaVA Q-Former) and the Llama decoder (KV cache, "
                    + "GroupQueryAttention) as ONNX files onnxruntime runs, built from the weights without tracing.",
                    "Writes vision_encoder.onnx, connector.onnx, embed_tokens.onnx, decoder_model_merged.onnx (each with one "
                            + "<file>_data weights file), export_config.json, genai_config.json and the tokenizer files."})
    static final class Onnx implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL_DIR", description = {"An HF Llama folder (e.g. merge-lora's output), a projector folder, "
                + "a CLIP/PLIP folder, or a folder holding them as llm/, projector/, visual_encoder/ (pth-to-hf's layout)."})
        Path model;

        @Parameters(index = "1", paramLabel = "OUT_DIR", description = "The folder to create.")
        Path out;

        @Option(names = "--component", split = ",", paramLabel = "C", defaultValue = "all",
                description = "vision, connector, llm, embed or all (every component MODEL_DIR holds); repeat or comma-separate. Default: ${DEFAULT-VALUE}.")
        List<String> components;

        @Option(names = "--precision", defaultValue = "fp32", description = "Weights: fp32, fp16 or int4 (MatMulNBits, block 32, decoder matrices). Default: ${DEFAULT-VALUE}.")
        String precision;

        @Option(names = "--asymmetric", description = "int4 with per-block zero points (default: symmetric).")
        boolean asymmetric;

        @Option(names = "--vision", paramLabel = "DIR", description = "CLIP/PLIP folder when MODEL_DIR has no vision tower (PA-LLaVA's is frozen).")
        Path vision;

        @Option(names = "--qformer-heads", paramLabel = "N", description = "Q-Former attention heads (default: the projector config's num_attention_heads, or hidden/64).")
        Integer qformerHeads;

        @Option(names = "--max-positions", paramLabel = "N", description = "Longest sequence the RoPE cache covers (default: max_position_embeddings).")
        int maxPositions;

        @Option(names = "--force", description = "Replace OUT_DIR if it exists.")
        boolean force;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            Precision p = Precision.parse(precision, asymmetric)
                    .orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(), "--precision must be fp32, fp16 or int4, not " + precision));
            if (asymmetric && !p.isInt4()) throw new CommandLine.ParameterException(spec.commandLine(), "--asymmetric applies to --precision int4 only");
            Set<Component> set = EnumSet.noneOf(Component.class);
            boolean all = false;
            for (String c : components) {
                if (c.equals("all")) all = true;
                else set.add(Component.parse(c).orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(),
                        "--component must be vision, connector, llm, embed or all, not " + c)));
            }
            if (all && !set.isEmpty()) throw new CommandLine.ParameterException(spec.commandLine(), "--component all cannot be combined with others");
            if (maxPositions < 0) throw new CommandLine.ParameterException(spec.commandLine(), "--max-positions must be positive");
            var src = new SourceOptions(Optional.empty(), Optional.ofNullable(vision),
                    qformerHeads == null ? OptionalInt.empty() : OptionalInt.of(qformerHeads), OptionalDouble.empty());
            long t0 = System.nanoTime();
            var r = OnnxExport.run(model, out, new OnnxExport.Options(set, all, p, force, src, maxPositions));
            r.notes().forEach(n -> GlobalOptions.info("note: " + n));
            GlobalOptions.info("wrote " + out + ": " + r.components().stream().map(c -> c.fileName).collect(Collectors.joining(", ")) + " (" + p.label + "), "
                    + r.files().size() + " files, " + ByteSize.format(r.bytes()) + String.format(Locale.ROOT, " in %.2f s", (System.nanoTime() - t0) / 1e9));
            return 0;
        }
    }
}
