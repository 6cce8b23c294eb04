package org.llavapack.bundle;

import java.security.PublicKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.llavapack.BadInputException;
import org.llavapack.CheckFailedException;

/**
 * Decides whether the files found in a bundle are the files it describes, and if not, which file is to blame.
 *
 * <p>The references form a chain: the signature (when a key checks it) covers every file; the manifest checks
 * itself and lists the payload; SHA256SUMS repeats payload and manifest digests. A file is blamed only by a
 * reference already shown intact, so one flipped byte anywhere — payload, manifest, SHA256SUMS or model.sig —
 * is reported under that file's own name. Names are examined in code-point order and the first bad one is reported.
 *
 * <p>Pure logic over digests already computed: folders, archives, downloads and Hub layouts all feed it the same way.
 */
public final class Verification {
    private Verification() {}

    /** What a reader found: every file's size and digest (ignored paths excluded) and the control files' bytes. */
    public record Found(Map<String, Sha256.Facts> files, Map<String, byte[]> control) {}

    public sealed interface Outcome permits Passed, Failed {}

    public sealed interface SignatureCheck permits Unsigned, Signed {}

    public record Unsigned() implements SignatureCheck {}

    /**
     * A signature that verified. With {@code keyGiven} it proves who signed; without, it was checked against the key
     * the manifest records, which proves the files are as signed but not by whom.
     */
    public record Signed(String algorithm, String fingerprint, boolean keyGiven, String rootDigest) implements SignatureCheck {}

    public record Passed(BundleManifest manifest, int files, long bytes, SignatureCheck signature) implements Outcome {}

    public record Failed(String file, String reason) implements Outcome {
        public String message() {
            return file + ": " + reason;
        }
    }

    /** Like {@link #check} but throws {@link CheckFailedException} (exit code 1) naming the bad file. */
    public static Passed require(Found found, Optional<PublicKey> key) {
        return switch (check(found, key)) {
            case Passed p -> p;
            case Failed f -> throw new CheckFailedException(f.message());
        };
    }

