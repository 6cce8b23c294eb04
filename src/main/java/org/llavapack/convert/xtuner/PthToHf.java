package org.llavapack.convert.xtuner;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.formats.deepspeed.Consolidation;
import org.llavapack.formats.deepspeed.DeepSpeedCheckpoint;
import org.llavapack.formats.deepspeed.ReconstructedTensor;
import org.llavapack.formats.deepspeed.SelfCheck;
import org.llavapack.formats.deepspeed.TensorSource;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.formats.torch.TorchTensor;
import org.llavapack.json.PythonJson;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;

/**
 * {@code convert pth-to-hf}: an XTuner training checkpoint (a DeepSpeed folder or a single .pth) to the HF/PEFT layout,
 * with conversion.json recording every input's hash and every choice made. Inputs are hashed on a background pool
 * while the weights are written, so hashing costs no extra pass over the disk.
 */
public final class PthToHf {
    private PthToHf() {}

    public enum Source { MASTER, MODULE }

    /** @param dtype empty = auto: the dtype the run trained in */
    public record Options(Optional<Path> config, Optional<Number> loraAlpha, Optional<DType> dtype, Source source,
                          long maxShardBytes, boolean force, boolean hashInputs) {
        public Options(Optional<Path> config, Optional<Number> loraAlpha, Optional<DType> dtype, Source source,
                       long maxShardBytes, boolean force) {
            this(config, loraAlpha, dtype, source, maxShardBytes, force, true);
        }
    }

    public record Result(XtunerExport.Result export, Optional<SelfCheck.Result> selfCheck, List<String> notes) {}

