package org.llavapack.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.llavapack.LlavapackException;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStats;
import org.llavapack.tensor.TensorStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List the tensors and metadata of a weights file or model folder.")
final class InspectCommand implements Callable<Integer> {

    @Parameters(paramLabel = "PATH", description = "A .safetensors file, an HF model folder, a *.safetensors.index.json, a torch checkpoint (.pth/.pt/.bin) or a GGUF file.")
    Path path;

    @Option(names = "--json", description = "Machine-readable output on stdout.")
    boolean json;

    @Option(names = "--stats", description = "Read every tensor and report min/max/mean/RMS and NaN/Inf counts.")
    boolean stats;

    @Option(names = "--threads", description = "Threads for --stats (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (TensorStore store = TensorStores.open(path)) {
            List<TensorInfo> tensors = store.tensors();
            List<TensorStats> values = stats ? computeStats(store, tensors) : null;
            PrintWriter out = spec.commandLine().getOut();
            if (store instanceof GgufFile g) {
                if (json) GgufInspect.printJson(out, g, values);
                else GgufInspect.printTable(out, g, values);
            } else if (json) printJson(out, store, tensors, values);
            else printTable(out, store, tensors, values);
            out.flush();
            if (values != null && values.stream().anyMatch(s -> s.nan() + s.inf() > 0)) {
                GlobalOptions.info("warning: some tensors hold NaN or Inf values");
            }
        }
        return 0;
    }

    private List<TensorStats> computeStats(TensorStore store, List<TensorInfo> tensors) throws InterruptedException {
        long total = tensors.stream().mapToLong(TensorInfo::byteSize).sum();
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads));
        try (Progress progress = GlobalOptions.progress()) {
            progress.start("reading", total, tensors.size());
            List<Future<TensorStats>> futures = new ArrayList<>();
            for (TensorInfo t : tensors) {
                futures.add(pool.submit(() -> {
                    TensorStats s = TensorStats.of(store, t);
                    progress.advance(t.byteSize(), 1);
                    return s;
                }));
            }
            List<TensorStats> result = new ArrayList<>();
            for (Future<TensorStats> f : futures) {
                try {
                    result.add(f.get());
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof LlavapackException le) throw le;
                    throw new IllegalStateException(e.getCause());
                }
            }
            return result;
        } finally {
            pool.shutdownNow();
        }
    }

    private static void printTable(PrintWriter out, TensorStore store, List<TensorInfo> tensors, List<TensorStats> stats) {
        out.println("format:   " + store.format());
        out.println("source:   " + store.source());
        if (!store.metadata().isEmpty()) {
            out.println("metadata:");
            store.metadata().forEach((k, v) -> out.println("  " + k + ": " + v));
        }
        int nameWidth = Math.max(4, tensors.stream().mapToInt(t -> t.name().length()).max().orElse(4));
        int shapeWidth = Math.max(5, tensors.stream().mapToInt(t -> t.shapeString().length()).max().orElse(5));
        String head = String.format(Locale.ROOT, "%-" + nameWidth + "s  %-7s  %-" + shapeWidth + "s  %14s", "name", "dtype", "shape", "bytes");
        if (stats != null) head += String.format(Locale.ROOT, "  %12s  %12s  %12s  %12s  %6s  %6s", "min", "max", "mean", "rms", "nan", "inf");
        out.println(head);
        long bytes = 0, params = 0;
        for (int i = 0; i < tensors.size(); i++) {
            TensorInfo t = tensors.get(i);
            String row = String.format(Locale.ROOT, "%-" + nameWidth + "s  %-7s  %-" + shapeWidth + "s  %,14d",
                    t.name(), t.dtype(), t.shapeString(), t.byteSize());
            if (stats != null) {
                TensorStats s = stats.get(i);
                row += String.format(Locale.ROOT, "  %12.5g  %12.5g  %12.5g  %12.5g  %6d  %6d", s.min(), s.max(), s.mean(), s.rms(), s.nan(), s.inf());
            }
            out.println(row);
            bytes += t.byteSize();
            params += t.numel();
        }
        out.printf(Locale.ROOT, "total: %d tensors, %,d parameters, %,d bytes%n", tensors.size(), params, bytes);
    }

    private static void printJson(PrintWriter out, TensorStore store, List<TensorInfo> tensors, List<TensorStats> stats) throws Exception {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        root.put("format", store.format().startsWith("safetensors") ? "safetensors" : store.format());
        root.put("source", store.source().toString());
        ArrayNode arr = root.putArray("tensors");
        long bytes = 0, params = 0;
        for (int i = 0; i < tensors.size(); i++) {
            TensorInfo t = tensors.get(i);
            ObjectNode n = arr.addObject();
            n.put("name", t.name());
            n.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            if (stats != null) {
                TensorStats s = stats.get(i);
                ObjectNode sn = n.putObject("stats");
                sn.put("min", s.min()).put("max", s.max()).put("mean", s.mean()).put("rms", s.rms()).put("nan", s.nan()).put("inf", s.inf());
            }
            bytes += t.byteSize();
            params += t.numel();
        }
        ObjectNode meta = root.putObject("metadata");
        store.metadata().forEach(meta::put);
        if (store instanceof TorchCheckpoint torch) {
            // Non-tensor top-level entries (ds_version, meta, optimizer state …) with their Python types.
            ObjectNode other = root.putObject("other_keys");
            torch.otherKeys().forEach(other::put);
        }
        root.put("total_bytes", bytes);
        root.put("total_parameters", params);
        out.println(mapper.writeValueAsString(root));
    }
}
