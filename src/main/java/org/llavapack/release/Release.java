package org.llavapack.release;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.CheckFailedException;
import org.llavapack.LlavapackException;
import org.llavapack.OutputException;
import org.llavapack.bundle.BundleInputs;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Bundler;
import org.llavapack.bundle.Keys;
import org.llavapack.bundle.Verification;
import org.llavapack.bundle.hf.HfRepoLayout;
import org.llavapack.bundle.oci.OciPublisher;
import org.llavapack.bundle.oci.OciReference;
import org.llavapack.bundle.oci.RegistryClient;
import org.llavapack.convert.MergeLora;
import org.llavapack.convert.WeightTransform;
import org.llavapack.convert.gguf.LlamaGgufExport;
import org.llavapack.convert.onnx.Component;
import org.llavapack.convert.onnx.OnnxExport;
import org.llavapack.convert.onnx.Precision;
import org.llavapack.convert.xtuner.PthToHf;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.io.AtomicOutput;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.parity.ComponentSource;
import org.llavapack.parity.ComponentSources;
import org.llavapack.parity.ParityInputs;
import org.llavapack.parity.ParityReport;
import org.llavapack.parity.ParityRunner;
import org.llavapack.parity.ReportHtml;
import org.llavapack.parity.ReportJson;
import org.llavapack.parity.SourceOptions;
import org.llavapack.parity.Tolerance;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.TensorStore;

/**
 * {@code llavapack release}: the whole toolkit in one run, stage by stage — pth-to-hf, merge-lora, the exports, parity
 * of every artifact against the training checkpoint, bundle, verify, publish. Every stage writes atomically into the
 * release folder and is recorded in {@link ReleaseState}; a rerun skips what is recorded and unchanged, so a release
 * that failed (a parity miss, a full disk, a registry outage) resumes at the stage that failed.
 */
public final class Release {
    private Release() {}

    public record Options(Path checkpoint, Path base, Optional<Path> vision, Path out, List<ReleaseFormat> formats,
                          Optional<String> publish, boolean insecure, Optional<Path> key, Optional<String> name, Optional<String> version,
                          Optional<String> license, OptionalInt qformerHeads, OptionalDouble loraAlpha, int threads, boolean force,
                          String toolVersion) {
        Options withKey(Path k) {
            return new Options(checkpoint, base, vision, out, formats, publish, insecure, Optional.of(k), name, version, license,
                    qformerHeads, loraAlpha, threads, force, toolVersion);
        }
    }

    public enum Status { DONE, SKIPPED, FAILED }

    public record StageResult(String stage, Status status, double seconds, String detail) {}

    /** What happened; {@code failure} is the error of the failed stage (the last result), when one failed. */
    public record Summary(Path out, List<StageResult> stages, Optional<LlavapackException> failure) {
        public Optional<StageResult> failedStage() {
            return stages.stream().filter(s -> s.status() == Status.FAILED).findFirst();
        }
    }

    static final String HF = "hf", MERGED = "merged", GGUF = "gguf", PARITY = "parity", BUNDLE = "bundle";

    public static Summary run(Options o, Progress progress, Consumer<String> info) {
        return run(o, false, progress, info);
    }

    /** {@code demoKey}: without --key, sign with a key made once in OUT/demo-key/ (see {@link Demo#demoKey}). */
    public static Summary run(Options o, boolean demoKey, Progress progress, Consumer<String> info) {
        checkInputs(o);
        prepareOutput(o);
        if (demoKey && o.key().isEmpty()) o = o.withKey(Demo.demoKey(o.out()));
        Run r = new Run(o, progress, info, ReleaseState.load(o.out(), o.toolVersion()));
        try {
            r.all();
            return new Summary(o.out(), List.copyOf(r.results), Optional.empty());
        } catch (LlavapackException e) {
            return new Summary(o.out(), List.copyOf(r.results), Optional.of(e));
        }
    }

    private static void checkInputs(Options o) {
        if (!Files.exists(o.checkpoint())) throw new BadInputException(o.checkpoint(), "no such checkpoint file or folder");
        if (!Files.isRegularFile(o.base().resolve("config.json"))) {
            throw new BadInputException(o.base(), "not an HF model folder (no config.json): --base must be the Llama the adapter was trained on");
        }
        o.vision().ifPresent(v -> {
            if (!Files.isRegularFile(v.resolve("config.json"))) throw new BadInputException(v, "not an HF CLIP/PLIP folder (no config.json)");
        });
    }

