package org.llavapack.cli;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Keys;
import org.llavapack.bundle.Verification;
import org.llavapack.progress.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check a bundle (folder or archive, streamed): recompute every SHA-256, check the signature, and report the first bad file by name.",
                "Exit 1 on a changed, missing or unlisted file or a bad signature."})
final class VerifyCommand implements Callable<Integer> {
    @Parameters(paramLabel = "BUNDLE", description = "A bundle folder or .tar.zst / .tar.gz / .tar archive.")
    Path bundle;

    @Option(names = "--key", paramLabel = "PUB", description = "The signer's public key (PEM); without it the signature is checked against the key the manifest records.")
    Path key;

    @Option(names = "--threads", description = "Threads for hashing a folder (default: all cores).")
    int threads = Runtime.getRuntime().availableProcessors();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Optional<java.security.PublicKey> pub = Optional.ofNullable(key).map(Keys::readPublic);
        BundleSource source = BundleSource.open(bundle);
        Verification.Found found;
        try (Progress progress = GlobalOptions.progress()) {
            found = source.scan(Math.max(1, threads), progress);
        }
        Verification.Passed passed = Verification.require(found, pub);
        Verification.describe(passed).forEach(spec.commandLine().getOut()::println);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
