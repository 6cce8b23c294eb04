package org.llavapack.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.convert.MergeLora;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "merge-lora", mixinStandardHelpOptions = true,
        description = {"Merge a PEFT LoRA adapter into its base model and write a complete HF model folder.",
                "W' = W + s·(B·A) per target layer (rsLoRA, rank/alpha patterns, fan_in_fan_out, DoRA, lora bias and "
                        + "modules_to_save as peft does), computed in fp32 and rounded once; untouched tensors are copied byte for byte."})
final class MergeLoraCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "BASE_DIR", description = "The base model: an HF folder (sharded or single safetensors).")
    Path baseDir;

    @Parameters(index = "1", paramLabel = "ADAPTER_DIR", description = "A PEFT adapter folder: adapter_config.json + adapter_model.safetensors (or .bin).")
    Path adapterDir;

    @Parameters(index = "2", paramLabel = "OUT_DIR", description = "The folder to create.")
    Path out;

    @Option(names = "--dtype", defaultValue = "auto", description = "auto (keep each base tensor's dtype), bf16, fp16 or fp32. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--max-shard-size", defaultValue = "5GB", description = "Largest shard, decimal (5GB = 5·10^9 bytes) or binary (GiB) units. Default: ${DEFAULT-VALUE}.")
    String maxShardSize;

    @Option(names = "--threads", description = "Threads for the matrix products (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

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
            target = ConvertCommand.parseDtype(dtype);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (threads < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be at least 1");
        long t0 = System.nanoTime();
        try (TensorStore base = TensorStores.open(baseDir);
             PeftAdapter adapter = PeftAdapter.open(adapterDir, base, Files.isDirectory(baseDir) ? baseDir : null);
             Progress progress = GlobalOptions.progress()) {
            adapter.warnings().forEach(w -> GlobalOptions.info("warning: " + w));
            var result = MergeLora.run(base, Files.isDirectory(baseDir) ? baseDir : null, adapter, out,
                    new MergeLora.Options(target, max, threads, force), progress, GlobalOptions::info);
            progress.close();
            double s = (System.nanoTime() - t0) / 1e9;
            GlobalOptions.info(String.format(Locale.ROOT, "wrote %s: merged %d LoRA target(s) (%.1f GFLOP)%s%s, %d tensors, %s in %d file(s), %.1f s",
                    out, result.merged(), result.gflop(), result.replaced() > 0 ? ", replaced " + result.replaced() + " saved module tensor(s)" : "",
                    result.biases() > 0 ? ", updated " + result.biases() + " bias(es)" : "",
                    result.written().weightMap().size(), ByteSize.format(result.written().totalBytes()), result.written().files().size(), s));
        }
        return 0;
    }
}