    /** The release folder is ours when it holds release.json; anything else non-empty is somebody's data. */
    private static void prepareOutput(Options o) {
        Path out = o.out();
        try {
            if (Files.isDirectory(out) && !ReleaseState.exists(out)) {
                try (Stream<Path> s = Files.list(out)) {
                    if (s.findAny().isPresent() && !o.force()) {
                        throw new OutputException(out, "exists and is not a release folder (no " + ReleaseState.FILE + "); use --force or another --out", null);
                    }
                }
            } else if (Files.exists(out) && !Files.isDirectory(out)) {
                throw new OutputException(out, "exists and is not a folder", null);
            }
            Files.createDirectories(out);
        } catch (IOException e) {
            throw OutputException.of(out, e);
        }
    }

    /** One run of the pipeline. */
    private static final class Run {
        final Options o;
        final Progress progress;
        final Consumer<String> info;
        final ReleaseState state;
        final List<StageResult> results = new ArrayList<>();
        final int threads;
        final String name;

        Run(Options o, Progress progress, Consumer<String> info, ReleaseState state) {
            this.o = o;
            this.progress = progress;
            this.info = info;
            this.state = state;
            this.threads = Math.max(1, o.threads());
            this.name = o.name().orElse(defaultName(o.checkpoint()));
        }

        private static String defaultName(Path checkpoint) {
            Path p = checkpoint.toAbsolutePath().normalize();
            // an XTuner work dir's checkpoint is iter_N.pth inside the run folder: name the release after the run
            String n = p.getFileName().toString();
            if (n.matches("(iter|epoch)_\\d+\\.pth") && p.getParent() != null) n = p.getParent().getFileName() + "-" + n.replace(".pth", "");
            return n.replaceAll("[^A-Za-z0-9._-]", "-");
        }

        boolean wants(Class<? extends ReleaseFormat> kind) {
            return o.formats().stream().anyMatch(kind::isInstance);
        }

        void all() {
            convert();
            boolean needMerged = wants(ReleaseFormat.Merged.class) || wants(ReleaseFormat.Gguf.class) || wants(ReleaseFormat.Onnx.class);
            if (needMerged) merge();
            for (ReleaseFormat f : o.formats()) {
                if (f instanceof ReleaseFormat.Gguf g) gguf(g);
                if (f instanceof ReleaseFormat.Onnx x) onnx(x);
            }
            parity();
            bundle();
            verify();
            o.publish().ifPresent(this::publish);
        }

        // ---- the stage machinery -------------------------------------------------------------------------------

        interface Body {
            String run() throws IOException;
        }

        /** Runs {@code body} unless the stage is recorded with this fingerprint and its outputs are intact. */
        void stage(String stage, String fingerprint, List<String> outputs, Body body) {
            if (state.upToDate(stage, fingerprint, threads)) {
                ReleaseState.StageRecord rec = state.get(stage).orElseThrow();
                info.accept("[" + (results.size() + 1) + "] " + stage + ": unchanged, skipped (" + rec.outputs().size() + " file(s) re-hashed)");
                results.add(new StageResult(stage, Status.SKIPPED, 0, rec.detail()));
                return;
            }
            state.forget(stage);
            run(stage, stage, body, (seconds, detail) -> state.record(stage, fingerprint, outputs, seconds, detail, threads));
        }

        /**
         * Runs a stage's body, timed, and adds its result; {@code done} sees the time and detail before the result is
         * added. A failure is added as FAILED and rethrown, an I/O error as the output error it is.
         */
        void run(String stage, String label, Body body, java.util.function.BiConsumer<Double, String> done) {
            info.accept("[" + (results.size() + 1) + "] " + label + " …");
            long t0 = System.nanoTime();
            try {
                String detail = body.run();
                double s = (System.nanoTime() - t0) / 1e9;
                done.accept(s, detail);
                results.add(new StageResult(stage, Status.DONE, s, detail));
            } catch (LlavapackException e) {
                results.add(new StageResult(stage, Status.FAILED, (System.nanoTime() - t0) / 1e9, e.getMessage()));
                throw e;
            } catch (IOException e) {
                OutputException oe = OutputException.of(o.out(), e);
                results.add(new StageResult(stage, Status.FAILED, (System.nanoTime() - t0) / 1e9, oe.getMessage()));
                throw oe;
            }
        }

