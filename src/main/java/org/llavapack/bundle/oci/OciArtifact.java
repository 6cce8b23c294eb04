package org.llavapack.bundle.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.llavapack.CheckFailedException;
import org.llavapack.bundle.BundleLayout;
import org.llavapack.bundle.Sha256;

/**
 * The OCI image manifest of a published bundle (OCI image spec 1.1 "artifact" guidance): {@code artifactType} names
 * a llavapack bundle, the config is the empty descriptor, and each bundle file is one layer whose digest is the
 * file's SHA-256, whose media type says what it is, and whose {@code org.opencontainers.image.title} is its path
 * (the convention ORAS uses to name pulled files).
 */
public final class OciArtifact {
    private OciArtifact() {}

    public static final String ARTIFACT_TYPE = "application/vnd.llavapack.bundle.v1";
    public static final String EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
    public static final byte[] EMPTY_CONFIG = {'{', '}'};
    public static final String TITLE = "org.opencontainers.image.title";

    public record Layer(String path, String digest, long size, String mediaType) {}

    /** The manifest bytes: compact JSON with a fixed field order, so the same bundle always has the same digest. */
    public static byte[] manifest(List<Layer> layers, Map<String, String> annotations) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("schemaVersion", 2);
        root.put("mediaType", RegistryClient.OCI_MANIFEST);
        root.put("artifactType", ARTIFACT_TYPE);
        root.putObject("config").put("mediaType", EMPTY_MEDIA_TYPE).put("digest", "sha256:" + Sha256.of(EMPTY_CONFIG)).put("size", EMPTY_CONFIG.length);
        ArrayNode arr = root.putArray("layers");
        for (Layer l : layers) {
            ObjectNode n = arr.addObject();
            n.put("mediaType", l.mediaType()).put("digest", l.digest()).put("size", l.size());
            n.putObject("annotations").put(TITLE, l.path());
        }
        ObjectNode ann = root.putObject("annotations");
        annotations.forEach(ann::put);
        try {
            return new ObjectMapper().writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parsed layers of a pulled manifest, checked so no title can escape the output folder. */
    public static List<Layer> layers(byte[] manifest) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(manifest);
        } catch (IOException e) {
            throw new CheckFailedException("manifest: not valid JSON");
        }
        if (root == null || root.path("schemaVersion").asInt() != 2) throw new CheckFailedException("manifest: not an OCI image manifest (schemaVersion 2)");
        String mt = root.path("mediaType").asText(RegistryClient.OCI_MANIFEST);
        if (!mt.equals(RegistryClient.OCI_MANIFEST)) throw new CheckFailedException("manifest: media type " + mt + " is not an OCI image manifest");
        List<Layer> out = new ArrayList<>();
        Set<String> titles = new HashSet<>();
        for (JsonNode l : root.path("layers")) {
            String title = l.path("annotations").path(TITLE).asText("");
            String digest = l.path("digest").asText("");
            long size = l.path("size").asLong(-1);
            if (title.isEmpty()) throw new CheckFailedException("manifest: layer " + digest + " has no " + TITLE + " (not a llavapack bundle?)");
            var problem = BundleLayout.problem(title);
            if (problem.isPresent() || BundleLayout.isIgnored(title)) {
                throw new CheckFailedException("manifest: layer title '" + title + "' is not a safe relative path" + problem.map(p -> " (" + p + ")").orElse(""));
            }
            if (!digest.startsWith("sha256:") || !Sha256.isHex(digest.substring(7))) throw new CheckFailedException(title + ": layer digest '" + digest + "' is not sha256");
            if (size < 0) throw new CheckFailedException(title + ": layer has no size");
            if (!titles.add(title)) throw new CheckFailedException(title + ": two layers with the same title");
            out.add(new Layer(title, digest, size, l.path("mediaType").asText("")));
        }
        if (out.isEmpty()) throw new CheckFailedException("manifest: no layers");
        return out;
    }
}
