package org.llavapack.bundle.oci;

import java.security.PublicKey;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.llavapack.bundle.BundleLayout;
import org.llavapack.bundle.BundleManifest;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.FileFormat;
import org.llavapack.bundle.Sha256;
import org.llavapack.bundle.Toolkit;
import org.llavapack.bundle.Verification;
import org.llavapack.progress.Progress;

/**
 * Pushes a bundle to an OCI registry: verifies it, uploads every blob the registry lacks (HEAD first, so a rerun
 * after a failure only sends what is missing and a second publish sends nothing), then the manifest and the tag.
 */
public final class OciPublisher {
    private OciPublisher() {}

    /** 64 MiB chunks: small enough to retry cheaply, large enough that an 8B model needs a few hundred requests. */
    public static final long DEFAULT_CHUNK = 64L << 20;

    public record Options(boolean insecure, long chunkSize, Optional<PublicKey> key, int threads,
                          Optional<RegistryClient.Credentials> credentials) {}

    public record Report(OciReference reference, String manifestDigest, int layers, int uploaded, long uploadedBytes, int skipped,
                         boolean manifestPushed, Map<String, Integer> requests) {}

    public static Report publish(BundleSource source, OciReference target, Options o, Progress progress, Consumer<String> info) {
        Verification.Found found = source.scan(o.threads(), progress);
        Verification.Passed verified = Verification.require(found, o.key());
        BundleManifest bm = verified.manifest();
        if (target.digest().isPresent()) throw new IllegalArgumentException("publish needs a tag, not a digest: " + target);
        OciReference ref = target.tag().isPresent() ? target
                : target.withTag(OciReference.validTag(bm.version()) ? bm.version() : "latest");

        // Layers in bundle order; digests from the verified scan (the bytes on disk now, not just what was listed).
        List<OciArtifact.Layer> layers = new ArrayList<>();
        Map<String, String> digestOf = new LinkedHashMap<>();
        Map<String, Long> sizeOf = new LinkedHashMap<>();
        Map<String, BundleManifest.Entry> listed = new java.util.HashMap<>();
        bm.files().forEach(e -> listed.put(e.path(), e));
        for (String path : BundleSource.bundleOrder(verifiedPaths(bm))) {
            var entry = Optional.ofNullable(listed.get(path));
            Sha256.Facts facts = found.files().get(path);
            String digest = "sha256:" + facts.sha256();
            long size = facts.size();
            String mediaType = entry.map(BundleManifest.Entry::mediaType).orElse(FileFormat.of(path).mediaType());
            layers.add(new OciArtifact.Layer(path, digest, size, mediaType));
            digestOf.put(path, digest);
            sizeOf.put(path, size);
        }

        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(OciArtifact.TITLE, bm.name());
        annotations.put("org.opencontainers.image.version", bm.version());
        bm.license().ifPresent(l -> annotations.put("org.opencontainers.image.licenses", l));
        annotations.put("org.opencontainers.image.description", "LLaVA-family model release bundle (llavapack)");
        annotations.put("org.llavapack.toolkit.version", Toolkit.version());
        annotations.put("org.llavapack.bundle.payload-root-sha256", bm.rootDigest());
        if (verified.signature() instanceof Verification.Signed s) {
            annotations.put("org.llavapack.bundle.signed-root-sha256", s.rootDigest());
            annotations.put("org.llavapack.bundle.key-sha256", s.fingerprint());
        }
        byte[] manifest = OciArtifact.manifest(layers, annotations);
        String manifestDigest = "sha256:" + Sha256.of(manifest);

        try (RegistryClient client = new RegistryClient(ref, o.insecure(), o.credentials())) {
            client.ping();
            String emptyDigest = "sha256:" + Sha256.of(OciArtifact.EMPTY_CONFIG);
            int uploaded = 0, skipped = 0;
            long uploadedBytes = 0;
            if (client.hasBlob(emptyDigest)) {
                skipped++;
            } else {
                client.pushBlob(emptyDigest, 2, new java.io.ByteArrayInputStream(OciArtifact.EMPTY_CONFIG), o.chunkSize());
                uploaded++;
                uploadedBytes += 2;
            }
            Set<String> missing = new HashSet<>();
            Set<String> checked = new HashSet<>();
            for (OciArtifact.Layer l : layers) {
                if (!checked.add(l.digest())) continue;
                if (client.hasBlob(l.digest())) skipped++;
                else missing.add(l.digest());
            }
            if (!missing.isEmpty()) {
                long total = layers.stream().filter(l -> missing.contains(l.digest())).mapToLong(OciArtifact.Layer::size).sum();
                progress.start("uploading", total, missing.size());
                Set<String> sent = new HashSet<>();
                int[] count = {0};
                long[] bytes = {0};
                source.forEach((path, size, in) -> {
                    String d = digestOf.get(path);
                    if (d == null || !missing.contains(d) || !sent.add(d)) return;
                    client.pushBlob(d, size, new ProgressStream(in, progress), o.chunkSize());
                    progress.advance(0, 1);
                    count[0]++;
                    bytes[0] += size;
                    info.accept("uploaded " + path + " (" + d.substring(0, 19) + "…)");
                });
                if (sent.size() != missing.size()) throw new IllegalStateException("some blobs were not found in the bundle while uploading");
                uploaded += count[0];
                uploadedBytes += bytes[0];
            }
            boolean pushed;
            Optional<String> current = client.manifestDigest(ref.tag().orElseThrow());
            if (current.isPresent() && current.get().equals(manifestDigest)) {
                pushed = false; // the tag already names this exact manifest: nothing to send
            } else {
                String stored = client.putManifest(ref.tag().orElseThrow(), manifest, RegistryClient.OCI_MANIFEST);
                if (!stored.isEmpty() && !stored.equals(manifestDigest)) {
                    throw new IllegalStateException("registry stored manifest " + stored + ", expected " + manifestDigest);
                }
                pushed = true;
            }
            return new Report(ref, manifestDigest, layers.size(), uploaded, uploadedBytes, skipped, pushed, client.requestCounts());
        }
    }

    private static List<String> verifiedPaths(BundleManifest bm) {
        List<String> paths = new ArrayList<>();
        bm.files().forEach(e -> paths.add(e.path()));
        paths.add(BundleLayout.MANIFEST);
        paths.add(BundleLayout.SUMS);
        if (bm.signer().isPresent()) paths.add(BundleLayout.SIGNATURE);
        return paths;
    }

    /** Reports upload progress as the HTTP client reads the body. */
    private static final class ProgressStream extends java.io.FilterInputStream {
        private final Progress progress;

        ProgressStream(java.io.InputStream in, Progress progress) {
            super(in);
            this.progress = progress;
        }

        @Override
        public int read(byte[] b, int off, int len) throws java.io.IOException {
            int n = super.read(b, off, len);
            if (n > 0) progress.advance(n, 0);
            return n;
        }
    }
}
