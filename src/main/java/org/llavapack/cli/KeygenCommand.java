package org.llavapack.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.Callable;
import org.llavapack.OutputException;
import org.llavapack.bundle.Keys;
import org.llavapack.io.AtomicOutput;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "keygen", mixinStandardHelpOptions = true,
        description = {"Make an Ed25519 key pair for signing bundles: DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem (SubjectPublicKeyInfo).",
                "Prints the key's SHA-256 (the OpenSSF model-signing key hint, also 'sha256sum public.pem')."})
final class KeygenCommand implements Callable<Integer> {
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the two PEM files (created if missing).")
    Path out;

    @Option(names = "--force", description = "Replace existing key files.")
    boolean force;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Keys.SigningKey key = Keys.generateEd25519();
        write(out.resolve("private.pem"), Keys.privatePem(key.privateKey()), true);
        write(out.resolve("public.pem"), Keys.publicPem(key.publicKey()), false);
        GlobalOptions.info("wrote " + out.resolve("private.pem") + " (keep it secret) and " + out.resolve("public.pem"));
        spec.commandLine().getOut().println(key.fingerprint());
        return 0;
    }

    private void write(Path target, String pem, boolean secret) {
        try (AtomicOutput file = AtomicOutput.file(target, force)) {
            try {
                // Restrict before the key is written, so it is never readable by others, not even briefly.
                if (secret && file.path().getFileSystem().supportedFileAttributeViews().contains("posix")) {
                    Files.setPosixFilePermissions(file.path(), PosixFilePermissions.fromString("rw-------"));
                }
                Files.writeString(file.path(), pem, StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw OutputException.of(target, e);
            }
            file.commit();
        }
    }
}