    public static Outcome check(Found found, Optional<PublicKey> key) {
        Map<String, Sha256.Facts> files = found.files();
        byte[] manifestBytes = found.control().get(BundleLayout.MANIFEST);
        if (manifestBytes == null) return new Failed(BundleLayout.MANIFEST, "missing (not a llavapack bundle)");
        BundleManifest manifest;
        switch (BundleManifest.parse(manifestBytes)) {
            case BundleManifest.Damaged d -> { return new Failed(BundleLayout.MANIFEST, d.reason()); }
            case BundleManifest.Ok ok -> manifest = ok.manifest();
        }

        // ---- the signature, checked first: when it holds, it is the strongest reference for every other file
        byte[] sigBytes = found.control().get(BundleLayout.SIGNATURE);
        Optional<OmsSignature.Statement> statement = Optional.empty();
        SignatureCheck signature = new Unsigned();
        if (manifest.signer().isEmpty()) {
            if (sigBytes != null) return new Failed(BundleLayout.SIGNATURE, "not expected: the manifest records no signature");
            if (key.isPresent()) return new Failed(BundleLayout.SIGNATURE, "missing: the bundle is not signed, so it cannot be checked against --key");
        } else {
            if (sigBytes == null) return new Failed(BundleLayout.SIGNATURE, "missing (the manifest says the bundle is signed)");
            OmsSignature.Parsed parsed;
            try {
                parsed = OmsSignature.parse(sigBytes);
            } catch (OmsSignature.FormatError e) {
                return new Failed(BundleLayout.SIGNATURE, e.getMessage());
            }
            BundleManifest.Signer recorded = manifest.signer().get();
            PublicKey verifyingKey;
            if (key.isPresent()) {
                verifyingKey = key.get();
                String given = Keys.fingerprint(verifyingKey);
                if (!parsed.keyHint().equals(given)) {
                    return new Failed(BundleLayout.SIGNATURE, "signed by another key (key SHA-256 " + abbreviate(parsed.keyHint())
                            + "), not by the --key given (" + abbreviate(given) + ")");
                }
            } else {
                try {
                    verifyingKey = Keys.parsePublicPem(recorded.publicKeyPem());
                } catch (BadInputException e) {
                    return new Failed(BundleLayout.MANIFEST, "records an unreadable signer key");
                }
                if (!Keys.fingerprint(verifyingKey).equals(parsed.keyHint())) {
                    return new Failed(BundleLayout.SIGNATURE, "key hint " + abbreviate(parsed.keyHint()) + " is not the signer the manifest records");
                }
            }
            if (!parsed.verify(verifyingKey)) {
                return new Failed(BundleLayout.SIGNATURE, "signature does not verify" + (key.isPresent() ? " with the --key given" : ""));
            }
            statement = Optional.of(parsed.statement());
            signature = new Signed(Keys.Algorithm.of(verifyingKey).id(), Keys.fingerprint(verifyingKey), key.isPresent(), parsed.statement().subjectDigest());
        }

        Optional<Map<String, String>> sums = Optional.empty();
        byte[] sumsBytes = found.control().get(BundleLayout.SUMS);
        if (sumsBytes != null) {
            sums = Sha256Sums.parse(sumsBytes);
            if (sums.isEmpty()) return new Failed(BundleLayout.SUMS, "not in 'sha256sum' format");
        }

        // ---- every name found or expected, in code-point order
        TreeSet<String> names = new TreeSet<>(BundleLayout.CODE_POINT_ORDER);
        names.addAll(files.keySet());
        manifest.files().forEach(e -> names.add(e.path()));
        names.add(BundleLayout.MANIFEST);
        names.add(BundleLayout.SUMS);
        if (manifest.signer().isPresent()) names.add(BundleLayout.SIGNATURE);
        statement.ifPresent(s -> s.resources().forEach(r -> names.add(r.name())));
        sums.ifPresent(m -> names.addAll(m.keySet()));

        Map<String, String> signed = statement.map(OmsSignature.Statement::digests).orElse(Map.of());
        Map<String, BundleManifest.Entry> listedByPath = new java.util.HashMap<>();
        manifest.files().forEach(e -> listedByPath.put(e.path(), e));
        // The references themselves first: a manifest or SHA256SUMS rewritten to match changed files (self digest
        // recomputed) differs from what was signed, and must be blamed before it is used to blame others.
        for (String ref : List.of(BundleLayout.MANIFEST, BundleLayout.SUMS)) {
            Sha256.Facts actual = files.get(ref);
            if (statement.isPresent() && actual != null && signed.containsKey(ref) && !signed.get(ref).equals(actual.sha256())) {
                return new Failed(ref, "SHA-256 " + abbreviate(actual.sha256()) + " differs from the signed " + abbreviate(signed.get(ref)));
            }
        }
        for (String name : names) {
            Sha256.Facts actual = files.get(name);
            Optional<BundleManifest.Entry> listed = Optional.ofNullable(listedByPath.get(name));
            boolean control = BundleLayout.isControl(name);
            if (actual == null) {
                if (listed.isPresent() || control) return new Failed(name, "missing");
                if (signed.containsKey(name)) return new Failed(BundleLayout.SIGNATURE, "signs '" + name + "', which is neither in the bundle nor in its manifest");
                return new Failed(BundleLayout.SUMS, "lists '" + name + "', which is neither in the bundle nor in its manifest");
            }
            if (listed.isEmpty() && !control) return new Failed(name, "not listed in the manifest (an extra file)");
            if (name.equals(BundleLayout.SIGNATURE)) continue; // outside its own scope; verified above

            // 1. the signed statement, once the signature verified, outranks everything
            if (statement.isPresent()) {
                String s = signed.get(name);
                if (s == null) return new Failed(BundleLayout.SIGNATURE, "does not sign '" + name + "'");
                if (!s.equals(actual.sha256())) {
                    return new Failed(name, "SHA-256 " + abbreviate(actual.sha256()) + " differs from the signed " + abbreviate(s));
                }
            }
            // 2. the manifest, intact by its self digest
            if (listed.isPresent()) {
                BundleManifest.Entry e = listed.get();
                if (e.size() != actual.size()) return new Failed(name, "size " + actual.size() + " differs from the listed " + e.size());
                if (!e.sha256().equals(actual.sha256())) {
                    return new Failed(name, "SHA-256 " + abbreviate(actual.sha256()) + " differs from the listed " + abbreviate(e.sha256()));
                }
            }
            // 3. SHA256SUMS, blamed when it disagrees with a file the references above vouched for
            if (!name.equals(BundleLayout.SUMS) && sums.isPresent()) {
                String s = sums.get().get(name);
                if (s == null) return new Failed(BundleLayout.SUMS, "has no line for '" + name + "'");
                if (!s.equals(actual.sha256())) return new Failed(BundleLayout.SUMS, "line for '" + name + "' does not match that file");
            }
        }
        long bytes = files.values().stream().mapToLong(Sha256.Facts::size).sum();
        return new Passed(manifest, files.size(), bytes, signature);
    }

    private static String abbreviate(String hex) {
        return hex.length() > 16 ? hex.substring(0, 16) + "…" : hex;
    }

    /** A one-line human summary of a passed check. */
    public static List<String> describe(Passed p) {
        List<String> lines = new ArrayList<>();
        lines.add("OK: " + p.files() + " files, " + org.llavapack.formats.safetensors.ByteSize.format(p.bytes()) + " verified ("
                + p.manifest().name() + " " + p.manifest().version() + ")");
        switch (p.signature()) {
            case Unsigned u -> lines.add("signature: none (unsigned bundle)");
            case Signed s -> lines.add("signature: valid, " + s.algorithm() + " key SHA-256 " + s.fingerprint()
                    + (s.keyGiven() ? " (the --key given)" : " (the key recorded in the manifest: pass --key to check who signed)"));
        }
        return lines;
    }
}
