package org.llavapack.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.convert.Reshard;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert between checkpoint layouts.",
        subcommands = {ConvertCommand.PthToHfCommand.class, ConvertCommand.Safetensors.class})
final class ConvertCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing conversion (see --help)");
    }

    /** Accepts auto|keep|bf16|fp16|fp32 (and the safetensors spellings). */
    static Optional<DType> parseDtype(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "auto", "keep" -> Optional.empty();
            case "bf16", "bfloat16" -> Optional.of(DType.BF16);
            case "fp16", "f16", "float16", "half" -> Optional.of(DType.F16);
            case "fp32", "f32", "float32", "float" -> Optional.of(DType.F32);
            default -> throw new IllegalArgumentException("unknown dtype '" + s + "' (auto, bf16, fp16, fp32)");
        };
    }

    @Command(name = "safetensors", mixinStandardHelpOptions = true,
            description = "Rewrite weights as sharded safetensors (reshard, or cast to another dtype), copying config and tokenizer files.")
    static final class Safetensors implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "SRC", description = "A model folder, safetensors file or index.")
        Path src;

        @Parameters(index = "1", paramLabel = "OUT_DIR", description = "The folder to create.")
        Path out;

        @Option(names = "--max-shard-size", defaultValue = "5GB", description = "Largest shard, decimal (5GB = 5·10^9 bytes) or binary (GiB) units. Default: ${DEFAULT-VALUE}.")
        String maxShardSize;

        @Option(names = "--dtype", defaultValue = "auto", description = "auto (keep), bf16, fp16 or fp32 for floating-point tensors.")
        String dtype;

        @Option(names = "--force", description = "Replace OUT_DIR if it exists.")
        boolean force;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            long max;
            Optional<DType> target;
            try {
                max = ByteSize.parse(maxShardSize);
                target = parseDtype(dtype);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            try (TensorStore store = TensorStores.open(src); Progress progress = GlobalOptions.progress()) {
                Path folder = Files.isDirectory(src) ? src : src.toAbsolutePath().getParent();
                var result = Reshard.run(store, Files.isDirectory(src) ? folder : null, out, new Reshard.Options(max, target, force), progress);
                progress.close();
                GlobalOptions.info("wrote " + out + ": " + result.weightMap().size() + " tensors, "
                        + ByteSize.format(result.totalBytes()) + " in " + result.files().stream().filter(f -> f.endsWith(".safetensors")).count() + " shard(s)");
            }
            return 0;
        }
    }

    @Command(name = "pth-to-hf", mixinStandardHelpOptions = true,
            description = {"Convert an XTuner training checkpoint (DeepSpeed folder or single .pth) into HF/PEFT folders:",
                    "llm_adapter/, projector/ (and visual_encoder*/ or llm/ when trained), plus conversion.json.",
                    "Pickles are parsed, never executed."})
    static final class PthToHfCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "iter_N.pth/ folder, a work dir with last_checkpoint, or a .pth file.")
        Path checkpoint;

        @Parameters(index = "1", paramLabel = "OUT_DIR", description = "The folder to create.")
        Path out;

        @Option(names = "--config", paramLabel = "XTUNER_CONFIG.py", description = "The XTuner config (read as text, never run). Default: the copy mmengine stored in the checkpoint, if any.")
        Path config;

        @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha of the LLM adapter, when the config does not say.")
        String loraAlpha;

        @Option(names = "--dtype", defaultValue = "auto", description = "auto (the dtype the run trained in), bf16, fp16 or fp32.")
        String dtype;

        @Option(names = "--source", defaultValue = "master", description = "master: fp32 master weights from the optimizer files, rounded once (default); module: the stored 16-bit copies.")
        String source;

        @Option(names = "--max-shard-size", defaultValue = "5GB", description = "Shard limit for a fully trained llm/ or visual_encoder/. Default: ${DEFAULT-VALUE}.")
        String maxShardSize;

        @Option(names = "--force", description = "Replace OUT_DIR if it exists.")
        boolean force;

        @Option(names = "--no-input-hashes", description = "Skip the SHA-256 of every input in conversion.json (recorded as null); hashing is most of the run time on multi-GB checkpoints.")
        boolean noHashes;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            org.llavapack.convert.xtuner.PthToHf.Options options;
            try {
                Optional<Number> alpha = loraAlpha == null ? Optional.empty()
                        : Optional.of(org.llavapack.convert.xtuner.AdapterConfig.parseAlpha(loraAlpha));
                var src = switch (source.toLowerCase(java.util.Locale.ROOT)) {
                    case "master" -> org.llavapack.convert.xtuner.PthToHf.Source.MASTER;
                    case "module" -> org.llavapack.convert.xtuner.PthToHf.Source.MODULE;
                    default -> throw new IllegalArgumentException("--source must be master or module, not '" + source + "'");
                };
                options = new org.llavapack.convert.xtuner.PthToHf.Options(Optional.ofNullable(config), alpha, parseDtype(dtype), src,
                        ByteSize.parse(maxShardSize), force, !noHashes);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            try (Progress progress = GlobalOptions.progress()) {
                var result = org.llavapack.convert.xtuner.PthToHf.run(checkpoint, out, options, progress);
                progress.close();
                result.notes().forEach(n -> GlobalOptions.info("note: " + n));
                result.export().warnings().forEach(w -> GlobalOptions.info("warning: " + w));
                result.selfCheck().ifPresent(s -> GlobalOptions.info(s.summary()));
                GlobalOptions.info("wrote " + out + ": " + result.export().tensors() + " tensors, "
                        + ByteSize.format(result.export().bytes()) + " as " + result.export().dtype().torchName()
                        + result.export().connector().map(c -> ", connector: " + c.describe()).orElse(""));
            } catch (org.llavapack.convert.xtuner.MissingSettingException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            return 0;
        }
    }
}