        String digestOf(String stage) {
            return state.get(stage).map(ReleaseState.StageRecord::outputsDigest).orElse("-");
        }

        Path path(String rel) {
            return o.out().resolve(rel);
        }

        // ---- stages --------------------------------------------------------------------------------------------

        void convert() {
            String fp = new Fingerprint().add("stage", "convert").add("alpha", o.loraAlpha()).addTree("checkpoint", o.checkpoint()).hex();
            stage("convert", fp, List.of(HF), () -> {
                PthToHf.Result r = PthToHf.run(o.checkpoint(), path(HF), new PthToHf.Options(Optional.empty(),
                        o.loraAlpha().isPresent() ? Optional.of(o.loraAlpha().getAsDouble()) : Optional.empty(), Optional.empty(),
                        PthToHf.Source.MASTER, 5_000_000_000L, true), progress);
                r.notes().forEach(info);
                return r.export().tensors() + " tensors, " + r.export().connector().map(c -> c.describe()).orElse("no connector")
                        + r.selfCheck().map(c -> ", self-check passed").orElse("");
            });
        }

        /** The merged LLM: merge-lora output, or the converted llm/ when the run trained the whole LLM. */
        Path mergedModel() {
            return Files.isDirectory(path(HF).resolve("llm_adapter")) ? path(MERGED) : path(HF).resolve("llm");
        }

        void merge() {
            Path adapterDir = path(HF).resolve("llm_adapter");
            if (!Files.isDirectory(adapterDir)) {
                if (!Files.isDirectory(path(HF).resolve("llm"))) {
                    throw new BadInputException(o.checkpoint(), "the checkpoint holds no LLM (neither LoRA nor full weights): formats merged/gguf/onnx need one");
                }
                info.accept("note: the checkpoint trained the whole LLM; hf/llm is the merged model");
                return;
            }
            String fp = new Fingerprint().add("stage", "merge-lora").add("convert", digestOf("convert")).addTree("base", o.base()).hex();
            stage("merge-lora", fp, List.of(MERGED), () -> {
                try (TensorStore base = TensorStores.open(o.base()); PeftAdapter adapter = PeftAdapter.open(adapterDir, base, o.base())) {
                    adapter.warnings().forEach(w -> info.accept("warning: " + w));
                    MergeLora.Result r = MergeLora.run(base, o.base(), adapter, path(MERGED),
                            new MergeLora.Options(Optional.empty(), 5_000_000_000L, threads, true), progress, info);
                    return r.merged() + " LoRA targets merged, " + ByteSize.format(r.written().totalBytes());
                }
            });
        }

        String ggufFile(ReleaseFormat.Gguf g) {
            return GGUF + "/" + name + "-" + g.type().cliName() + ".gguf";
        }

        void gguf(ReleaseFormat.Gguf g) {
            String rel = ggufFile(g);
            String fp = new Fingerprint().add("stage", g.id()).add("merged", mergedDigest()).add("name", name).hex();
            stage(g.id(), fp, List.of(rel), () -> {
                Files.createDirectories(path(GGUF));
                LlamaGgufExport.Result r = LlamaGgufExport.run(mergedModel(), path(rel),
                        new LlamaGgufExport.Options(g.type(), WeightTransform.IDENTITY, true, threads, name), progress);
                return r.tensors() + " tensors, " + ByteSize.format(r.bytes());
            });
        }

        String mergedDigest() {
            return state.get("merge-lora").isPresent() ? digestOf("merge-lora") : digestOf("convert");
        }

        SourceOptions sourceOptions() {
            return new SourceOptions(Optional.of(o.base()), o.vision(), o.qformerHeads(), o.loraAlpha());
        }

