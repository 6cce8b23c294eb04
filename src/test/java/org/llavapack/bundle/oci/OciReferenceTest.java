package org.llavapack.bundle.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.llavapack.CheckFailedException;

class OciReferenceTest {
    @Test
    void parsesHostPortRepositoryTagAndDigest() {
        OciReference r = OciReference.parse("oci://127.0.0.1:5000/llavapack/tiny-pallava:1.2.3");
        assertEquals("127.0.0.1", r.host());
        assertEquals(Optional.of(5000), r.port());
        assertEquals("llavapack/tiny-pallava", r.repository());
        assertEquals(Optional.of("1.2.3"), r.tag());
        assertEquals("http://127.0.0.1:5000", r.base(true).toString());
        assertEquals("https://127.0.0.1:5000", r.base(false).toString());
        OciReference d = OciReference.parse("oci://ghcr.io/org/model@sha256:" + "a".repeat(64));
        assertEquals(Optional.empty(), d.port());
        assertEquals(Optional.of("sha256:" + "a".repeat(64)), d.reference());
        assertEquals(Optional.empty(), OciReference.parse("oci://localhost/m").tag());
        assertEquals("oci://localhost:5000/a/b:t", OciReference.parse("oci://localhost:5000/a/b:t").toString());
    }

    @Test
    void rejectsWhatTheDistributionSpecRejects() {
        for (String bad : List.of("docker://h/r", "oci://h", "oci://h/Upper", "oci://h/r:", "oci://h/r:-x", "oci://h/r@sha256:abc", "oci://h:99999/r",
                "oci://h/a//b", "oci://h/r:" + "t".repeat(129))) {
            assertThrows(IllegalArgumentException.class, () -> OciReference.parse(bad), bad);
        }
    }

    @Test
    void artifactManifestIsDeterministicAndLayersAreSafe() {
        List<OciArtifact.Layer> layers = List.of(new OciArtifact.Layer("config.json", "sha256:" + "a".repeat(64), 10, "application/json"));
        byte[] m1 = OciArtifact.manifest(layers, Map.of("org.opencontainers.image.version", "1"));
        byte[] m2 = OciArtifact.manifest(layers, Map.of("org.opencontainers.image.version", "1"));
        assertEquals(new String(m1, StandardCharsets.UTF_8), new String(m2, StandardCharsets.UTF_8));
        String text = new String(m1, StandardCharsets.UTF_8);
        assertTrue(text.contains("\"artifactType\":\"application/vnd.llavapack.bundle.v1\""), text);
        assertTrue(text.contains("\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2}"), text);
        assertEquals(layers, OciArtifact.layers(m1));
        for (String evil : List.of("../../etc/passwd", "/abs", ".git/config", "a/./b")) {
            byte[] bad = OciArtifact.manifest(List.of(new OciArtifact.Layer(evil, "sha256:" + "a".repeat(64), 1, "x")), Map.of());
            assertThrows(CheckFailedException.class, () -> OciArtifact.layers(bad), evil);
        }
    }
}