    public static Result run(Path checkpoint, Path outDir, Options options, Progress progress) {
        if (!Files.exists(checkpoint)) throw new BadInputException(checkpoint, "no such file or folder");
        List<Path> inputs = inputFiles(checkpoint);
        ExecutorService hashing = Executors.newFixedThreadPool(Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors())),
                r -> {
                    Thread t = new Thread(r, "llavapack-sha256");
                    t.setDaemon(true);
                    return t;
                });
        try {
            List<Future<String>> digests = new ArrayList<>();
            for (Path p : inputs) digests.add(options.hashInputs() ? hashing.submit(() -> sha256(p)) : null);
            if (Files.isDirectory(checkpoint)) return fromDeepSpeed(checkpoint, outDir, options, progress, inputs, digests);
            return fromSingleFile(checkpoint, outDir, options, progress, inputs, digests);
        } finally {
            hashing.shutdownNow();
        }
    }

    private static Result fromDeepSpeed(Path checkpoint, Path outDir, Options options, Progress progress,
                                        List<Path> inputs, List<Future<String>> digests) {
        try (DeepSpeedCheckpoint ds = DeepSpeedCheckpoint.open(checkpoint)) {
            Consolidation c = options.source() == Source.MASTER ? ds.masters() : ds.module();
            Optional<SelfCheck.Result> check = Optional.empty();
            if (options.source() == Source.MASTER && !ds.model().module().isEmpty() && ds.model().stage() <= 2) {
                check = Optional.of(SelfCheck.run(c, ds.model()).enforce());
            }
            DType dtype = options.dtype().orElseGet(() -> ds.model().trainDtype().orElse(DType.BF16));
            Optional<XtunerConfig> config = config(options, ds.configText(), checkpoint);
            List<String> notes = new ArrayList<>(ds.files().notes());
            notes.addAll(c.report().warnings());
            Optional<SelfCheck.Result> selfCheck = check;
            ObjectNode record = record(inputs, digests);
            record.put("format", "deepspeed");
            record.put("ds_version", ds.model().dsVersion());
            record.put("zero_stage", c.report().stage());
            record.put("world_size", c.report().worldSize());
            record.put("param_groups", c.report().groups());
            ds.model().trainDtype().ifPresent(t -> record.put("train_dtype", t.torchName()));
            XtunerExport.Result r = write(c.tensors(), config, checkpoint, outDir, options, dtype, progress, record, selfCheck, notes);
            return new Result(r, selfCheck, notes);
        }
    }

    private static Result fromSingleFile(Path checkpoint, Path outDir, Options options, Progress progress,
                                         List<Path> inputs, List<Future<String>> digests) {
        try (TorchCheckpoint t = TorchCheckpoint.open(checkpoint); Arena arena = Arena.ofShared()) {
            List<ReconstructedTensor> tensors = new ArrayList<>();
            for (Map.Entry<String, TorchTensor> e : t.stateDict().entrySet()) {
                var tensor = e.getValue().toTensor(e.getKey(), arena);
                ReconstructedTensor.Role role = tensor.dtype().isFloatingPoint() ? ReconstructedTensor.Role.TRAINABLE : ReconstructedTensor.Role.BUFFER;
                tensors.add(new ReconstructedTensor(e.getKey(), e.getValue().shape(), role, new TensorSource.Stored(tensor)));
            }
            if (tensors.isEmpty()) throw new BadInputException(checkpoint, "holds no tensors (expected a state dict, or a dict with 'state_dict' or 'module')");
            DType stored = tensors.stream().map(ReconstructedTensor::dtype).filter(DType::isFloatingPoint).findFirst().orElse(DType.F32);
            DType dtype = options.dtype().orElse(stored);
            Optional<XtunerConfig> config = config(options, DeepSpeedCheckpoint.metaConfig(t.root()), checkpoint);
            ObjectNode record = record(inputs, digests);
            record.put("format", t.format());
            record.put("stored_dtype", stored.torchName());
            List<String> notes = new ArrayList<>();
            XtunerExport.Result r = write(tensors, config, checkpoint, outDir, options, dtype, progress, record, Optional.empty(), notes);
            return new Result(r, Optional.empty(), notes);
        }
    }

    private static XtunerExport.Result write(List<ReconstructedTensor> tensors, Optional<XtunerConfig> config, Path checkpoint,
                                             Path outDir, Options options, DType dtype, Progress progress, ObjectNode record,
                                             Optional<SelfCheck.Result> selfCheck, List<String> notes) {
        record.put("source", options.source() == Source.MASTER ? "master" : "module");
        record.put("dtype", dtype.torchName());
        selfCheck.ifPresent(s -> {
            ObjectNode n = record.putObject("self_check");
            n.put("dtype", s.dtype().torchName());
            n.put("tensors_checked", s.tensorsChecked());
            n.put("tensors_mismatched", s.tensorsMismatched());
            n.put("elements_mismatched", s.elementsMismatched());
            n.put("passed", s.passed());
        });
        config.ifPresent(c -> {
            ArrayNode w = record.putArray("config_warnings");
            c.warnings().forEach(w::add);
        });
        XtunerExport.Options exportOptions = new XtunerExport.Options(dtype, options.maxShardBytes(), options.loraAlpha(), options.force());
        return XtunerExport.write(tensors, config, checkpoint.toString(), outDir, exportOptions, folder -> {
            ArrayNode n = record.putArray("notes");
            notes.forEach(n::add);
            record.put("tool", "llavapack " + org.llavapack.cli.Main.Version.get());
            Files.writeString(folder.resolve("conversion.json"), PythonJson.dumps(record, 2, false) + "\n", StandardCharsets.UTF_8);
            if (options.config().isPresent()) {
                Files.copy(options.config().get(), folder.resolve("xtuner_config.py"));
            }
        }, progress);
    }

    private static Optional<XtunerConfig> config(Options options, Optional<String> embedded, Path checkpoint) {
        if (options.config().isPresent()) return Optional.of(XtunerConfig.read(options.config().get()));
        return embedded.map(text -> XtunerConfig.parse(text, checkpoint + " (meta.cfg)"));
    }

    private static ObjectNode record(List<Path> inputs, List<Future<String>> digests) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ArrayNode files = root.putArray("inputs");
        for (int i = 0; i < inputs.size(); i++) {
            Path p = inputs.get(i);
            ObjectNode f = files.addObject();
            f.put("path", p.toString());
            try {
                f.put("size", Files.size(p));
                if (digests.get(i) == null) f.putNull("sha256");
                else f.put("sha256", digests.get(i).get());
            } catch (IOException e) {
                throw OutputException.of(p, e);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return root;
    }

    /** Every regular file the conversion reads: the checkpoint file, or the files of the tag folder it resolves to. */
    private static List<Path> inputFiles(Path checkpoint) {
        if (!Files.isDirectory(checkpoint)) return List.of(checkpoint);
        Path tag = org.llavapack.formats.deepspeed.DeepSpeedFiles.locate(checkpoint).tagDir();
        try (Stream<Path> s = Files.list(tag)) {
            return s.filter(Files::isRegularFile).filter(p -> p.getFileName().toString().endsWith(".pt")).sorted().toList();
        } catch (IOException e) {
            throw OutputException.of(tag, e);
        }
    }

    static String sha256(Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw OutputException.of(p, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