        /** Vision tower (--vision), the converted connector and the merged LLM, as one ONNX export folder. */
        void onnx(ReleaseFormat.Onnx x) {
            Fingerprint fp = new Fingerprint().add("stage", x.id()).add("merged", mergedDigest()).add("convert", digestOf("convert"))
                    .add("heads", o.qformerHeads());
            o.vision().ifPresent(v -> fp.addTree("vision", v));
            stage(x.id(), fp.hex(), List.of(x.id()), () -> {
                SourceOptions so = sourceOptions();
                try (ComponentSource merged = ComponentSources.open(mergedModel(), so); ComponentSource hf = ComponentSources.open(path(HF), so)) {
                    ComponentSource all = ComponentSources.combine(path(HF), "release (merged LLM, converted connector, vision tower)",
                            merged.llm(), hf.connector(), hf.vision());
                    Precision p = Precision.parse(x.precision(), false).orElseThrow();
                    OnnxExport.Result r = OnnxExport.run(all, path(x.id()), new OnnxExport.Options(EnumSet.allOf(Component.class), true, p, true, so, 0));
                    return r.components().stream().map(c -> c.fileName).toList() + " (" + p.label + "), " + ByteSize.format(r.bytes());
                }
            });
        }

        // ---- parity --------------------------------------------------------------------------------------------

        /** Each artifact against the checkpoint, on the components it holds. */
        record Check(String artifact, Path path, Set<ParityReport.Component> components) {}

        List<Check> checks() {
            List<Check> c = new ArrayList<>();
            for (ReleaseFormat f : o.formats()) {
                switch (f) {
                    case ReleaseFormat.Hf h -> c.add(new Check(h.id(), path(HF), EnumSet.of(ParityReport.Component.LLM, ParityReport.Component.CONNECTOR)));
                    case ReleaseFormat.Merged m -> c.add(new Check(m.id(), mergedModel(), EnumSet.of(ParityReport.Component.LLM)));
                    case ReleaseFormat.Gguf g -> c.add(new Check(g.id(), path(ggufFile(g)), EnumSet.of(ParityReport.Component.LLM)));
                    case ReleaseFormat.Onnx x -> c.add(new Check(x.id(), path(x.id()), EnumSet.allOf(ParityReport.Component.class)));
                }
            }
            return c;
        }

        void parity() {
            Fingerprint fp = new Fingerprint().add("stage", "parity").add("heads", o.qformerHeads()).add("alpha", o.loraAlpha())
                    .addTree("checkpoint", o.checkpoint()).addTree("base", o.base());
            o.vision().ifPresent(v -> fp.addTree("vision", v));
            for (StageResult s : results) fp.add(s.stage(), digestOf(s.stage()));
            stage("parity", fp.hex(), List.of(PARITY), () -> {
                SourceOptions so = sourceOptions();
                List<String> lines = new ArrayList<>(), failed = new ArrayList<>();
                try (AtomicOutput out = AtomicOutput.directory(path(PARITY), true)) {
                    for (Check c : checks()) {
                        ParityReport report;
                        try (ComponentSource ref = ComponentSources.open(o.checkpoint(), so); ComponentSource cand = ComponentSources.open(c.path(), so)) {
                            report = ParityRunner.run(ref, cand, new ParityRunner.Options(c.components(), true, "cpu", ParityInputs.defaults(),
                                    Tolerance.Overrides.NONE, 4L << 30, o.toolVersion(), 0)).reproducible(o.out().toString());
                        }
                        Files.writeString(out.path().resolve(c.artifact() + ".json"), ReportJson.render(report));
                        Files.writeString(out.path().resolve(c.artifact() + ".html"), ReportHtml.render(report));
                        String verdicts = String.join(", ", report.components().stream()
                                .filter(r -> r.status() != ParityReport.Status.SKIPPED)
                                .map(r -> r.component().label + " " + r.status()).toList());
                        lines.add(c.artifact() + ": " + verdicts);
                        if (!report.passed()) {
                            failed.add(c.artifact() + " (" + String.join("; ", report.failed().stream().map(r -> r.component().label + ": " + r.reason()).toList()) + ")");
                        }
                    }
                    out.commit();
                }
                lines.forEach(l -> info.accept("  parity " + l));
                if (!failed.isEmpty()) throw new CheckFailedException("parity failed for " + String.join(", ", failed) + " (reports in " + path(PARITY) + ")");
                return String.join("; ", lines);
            });
        }

        // ---- bundle, verify, publish ---------------------------------------------------------------------------

        Optional<Keys.SigningKey> signingKey() {
            return o.key().map(Keys::readPrivate);
        }

