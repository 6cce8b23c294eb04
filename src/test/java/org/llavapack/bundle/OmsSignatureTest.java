package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The OMS v1.0 layout (ossf/model-signing-spec spec/v1.0.md), field by field. */
class OmsSignatureTest {
    private static final Keys.SigningKey KEY = Keys.generateEd25519();
    private static final String A = "a".repeat(64), B = "b".repeat(64), C = "c".repeat(64);

    /** The DSSE protocol's own example. */
    @Test
    void paeMatchesTheDsseSpecExample() {
        byte[] pae = OmsSignature.pae("http://example.com/HelloWorld", "hello world".getBytes(StandardCharsets.UTF_8));
        assertEquals("DSSEv1 29 http://example.com/HelloWorld 11 hello world", new String(pae, StandardCharsets.UTF_8));
    }

    @Test
    void statementFollowsTheSpec() throws Exception {
        byte[] st = OmsSignature.statement("my-model", List.of(new OmsSignature.Resource("weights.bin", B),
                new OmsSignature.Resource("config.json", A), new OmsSignature.Resource("Zeta", C)));
        JsonNode n = new ObjectMapper().readTree(st);
        assertEquals("https://in-toto.io/Statement/v1", n.get("_type").asText());
        assertEquals("https://model_signing/signature/v1.0", n.get("predicateType").asText());
        assertEquals(1, n.get("subject").size());
        assertEquals("my-model", n.get("subject").get(0).get("name").asText());
        // resources sorted by code point ("Z" < "c" < "w"), each with name, hex digest and algorithm
        JsonNode res = n.get("predicate").get("resources");
        assertEquals(List.of("Zeta", "config.json", "weights.bin"), List.of(res.get(0).get("name").asText(), res.get(1).get("name").asText(), res.get(2).get("name").asText()));
        for (JsonNode r : res) assertEquals("sha256", r.get("algorithm").asText());
        // subject digest = SHA-256 over the concatenated raw resource digests, in that order
        var md = Sha256.newDigest();
        for (String h : List.of(C, A, B)) md.update(HexFormat.of().parseHex(h));
        assertEquals(Sha256.hex(md.digest()), n.get("subject").get(0).get("digest").get("sha256").asText());
        JsonNode ser = n.get("predicate").get("serialization");
        assertEquals("files", ser.get("method").asText());
        assertEquals("sha256", ser.get("hash_type").asText());
        assertEquals(false, ser.get("allow_symlinks").asBoolean());
        assertTrue(ser.has("ignore_paths") && !ser.has("shard_size"));
    }

    @Test
    void bundleFollowsTheSigstoreLayoutAndVerifies() throws Exception {
        byte[] st = OmsSignature.statement("m", List.of(new OmsSignature.Resource("f", A)));
        byte[] sig = OmsSignature.sign(st, KEY);
        JsonNode n = new ObjectMapper().readTree(sig);
        assertEquals("application/vnd.dev.sigstore.bundle.v0.3+json", n.get("mediaType").asText());
        assertEquals(KEY.fingerprint(), n.get("verificationMaterial").get("publicKey").get("hint").asText());
        JsonNode env = n.get("dsseEnvelope");
        assertEquals("application/vnd.in-toto+json", env.get("payloadType").asText());
        assertEquals(1, env.get("signatures").size());
        assertEquals(new String(st, StandardCharsets.UTF_8), new String(Base64.getDecoder().decode(env.get("payload").asText()), StandardCharsets.UTF_8));
        OmsSignature.Parsed p = OmsSignature.parse(sig);
        assertTrue(p.verify(KEY.publicKey()));
        assertEquals(A, p.statement().digests().get("f"));
        // Ed25519 is deterministic: signing again gives the same file (reproducible signed bundles)
        assertEquals(new String(sig, StandardCharsets.UTF_8), new String(OmsSignature.sign(st, KEY), StandardCharsets.UTF_8));
    }

    private static byte[] mutate(byte[] sig, java.util.function.Consumer<ObjectNode> change) throws Exception {
        ObjectNode n = (ObjectNode) new ObjectMapper().readTree(sig);
        change.accept(n);
        return new ObjectMapper().writeValueAsBytes(n);
    }

    @Test
    void malformedSignatureFilesAreRejected() throws Exception {
        byte[] st = OmsSignature.statement("m", List.of(new OmsSignature.Resource("f", A)));
        byte[] sig = OmsSignature.sign(st, KEY);
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse("{}".getBytes(StandardCharsets.UTF_8)));
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse(mutate(sig, n -> n.put("mediaType", "application/json"))));
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse(mutate(sig, n -> n.remove("dsseEnvelope"))));
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse(mutate(sig, n -> n.remove("verificationMaterial"))));
        // a re-serialised (but equivalent) file is not the file that was signed and written
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse(mutate(sig, n -> {})));
        byte[] trailing = (new String(sig, StandardCharsets.UTF_8) + " ").getBytes(StandardCharsets.UTF_8);
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parse(trailing));
        // wrong predicate type, unsorted resources, subject not matching the resources
        String bad = new String(st, StandardCharsets.UTF_8).replace("signature/v1.0", "Digests/v0.1");
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parseStatement(bad.getBytes(StandardCharsets.UTF_8)));
        ObjectNode two = (ObjectNode) new ObjectMapper().readTree(OmsSignature.statement("m",
                List.of(new OmsSignature.Resource("a", A), new OmsSignature.Resource("b", B))));
        var res = (com.fasterxml.jackson.databind.node.ArrayNode) two.get("predicate").get("resources");
        JsonNode first = res.remove(0);
        res.add(first);
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parseStatement(new ObjectMapper().writeValueAsBytes(two)));
        ObjectNode subj = (ObjectNode) new ObjectMapper().readTree(st);
        ((ObjectNode) subj.get("subject").get(0).get("digest")).put("sha256", C);
        assertThrows(OmsSignature.FormatError.class, () -> OmsSignature.parseStatement(new ObjectMapper().writeValueAsBytes(subj)));
    }
}
