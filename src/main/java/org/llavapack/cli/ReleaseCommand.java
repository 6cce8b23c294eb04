package org.llavapack.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import org.llavapack.LlavapackException;
import org.llavapack.progress.Progress;
import org.llavapack.release.Demo;
import org.llavapack.release.Release;
import org.llavapack.release.ReleaseFormat;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "release",
        description = {"Checkpoint to signed release in one run: pth-to-hf, merge-lora, exports, parity of every artifact against the "
                + "checkpoint, bundle, verify, and optionally publish. Finished stages are recorded in OUT/release.json; a rerun skips "
                + "those whose inputs and outputs are unchanged, so a failed release resumes where it stopped.",
                "Try it: llavapack release --demo --out out/"})
final class ReleaseCommand implements Callable<Integer> {
    // No mixinStandardHelpOptions: its -V/--version would clash with the release --version below.
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Parameters(index = "0", arity = "0..1", paramLabel = "CHECKPOINT", description = "XTuner checkpoint: a DeepSpeed folder (iter_N.pth/) or a .pth file.")
    Path checkpoint;

    @Option(names = "--demo", description = "Release the tiny PA-LLaVA checkpoint shipped in test-checkpoints/ (no other input needed).")
    boolean demo;

    @Option(names = "--base", paramLabel = "BASE_DIR", description = "The HF Llama folder the LoRA was trained on.")
    Path base;

    @Option(names = "--vision", paramLabel = "VISION_DIR", description = "The frozen CLIP/PLIP folder (for the vision parts of hf and onnx, and parity).")
    Path vision;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Release folder (created; a previous release there is resumed).")
    Path out;

    @Option(names = "--formats", paramLabel = "LIST", description = "Comma-separated: hf, merged, gguf[:TYPE], onnx[:fp32|fp16|int4]. Default: hf,merged,gguf:q8_0,onnx.")
    String formats;

    @Option(names = "--publish", paramLabel = "URL", description = "After verifying: push to oci://HOST[:PORT]/REPO:TAG or lay out hf-dir://PATH.")
    String publish;

    @Option(names = "--insecure", description = "Plain HTTP to the registry (local or test registries).")
    boolean insecure;

    @Option(names = "--key", paramLabel = "PEM", description = "Sign the bundle with this private key (llavapack keygen).")
    Path key;

    @Option(names = "--name", description = "Release name (default: from the checkpoint path).")
    String name;

    @Option(names = "--version", description = "Release version.")
    String version;

    @Option(names = "--license", description = "License for the model card (a Hub license id such as llama3 or apache-2.0).")
    String license;

    @Option(names = "--qformer-heads", paramLabel = "N", description = "Q-Former attention heads, when the checkpoint's config does not say.")
    Integer qformerHeads;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha, when the checkpoint's config does not say.")
    Double loraAlpha;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--force", description = "Use --out even if it holds files that are not a release.")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        List<ReleaseFormat> fmts;
        try {
            fmts = ReleaseFormat.parseList(formats != null ? formats : ReleaseFormat.DEFAULT);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Release.Options o;
        if (demo) {
            if (checkpoint != null || base != null) throw new CommandLine.ParameterException(spec.commandLine(), "--demo brings its own CHECKPOINT and --base");
            Demo.Inputs d = Demo.locate();
            o = new Release.Options(d.checkpoint(), d.base(), Optional.of(vision != null ? vision : d.vision()), out, fmts,
                    Optional.ofNullable(publish), insecure, Optional.ofNullable(key),
                    Optional.of(name != null ? name : "pa-llava-tiny-demo"), Optional.of(version != null ? version : "0.1.0"),
                    Optional.of(license != null ? license : "apache-2.0"),
                    OptionalInt.of(qformerHeads != null ? qformerHeads : Demo.QFORMER_HEADS), OptionalDouble.empty(), threads, force, Main.Version.get());
        } else {
            if (checkpoint == null) throw new CommandLine.ParameterException(spec.commandLine(), "missing CHECKPOINT (or --demo)");
            if (base == null) throw new CommandLine.ParameterException(spec.commandLine(), "missing --base BASE_DIR (the Llama the adapter was trained on)");
            o = new Release.Options(checkpoint, base, Optional.ofNullable(vision), out, fmts, Optional.ofNullable(publish), insecure,
                    Optional.ofNullable(key), Optional.ofNullable(name), Optional.ofNullable(version), Optional.ofNullable(license),
                    qformerHeads == null ? OptionalInt.empty() : OptionalInt.of(qformerHeads),
                    loraAlpha == null ? OptionalDouble.empty() : OptionalDouble.of(loraAlpha), threads, force, Main.Version.get());
        }
        if (threads < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be at least 1");
        long t0 = System.nanoTime();
        Release.Summary s;
        try (Progress progress = GlobalOptions.progress()) {
            s = Release.run(o, demo, progress, GlobalOptions::info);
        }
        print(s, (System.nanoTime() - t0) / 1e9, spec.commandLine().getOut());
        if (s.failure().isPresent()) {
            LlavapackException e = s.failure().get();
            String stage = s.failedStage().map(Release.StageResult::stage).orElse("?");
            PrintWriter err = spec.commandLine().getErr();
            err.println("error: release failed at stage " + stage + ": " + e.getMessage());
            err.flush();
            return e.exitCode();
        }
        return 0;
    }

    static void print(Release.Summary s, double seconds, PrintWriter w) {
        w.println();
        w.println(String.format(Locale.ROOT, "%-14s %-8s %8s  %s", "stage", "status", "time", "result"));
        for (Release.StageResult r : s.stages()) {
            String detail = r.detail().length() > 140 ? r.detail().substring(0, 137) + "..." : r.detail();
            w.println(String.format(Locale.ROOT, "%-14s %-8s %8s  %s", r.stage(), r.status().name().toLowerCase(Locale.ROOT),
                    r.status() == Release.Status.SKIPPED ? "-" : String.format(Locale.ROOT, "%.1f s", r.seconds()), detail));
        }
        w.println(String.format(Locale.ROOT, "release folder: %s (%.1f s)%s", s.out(), seconds,
                s.failure().isEmpty() ? "; bundle: " + s.out().resolve("bundle") : ""));
        w.flush();
    }
}
