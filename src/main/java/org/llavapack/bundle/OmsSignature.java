package org.llavapack.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.llavapack.json.PythonJson;

/**
 * OpenSSF Model Signing (OMS) v1.0 signatures with the {@code key} method: a Sigstore bundle (v0.3 JSON) wrapping a
 * DSSE envelope whose payload is an in-toto Statement v1 listing every file's SHA-256 ({@code files} serialization).
 * The layout follows ossf/model-signing-spec {@code spec/v1.0.md}; nothing here talks to Sigstore services.
 */
public final class OmsSignature {
    private OmsSignature() {}

    public static final String BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
    public static final String PAYLOAD_TYPE = "application/vnd.in-toto+json";
    public static final String STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
    public static final String PREDICATE_TYPE = "https://model_signing/signature/v1.0";

    /** Trailing bytes after the JSON value are an error, not ignored (Jackson's default is to stop reading early). */
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION.mappedFeature());

    /** A resource descriptor of the predicate: one file, its hex digest and the hash algorithm. */
    public record Resource(String name, String digest) {}

    /** The signed claims, as read back from a signature. */
    public record Statement(String subjectName, String subjectDigest, List<Resource> resources, List<String> ignorePaths) {
        public Map<String, String> digests() {
            Map<String, String> m = new LinkedHashMap<>();
            for (Resource r : resources) m.put(r.name(), r.digest());
            return m;
        }
    }

    /** A parsed signature file: what was signed, by which key (hint), and the signature bytes. */
    public record Parsed(String keyHint, byte[] payload, byte[] signature, Statement statement) {
        public boolean verify(PublicKey key) {
            return Keys.verify(key, pae(PAYLOAD_TYPE, payload), signature);
        }
    }

    /** A signature file that does not follow the format; the message says what is wrong. */
    public static final class FormatError extends Exception {
        public FormatError(String message) {
            super(message);
        }
    }

    /**
     * OMS §6.5.1: SHA-256 over the concatenated raw digests of the resources in name order. Identifies the whole
     * bundle in one value (the OCI manifest and the model card quote it).
     */
    public static String rootDigest(List<Resource> sorted) {
        var md = Sha256.newDigest();
        for (Resource r : sorted) md.update(HexFormat.of().parseHex(r.digest()));
        return Sha256.hex(md.digest());
    }

    /** DSSE pre-authentication encoding: "DSSEv1 LEN(type) type LEN(body) body", lengths in ASCII decimal. */
    public static byte[] pae(String payloadType, byte[] payload) {
        byte[] type = payloadType.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream(payload.length + type.length + 32);
        out.writeBytes(("DSSEv1 " + type.length + " ").getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(type);
        out.writeBytes((" " + payload.length + " ").getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(payload);
        return out.toByteArray();
    }

    /** The in-toto statement for {@code resources} (any order; sorted here as OMS requires). */
    public static byte[] statement(String subjectName, List<Resource> resources) {
        List<Resource> sorted = new ArrayList<>(resources);
        sorted.sort((a, b) -> BundleLayout.CODE_POINT_ORDER.compare(a.name(), b.name()));
        if (sorted.isEmpty()) throw new IllegalArgumentException("OMS requires at least one resource");
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("_type", STATEMENT_TYPE);
        ObjectNode subject = root.putArray("subject").addObject();
        subject.put("name", subjectName);
        subject.putObject("digest").put("sha256", rootDigest(sorted));
        root.put("predicateType", PREDICATE_TYPE);
        ObjectNode predicate = root.putObject("predicate");
        ArrayNode res = predicate.putArray("resources");
        for (Resource r : sorted) res.addObject().put("name", r.name()).put("digest", r.digest()).put("algorithm", "sha256");
        ObjectNode ser = predicate.putObject("serialization");
        ser.put("method", "files");
        ser.put("hash_type", "sha256");
        ser.put("allow_symlinks", false);
        ArrayNode ignore = ser.putArray("ignore_paths");
        BundleLayout.IGNORED_TOP_LEVEL.forEach(ignore::add);
        // The signature file excludes itself from its own scope (OMS §6.2); say so where verifiers look.
        ignore.add(BundleLayout.SIGNATURE);
        return (PythonJson.dumps(root, 2, false) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Signs a statement; returns the Sigstore bundle JSON (the {@code model.sig} file's bytes). */
    public static byte[] sign(byte[] statement, Keys.SigningKey key) {
        return render(key.fingerprint(), statement, key.sign(pae(PAYLOAD_TYPE, statement)));
    }

    /** The one layout llavapack writes (field order, 4-space indent, trailing newline): parse() insists on it. */
    static byte[] render(String hint, byte[] statement, byte[] sig) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("mediaType", BUNDLE_MEDIA_TYPE);
        ObjectNode material = root.putObject("verificationMaterial");
        material.putObject("publicKey").put("hint", hint);
        material.putArray("tlogEntries");
        ObjectNode env = root.putObject("dsseEnvelope");
        env.put("payload", Base64.getEncoder().encodeToString(statement));
        env.put("payloadType", PAYLOAD_TYPE);
        env.putArray("signatures").addObject().put("sig", Base64.getEncoder().encodeToString(sig)).put("keyid", "");
        return (PythonJson.dumps(root, 4, false) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Parses and checks the structure of a signature file (not the signature itself: see {@link Parsed#verify}). */
    public static Parsed parse(byte[] bundleJson) throws FormatError {
        JsonNode root;
        try {
            root = STRICT.readTree(bundleJson);
        } catch (java.io.IOException e) {
            throw new FormatError("not valid JSON");
        }
        if (root == null || !root.isObject()) throw new FormatError("not a JSON object");
        if (!BUNDLE_MEDIA_TYPE.equals(root.path("mediaType").asText(null))) {
            throw new FormatError("mediaType is not " + BUNDLE_MEDIA_TYPE);
        }
        JsonNode pk = root.path("verificationMaterial").path("publicKey");
        if (!pk.isObject()) throw new FormatError("no verificationMaterial.publicKey (only the OMS 'key' method is supported)");
        String hint = pk.path("hint").asText("");
        JsonNode env = root.path("dsseEnvelope");
        if (!env.isObject()) throw new FormatError("no dsseEnvelope");
        if (!PAYLOAD_TYPE.equals(env.path("payloadType").asText(null))) throw new FormatError("payloadType is not " + PAYLOAD_TYPE);
        JsonNode sigs = env.path("signatures");
        if (!sigs.isArray() || sigs.size() != 1) throw new FormatError("expected exactly one DSSE signature");
        byte[] payload = strictBase64(env.path("payload").asText(null), "payload");
        byte[] sig = strictBase64(sigs.get(0).path("sig").asText(null), "signature");
        Statement statement = parseStatement(payload);
        // model.sig is the one file no digest covers (it cannot list itself), so its exact bytes are pinned instead:
        // a changed space or newline that leaves the JSON meaning intact still counts as a modified file.
        if (!java.util.Arrays.equals(bundleJson, render(hint, payload, sig))) {
            throw new FormatError("not byte-for-byte in the layout llavapack writes (modified after signing?)");
        }
        return new Parsed(hint, payload, sig, statement);
    }

    /**
     * Base64 that maps one-to-one onto bytes: Java's decoder ignores non-zero padding bits, so a flipped last
     * character could decode to the same bytes and a changed file would still "verify".
     */
    private static byte[] strictBase64(String text, String what) throws FormatError {
        if (text == null || text.isEmpty()) throw new FormatError("missing " + what);
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw new FormatError(what + " is not base64");
        }
        if (!Base64.getEncoder().encodeToString(bytes).equals(text)) throw new FormatError(what + " is not canonical base64");
        return bytes;
    }

    static Statement parseStatement(byte[] payload) throws FormatError {
        JsonNode st;
        try {
            st = STRICT.readTree(payload);
        } catch (java.io.IOException e) {
            throw new FormatError("signed payload is not valid JSON");
        }
        if (st == null || !st.isObject()) throw new FormatError("signed payload is not a JSON object");
        if (!STATEMENT_TYPE.equals(st.path("_type").asText(null))) throw new FormatError("statement _type is not " + STATEMENT_TYPE);
        if (!PREDICATE_TYPE.equals(st.path("predicateType").asText(null))) throw new FormatError("predicateType is not " + PREDICATE_TYPE);
        JsonNode subject = st.path("subject");
        if (!subject.isArray() || subject.size() != 1) throw new FormatError("statement must have exactly one subject");
        String subjectName = subject.get(0).path("name").asText("");
        String subjectDigest = subject.get(0).path("digest").path("sha256").asText("");
        if (subjectName.isEmpty() || !Sha256.isHex(subjectDigest)) throw new FormatError("malformed subject");
        JsonNode pred = st.path("predicate");
        JsonNode ser = pred.path("serialization");
        if (!"files".equals(ser.path("method").asText(null))) {
            throw new FormatError("serialization method '" + ser.path("method").asText("") + "' is not supported (files only)");
        }
        if (!"sha256".equals(ser.path("hash_type").asText(null))) throw new FormatError("hash_type must be sha256");
        if (ser.path("allow_symlinks").asBoolean(false)) throw new FormatError("allow_symlinks=true is not supported");
        List<String> ignore = new ArrayList<>();
        for (JsonNode n : ser.path("ignore_paths")) ignore.add(n.asText());
        JsonNode res = pred.path("resources");
        if (!res.isArray() || res.isEmpty()) throw new FormatError("predicate has no resources");
        List<Resource> resources = new ArrayList<>();
        String previous = null;
        for (JsonNode r : res) {
            String name = r.path("name").asText("");
            String digest = r.path("digest").asText("");
            if (!BundleLayout.isCanonical(name)) throw new FormatError("resource name '" + name + "' is not a canonical path");
            if (!"sha256".equals(r.path("algorithm").asText(null)) || !Sha256.isHex(digest)) {
                throw new FormatError("resource '" + name + "' has no sha256 digest");
            }
            if (previous != null && BundleLayout.CODE_POINT_ORDER.compare(previous, name) >= 0) {
                throw new FormatError("resources are not sorted by name (at '" + name + "')");
            }
            previous = name;
            resources.add(new Resource(name, digest));
        }
        if (!rootDigest(resources).equals(subjectDigest)) throw new FormatError("subject digest does not match the resources");
        return new Statement(subjectName, subjectDigest, List.copyOf(resources), List.copyOf(ignore));
    }
}
