package org.llavapack.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.llavapack.json.PythonJson;

/**
 * {@code llavapack-manifest.json}: what a bundle holds and where it came from.
 *
 * <p>It carries a digest of itself ({@code manifest_sha256}, computed with that value replaced by 64 zeros). That
 * is no protection against an attacker (the signature is), but it lets verify tell a damaged manifest from a damaged
 * file: without it, a flipped digit in a listed digest would be blamed on the file it describes.
 */
public record BundleManifest(String name, String version, Optional<String> license, String toolkitVersion,
                             List<Input> inputs, List<Entry> files, Optional<Signer> signer, String rootDigest, JsonNode provenance) {

    public static final String SCHEMA = "llavapack-bundle/1";
    private static final String SELF = "manifest_sha256";
    private static final String ZEROS = "0".repeat(64);

    /** One payload file. */
    public record Entry(String path, long size, String sha256, String mediaType, String format) {}

    public record Input(String label, String prefix, int files, long bytes) {}

    /** The key that signed the bundle: its public half is recorded so verify can check the signature file's integrity. */
    public record Signer(String algorithm, String publicKeyPem, String keySha256) {}

    public long totalSize() {
        return files.stream().mapToLong(Entry::size).sum();
    }

    public Optional<Entry> entry(String path) {
        return files.stream().filter(e -> e.path().equals(path)).findFirst();
    }

    /** The manifest's bytes, self digest included. */
    public byte[] toBytes() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("schema", SCHEMA);
        root.put("name", name);
        root.put("version", version);
        license.ifPresent(l -> root.put("license", l));
        root.putObject("toolkit").put("name", "llavapack").put("version", toolkitVersion);
        ArrayNode ins = root.putArray("inputs");
        for (Input in : inputs) ins.addObject().put("label", in.label()).put("prefix", in.prefix()).put("files", in.files()).put("bytes", in.bytes());
        root.put("file_count", files.size());
        root.put("total_size", totalSize());
        // The OMS root digest of the signed scope is unknown here (the manifest is part of it); this one covers the payload.
        root.put("payload_root_sha256", rootDigest);
        ArrayNode fs = root.putArray("files");
        for (Entry e : files) {
            fs.addObject().put("path", e.path()).put("size", e.size()).put("sha256", e.sha256())
                    .put("media_type", e.mediaType()).put("format", e.format());
        }
        if (provenance != null && !provenance.isEmpty()) root.set("provenance", provenance);
        signer.ifPresent(s -> root.putObject("signature").put("file", BundleLayout.SIGNATURE).put("format", "OpenSSF model signing v1.0 (key)")
                .put("algorithm", s.algorithm()).put("public_key", s.publicKeyPem()).put("key_sha256", s.keySha256()));
        root.put(SELF, ZEROS);
        String text = PythonJson.dumps(root, 2, false) + "\n";
        String self = Sha256.of(text.getBytes(StandardCharsets.UTF_8));
        return text.replace("\"" + SELF + "\": \"" + ZEROS + "\"", "\"" + SELF + "\": \"" + self + "\"").getBytes(StandardCharsets.UTF_8);
    }

    /** The payload root digest: OMS's root-digest algorithm over the payload files in name order. */
    public static String payloadRoot(List<Entry> sorted) {
        return OmsSignature.rootDigest(sorted.stream().map(e -> new OmsSignature.Resource(e.path(), e.sha256())).toList());
    }

    /** Why {@code bytes} is not an intact manifest, or the parsed manifest. */
    public sealed interface Parse permits Ok, Damaged {}

    public record Ok(BundleManifest manifest) implements Parse {}

    public record Damaged(String reason) implements Parse {}

    public static Parse parse(byte[] bytes) {
        String text = new String(bytes, StandardCharsets.UTF_8);
        JsonNode root;
        try {
            root = new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION).readTree(bytes);
        } catch (java.io.IOException e) {
            return new Damaged("not valid JSON");
        }
        if (root == null || !root.isObject()) return new Damaged("not a JSON object");
        if (!SCHEMA.equals(root.path("schema").asText(null))) return new Damaged("schema is not " + SCHEMA);
        String self = root.path(SELF).asText("");
        String field = "\"" + SELF + "\": \"" + self + "\"";
        int at = text.indexOf(field);
        if (!Sha256.isHex(self) || at < 0 || text.indexOf(field, at + 1) >= 0) return new Damaged(SELF + " is missing or malformed");
        String zeroed = text.substring(0, at) + "\"" + SELF + "\": \"" + ZEROS + "\"" + text.substring(at + field.length());
        if (!Sha256.of(zeroed.getBytes(StandardCharsets.UTF_8)).equals(self)) {
            return new Damaged("modified after it was written (its " + SELF + " does not match its content)");
        }
        List<Entry> files = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (JsonNode n : root.path("files")) {
            String path = n.path("path").asText("");
            String sha = n.path("sha256").asText("");
            if (!BundleLayout.isCanonical(path) || !Sha256.isHex(sha) || !n.path("size").canConvertToLong() || n.path("size").asLong() < 0) {
                return new Damaged("malformed file entry '" + path + "'");
            }
            if (!seen.add(path)) return new Damaged("lists '" + path + "' twice");
            if (BundleLayout.isControl(path) || BundleLayout.isIgnored(path)) return new Damaged("lists reserved name '" + path + "'");
            files.add(new Entry(path, n.path("size").asLong(), sha, n.path("media_type").asText(FileFormat.of(path).mediaType()),
                    n.path("format").asText("")));
        }
        if (files.isEmpty()) return new Damaged("lists no files");
        Optional<Signer> signer = Optional.empty();
        JsonNode sig = root.path("signature");
        if (sig.isObject()) {
            signer = Optional.of(new Signer(sig.path("algorithm").asText(""), sig.path("public_key").asText(""), sig.path("key_sha256").asText("")));
        }
        List<Input> inputs = new ArrayList<>();
        for (JsonNode n : root.path("inputs")) {
            inputs.add(new Input(n.path("label").asText(""), n.path("prefix").asText(""), n.path("files").asInt(), n.path("bytes").asLong()));
        }
        Optional<String> license = root.path("license").isTextual() ? Optional.of(root.path("license").asText()) : Optional.empty();
        return new Ok(new BundleManifest(root.path("name").asText(""), root.path("version").asText(""), license,
                root.path("toolkit").path("version").asText(""), List.copyOf(inputs), List.copyOf(files), signer,
                root.path("payload_root_sha256").asText(""), root.path("provenance")));
    }
}
