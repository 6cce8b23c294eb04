package org.llavapack.bundle;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * {@code SHA256SUMS} in GNU coreutils' text-mode layout ({@code <hex>  <path>}), so {@code sha256sum -c SHA256SUMS}
 * checks a bundle without llavapack. Bundle paths never contain newlines or backslashes, so no escaping is needed.
 */
public final class Sha256Sums {
    private Sha256Sums() {}

    public static byte[] write(Map<String, String> digestByPath) {
        StringBuilder sb = new StringBuilder();
        digestByPath.forEach((path, sha) -> sb.append(sha).append("  ").append(path).append('\n'));
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The digests by path, or empty when the text is not in this exact layout. */
    public static Optional<Map<String, String>> parse(byte[] bytes) {
        String text = new String(bytes, StandardCharsets.UTF_8);
        if (!text.endsWith("\n")) return Optional.empty();
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : text.substring(0, text.length() - 1).split("\n", -1)) {
            if (line.length() < 67 || !line.startsWith("  ", 64)) return Optional.empty();
            String sha = line.substring(0, 64);
            String path = line.substring(66);
            if (!Sha256.isHex(sha) || !BundleLayout.isCanonical(path) || out.put(path, sha) != null) return Optional.empty();
        }
        return Optional.of(out);
    }
}