        void bundle() {
            List<BundleInputs.Spec> specs = new ArrayList<>();
            for (ReleaseFormat f : o.formats()) {
                switch (f) {
                    case ReleaseFormat.Hf h -> {
                        specs.add(new BundleInputs.Spec(HF, path(HF)));
                        // the frozen vision tower is not in the checkpoint; a runnable HF release needs it next to the connector
                        o.vision().ifPresent(v -> specs.add(new BundleInputs.Spec(HF + "/visual_encoder", v)));
                    }
                    case ReleaseFormat.Merged m -> specs.add(new BundleInputs.Spec(MERGED, mergedModel()));
                    case ReleaseFormat.Gguf g -> { }
                    case ReleaseFormat.Onnx x -> specs.add(new BundleInputs.Spec(x.id(), path(x.id())));
                }
            }
            if (wants(ReleaseFormat.Gguf.class)) specs.add(new BundleInputs.Spec(GGUF, path(GGUF)));
            specs.add(new BundleInputs.Spec(PARITY, path(PARITY)));
            Optional<Keys.SigningKey> key = signingKey();
            Fingerprint fp = new Fingerprint().add("stage", "bundle").add("name", name).add("version", o.version()).add("license", o.license())
                    .add("key", key.map(Keys.SigningKey::fingerprint).orElse("-"));
            for (BundleInputs.Spec s : specs) fp.add("input " + s.prefix(), s.dir().startsWith(o.out()) ? "release" : "-");
            for (StageResult s : results) fp.add(s.stage(), digestOf(s.stage()));
            o.vision().ifPresent(v -> fp.addTree("vision", v));
            stage("bundle", fp.hex(), List.of(BUNDLE), () -> {
                Bundler.Options bo = new Bundler.Options(Optional.of(name), o.version(), o.license(), Optional.empty(), List.of("en"), key,
                        true, threads, 0);
                Bundler.Result r = Bundler.create(specs, path(BUNDLE), bo, progress, info);
                r.warnings().forEach(w -> info.accept("warning: " + w));
                return r.manifest().files().size() + " files, " + ByteSize.format(r.manifest().totalSize()) + ", payload sha256 "
                        + r.manifest().rootDigest().substring(0, 12) + (r.signedRootDigest().isPresent() ? ", signed" : ", unsigned");
            });
        }

        void verify() {
            Optional<java.security.PublicKey> pub = signingKey().map(Keys.SigningKey::publicKey);
            String fp = new Fingerprint().add("stage", "verify").add("bundle", digestOf("bundle"))
                    .add("key", signingKey().map(Keys.SigningKey::fingerprint).orElse("-")).hex();
            stage("verify", fp, List.of(), () -> {
                Verification.Passed p = Verification.require(BundleSource.open(path(BUNDLE)).scan(threads, progress), pub);
                return p.files() + " files verified" + (p.signature() instanceof Verification.Signed ? ", signature valid" : "");
            });
        }

        /** Never skipped: the publishers themselves send only what the target lacks. */
        void publish(String target) {
            run("publish", "publish " + target, () -> {
                BundleSource source = BundleSource.open(path(BUNDLE));
                Optional<java.security.PublicKey> pub = signingKey().map(Keys.SigningKey::publicKey);
                if (OciReference.isOci(target)) {
                    OciReference ref;
                    try {
                        ref = OciReference.parse(target);
                    } catch (IllegalArgumentException e) {
                        throw new BadInputException((String) null, "--publish " + target + ": " + e.getMessage(), null);
                    }
                    OciPublisher.Report r = OciPublisher.publish(source, ref, new OciPublisher.Options(o.insecure(),
                            OciPublisher.DEFAULT_CHUNK, pub, threads, RegistryClient.Credentials.fromEnvironment()), progress, info);
                    return r.reference() + ": " + r.layers() + " layers, uploaded " + r.uploaded() + ", already present " + r.skipped();
                }
                if (target.startsWith("hf-dir://")) {
                    HfRepoLayout.Report r = HfRepoLayout.publish(source, Path.of(target.substring("hf-dir://".length())),
                            new HfRepoLayout.Options(true, pub, threads), progress, info);
                    return r.output() + ": " + r.files() + " files";
                }
                throw new BadInputException((String) null, "--publish must be oci://HOST[:PORT]/REPO:TAG or hf-dir://PATH, not '" + target + "'", null);
            }, (seconds, detail) -> { });
        }
    }
}
