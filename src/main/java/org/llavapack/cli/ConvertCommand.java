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
        subcommands = {ConvertCommand.Safetensors.class})
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
}
