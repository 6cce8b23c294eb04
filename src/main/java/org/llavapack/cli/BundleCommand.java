package org.llavapack.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.bundle.BundleInputs;
import org.llavapack.bundle.Bundler;
import org.llavapack.bundle.Keys;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.progress.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "bundle",
        description = {"Make a release bundle from model folders: every file with a manifest (size, SHA-256), a Hugging Face model card "
                + "(README.md), SHA256SUMS and, with --key, an OpenSSF model-signing v1.0 signature (model.sig).",
                "The output is a folder, or a reproducible .tar.zst / .tar.gz / .tar archive, chosen by its name. Same inputs give the same bytes "
                        + "(SOURCE_DATE_EPOCH sets the archive mtime, default 0)."})
final class BundleCommand implements Callable<Integer> {
    // No mixinStandardHelpOptions: its -V/--version would clash with the release --version below.
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Parameters(arity = "1..*", paramLabel = "INPUT_DIR", description = "Model folders; SUBFOLDER=DIR puts a folder's files under SUBFOLDER/ in the bundle.")
    List<String> inputs;

    @Option(names = "--out", required = true, paramLabel = "BUNDLE", description = "BUNDLE_DIR, BUNDLE.tar.zst, BUNDLE.tar.gz or BUNDLE.tar.")
    Path out;

    @Option(names = "--name", description = "Release name (default: the first input folder's name).")
    String name;

    @Option(names = "--version", description = "Release version (default: unversioned).")
    String version;

    @Option(names = "--license", description = "License: a Hub license id (apache-2.0, llama3, …) or a name (written as license: other).")
    String license;

    @Option(names = "--base-model", paramLabel = "HUB_ID", description = "base_model for the model card (default: from adapter_config.json).")
    String baseModel;

    @Option(names = "--language", split = ",", description = "Model card languages (default: en).")
    List<String> language = new ArrayList<>(List.of("en"));

    @Option(names = "--key", paramLabel = "PEM", description = "Sign with this private key (PKCS#8 PEM: Ed25519 from 'llavapack keygen', or ECDSA P-256/384/521).")
    Path key;

    @Option(names = "--force", description = "Replace BUNDLE if it exists.")
    boolean force;

    @Option(names = "--threads", description = "Threads for hashing (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    static long sourceDateEpoch() {
        String s = System.getenv("SOURCE_DATE_EPOCH");
        if (s == null || s.isBlank()) return 0;
        try {
            long v = Long.parseLong(s.trim());
            if (v >= 0 && v < 8589934592L) return v; // ustar's 11 octal digits
        } catch (NumberFormatException ignored) {
            // fall through
        }
        GlobalOptions.info("warning: ignoring SOURCE_DATE_EPOCH='" + s + "' (not seconds since 1970 in ustar's range)");
        return 0;
    }

    @Override
    public Integer call() {
        if (version != null && version.isBlank() || name != null && name.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--name and --version must not be empty");
        }
        List<BundleInputs.Spec> specs = inputs.stream().map(BundleInputs.Spec::parse).toList();
        Optional<Keys.SigningKey> signingKey = Optional.ofNullable(key).map(Keys::readPrivate);
        Bundler.Options options = new Bundler.Options(Optional.ofNullable(name), Optional.ofNullable(version), Optional.ofNullable(license),
                Optional.ofNullable(baseModel), List.copyOf(language), signingKey, force, Math.max(1, threads), sourceDateEpoch());
        Bundler.Result r;
        try (Progress progress = GlobalOptions.progress()) {
            r = Bundler.create(specs, out, options, progress, msg -> {});
        }
        r.warnings().forEach(w -> GlobalOptions.info("warning: " + w));
        var stdout = spec.commandLine().getOut();
        stdout.println("bundle:   " + r.output() + " (" + r.format().label() + ")");
        stdout.println("release:  " + r.manifest().name() + " " + r.manifest().version());
        stdout.println("files:    " + r.manifest().files().size() + " (" + ByteSize.format(r.manifest().totalSize()) + ") + manifest, SHA256SUMS"
                + (r.signedRootDigest().isPresent() ? ", model.sig" : ""));
        stdout.println("card:     " + r.card().libraryName().orElse("-") + ", " + r.card().pipelineTag().orElse("-")
                + r.card().baseModel().map(b -> ", base " + b + r.card().baseModelRelation().map(x -> " (" + x + ")").orElse("")).orElse(""));
        stdout.println("payload:  sha256 " + r.manifest().rootDigest());
        r.signedRootDigest().ifPresent(d -> stdout.println("signed:   sha256 " + d + " by key " + signingKey.get().fingerprint()));
        stdout.flush();
        return 0;
    }
}
