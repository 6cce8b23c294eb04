package org.llavapack.bundle.oci;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.llavapack.CheckFailedException;
import org.llavapack.OutputException;
import org.llavapack.bundle.BundleLayout;
import org.llavapack.bundle.Sha256;
import org.llavapack.bundle.Verification;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;

/**
 * Fetches a published bundle into a folder and verifies it before the folder appears: each blob is hashed as it
 * streams to disk and must match its layer digest, then the whole folder must pass {@link Verification}.
 */
public final class OciPuller {
    private OciPuller() {}

    public record Options(boolean insecure, boolean force, Optional<PublicKey> key, Optional<RegistryClient.Credentials> credentials) {}

    public record Report(OciReference reference, String manifestDigest, Path output, Verification.Passed verified) {}

    public static Report pull(OciReference ref, Path out, Options o, Progress progress, Consumer<String> info) {
        String reference = ref.reference().orElse("latest");
        try (RegistryClient client = new RegistryClient(ref, o.insecure(), o.credentials())) {
            client.ping();
            RegistryClient.Manifest m = client.getManifest(reference);
            String digest = "sha256:" + Sha256.of(m.body());
            if (ref.digest().isPresent() && !ref.digest().get().equals(digest)) {
                throw new CheckFailedException(ref + ": the registry returned a manifest with digest " + digest);
            }
            List<OciArtifact.Layer> layers = OciArtifact.layers(m.body());
            long total = layers.stream().mapToLong(OciArtifact.Layer::size).sum();
            try (AtomicOutput dir = AtomicOutput.directory(out, o.force())) {
                progress.start("downloading", total, layers.size());
                Map<String, Sha256.Facts> files = new HashMap<>();
                Map<String, byte[]> control = new HashMap<>();
                for (OciArtifact.Layer l : layers) {
                    Path dst = dir.path().resolve(l.path());
                    MessageDigest md = Sha256.newDigest();
                    long size = 0;
                    try {
                        Files.createDirectories(dst.getParent());
                        try (InputStream in = client.getBlob(l.digest()); OutputStream os = Files.newOutputStream(dst)) {
                            byte[] buf = new byte[1 << 20];
                            int n;
                            while ((n = in.read(buf)) >= 0) {
                                md.update(buf, 0, n);
                                os.write(buf, 0, n);
                                size += n;
                                progress.advance(n, 0);
                                if (size > l.size()) break;
                            }
                        }
                    } catch (IOException e) {
                        throw OutputException.of(dst, e);
                    }
                    String got = "sha256:" + Sha256.hex(md.digest());
                    if (size != l.size() || !got.equals(l.digest())) {
                        throw new CheckFailedException(l.path() + ": downloaded bytes do not match the layer (" + size + " bytes, " + got
                                + "; the manifest says " + l.size() + " bytes, " + l.digest() + ")");
                    }
                    progress.advance(0, 1);
                    files.put(l.path(), new Sha256.Facts(size, got.substring(7)));
                    if (BundleLayout.isControl(l.path())) {
                        try {
                            control.put(l.path(), Files.readAllBytes(dst));
                        } catch (IOException e) {
                            throw OutputException.of(dst, e);
                        }
                    }
                }
                Verification.Passed passed = Verification.require(new Verification.Found(files, control), o.key());
                dir.commit();
                return new Report(ref, digest, dir.target(), passed);
            }
        }
    }
}
