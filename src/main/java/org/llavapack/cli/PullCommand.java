package org.llavapack.cli;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.bundle.Keys;
import org.llavapack.bundle.Verification;
import org.llavapack.bundle.oci.OciPuller;
import org.llavapack.bundle.oci.OciReference;
import org.llavapack.bundle.oci.RegistryClient;
import org.llavapack.progress.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pull", mixinStandardHelpOptions = true,
        description = "Fetch a published bundle into DIR and verify it (every blob against its layer digest, then the whole bundle); DIR appears only if it verifies.")
final class PullCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SOURCE", description = "oci://HOST[:PORT]/REPO[:TAG|@sha256:…] (default tag: latest).")
    String source;

    @Parameters(index = "1", paramLabel = "DIR", description = "The bundle folder to create.")
    Path dir;

    @Option(names = "--insecure", description = "Plain HTTP to the registry.")
    boolean insecure;

    @Option(names = "--key", paramLabel = "PUB", description = "Require the bundle to be signed by this public key.")
    Path key;

    @Option(names = "--force", description = "Replace DIR if it exists.")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        OciReference ref;
        try {
            ref = OciReference.parse(source);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Optional<java.security.PublicKey> pub = Optional.ofNullable(key).map(Keys::readPublic);
        OciPuller.Report r;
        try (Progress progress = GlobalOptions.progress()) {
            r = OciPuller.pull(ref, dir, new OciPuller.Options(insecure, force, pub, RegistryClient.Credentials.fromEnvironment()), progress, m -> {});
        }
        var out = spec.commandLine().getOut();
        out.println("pulled:   " + r.reference() + " (" + r.manifestDigest() + ") into " + r.output());
        Verification.describe(r.verified()).forEach(out::println);
        out.flush();
        return 0;
    }
}
