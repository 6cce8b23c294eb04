package org.llavapack.cli;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Keys;
import org.llavapack.bundle.hf.HfRepoLayout;
import org.llavapack.bundle.oci.OciPublisher;
import org.llavapack.bundle.oci.OciReference;
import org.llavapack.bundle.oci.RegistryClient;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.progress.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "publish", mixinStandardHelpOptions = true,
        description = {"Publish a verified bundle.",
                "oci://HOST[:PORT]/REPO[:TAG]: push each file as a blob (skipping blobs the registry has), then an OCI image manifest "
                        + "(artifactType application/vnd.llavapack.bundle.v1, one layer per file) and the tag (default: the bundle version).",
                "hf-dir://PATH: lay the files out as a Hugging Face model repository, ready for 'huggingface-cli upload'."})
final class PublishCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "BUNDLE", description = "A bundle folder or archive.")
    Path bundle;

    @Parameters(index = "1", paramLabel = "TARGET", description = "oci://HOST[:PORT]/REPO[:TAG] or hf-dir://PATH.")
    String target;

    @Option(names = "--insecure", description = "Plain HTTP to the registry (local or test registries).")
    boolean insecure;

    @Option(names = "--key", paramLabel = "PUB", description = "Require the bundle to be signed by this public key.")
    Path key;

    @Option(names = "--chunk-size", defaultValue = "64MiB", description = "Blobs larger than this are uploaded in chunks of this size. Default: ${DEFAULT-VALUE}.")
    String chunkSize;

    @Option(names = "--force", description = "hf-dir: replace PATH if it exists.")
    boolean force;

    @Option(names = "--threads", description = "Threads for verifying a folder (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        long chunk;
        OciReference ref = null;
        try {
            chunk = ByteSize.parse(chunkSize);
            if (chunk < 1) throw new IllegalArgumentException("--chunk-size must be positive");
            if (OciReference.isOci(target)) {
                ref = OciReference.parse(target);
                if (ref.digest().isPresent()) throw new IllegalArgumentException("publish needs a tag, not a digest: " + target);
            }
            else if (!target.startsWith("hf-dir://") || target.length() == "hf-dir://".length()) {
                throw new IllegalArgumentException("TARGET must be oci://HOST[:PORT]/REPO[:TAG] or hf-dir://PATH, not '" + target + "'");
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Optional<java.security.PublicKey> pub = Optional.ofNullable(key).map(Keys::readPublic);
        BundleSource source = BundleSource.open(bundle);
        var out = spec.commandLine().getOut();
        if (ref != null) {
            OciPublisher.Report r;
            try (Progress progress = GlobalOptions.progress()) {
                r = OciPublisher.publish(source, ref, new OciPublisher.Options(insecure, chunk, pub, Math.max(1, threads),
                        RegistryClient.Credentials.fromEnvironment()), progress, msg -> {});
            }
            out.println("published: " + r.reference());
            out.println("manifest:  " + r.manifestDigest() + (r.manifestPushed() ? "" : " (already tagged: not sent again)"));
            out.println("layers:    " + r.layers() + "; blobs uploaded " + r.uploaded() + " (" + ByteSize.format(r.uploadedBytes()) + "), already present " + r.skipped());
            out.println("requests:  " + r.requests());
        } else {
            Path dir = Path.of(target.substring("hf-dir://".length()));
            HfRepoLayout.Report r;
            try (Progress progress = GlobalOptions.progress()) {
                r = HfRepoLayout.publish(source, dir, new HfRepoLayout.Options(force, pub, Math.max(1, threads)), progress,
                        w -> GlobalOptions.info("warning: " + w));
            }
            out.println("hf repo:   " + r.output() + " (" + r.files() + " files, " + ByteSize.format(r.bytes()) + ")");
            out.println("upload:    " + r.uploadCommand());
        }
        out.flush();
        return 0;
    }
}
