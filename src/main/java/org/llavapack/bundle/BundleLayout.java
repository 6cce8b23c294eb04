package org.llavapack.bundle;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Names and path rules every bundle follows, wherever it lives (folder, tar archive, OCI layers, Hub repo).
 *
 * <p>A bundle is a set of regular files addressed by canonical relative paths: the payload (the input files plus the
 * generated model card) and three control files that describe it. Paths follow the OpenSSF model-signing v1.0
 * canonical form ({@code /}-separated, relative, no {@code .}/{@code ..} segments, no trailing slash) so the same
 * string names a file in the manifest, the signature, a tar entry, an OCI layer title and a Hub repo.
 */
public final class BundleLayout {
    private BundleLayout() {}

    /** The bundle manifest: every payload file with size, SHA-256 and media type, plus provenance. */
    public static final String MANIFEST = "llavapack-manifest.json";
    /** coreutils {@code sha256sum -c} format over the payload and the manifest (Hub LFS oids are SHA-256 too). */
    public static final String SUMS = "SHA256SUMS";
    /** OpenSSF model-signing v1.0 bundle (the name its reference CLI uses by default). */
    public static final String SIGNATURE = "model.sig";
    /** The generated Hugging Face model card. */
    public static final String CARD = "README.md";

    /**
     * Control files in the order they open an archive: a streaming reader meets the manifest (and the signature)
     * before any payload, so publishing from an archive knows every digest up front.
     */
    public static final List<String> CONTROL = List.of(MANIFEST, SUMS, SIGNATURE);

    /** Root names the bundler generates; input files with these names at the root are not copied. */
    public static final Set<String> GENERATED = Set.of(MANIFEST, SUMS, SIGNATURE, CARD);

    /**
     * Top-level names ignored when a bundle is read back: OMS's default exclusions (a bundle checked into git or
     * cloned from the Hub carries them) and {@code .cache}, where huggingface_hub keeps upload/download state inside
     * the folder. They are recorded as {@code ignore_paths} in the signed statement.
     */
    public static final List<String> IGNORED_TOP_LEVEL = List.of(".cache", ".git", ".gitattributes", ".github", ".gitignore");

    public static boolean isIgnored(String canonicalPath) {
        int slash = canonicalPath.indexOf('/');
        String top = slash < 0 ? canonicalPath : canonicalPath.substring(0, slash);
        return IGNORED_TOP_LEVEL.contains(top);
    }

    /** Unicode code point order, which OMS requires for resources; String.compareTo orders UTF-16 units instead. */
    public static final Comparator<String> CODE_POINT_ORDER = (a, b) -> {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i), cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    /** Why {@code path} is not a canonical bundle path, or empty when it is. */
    public static Optional<String> problem(String path) {
        if (path.isEmpty()) return Optional.of("empty path");
        if (path.startsWith("/")) return Optional.of("absolute path");
        if (path.endsWith("/")) return Optional.of("trailing '/'");
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c < 0x20 || c == 0x7F) return Optional.of("control character in the name");
            // A backslash would be a separator on Windows and needs escaping in SHA256SUMS.
            if (c == '\\') return Optional.of("backslash in the name");
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < path.length() && Character.isLowSurrogate(path.charAt(i + 1))) {
                    i++;
                    continue;
                }
                return Optional.of("name is not valid UTF-16/UTF-8");
            }
        }
        for (String segment : path.split("/", -1)) {
            if (segment.isEmpty()) return Optional.of("empty path segment");
            if (segment.equals(".") || segment.equals("..")) return Optional.of("'" + segment + "' segment");
        }
        return Optional.empty();
    }

    public static boolean isCanonical(String path) {
        return problem(path).isEmpty();
    }

    public static boolean isControl(String path) {
        return CONTROL.contains(path);
    }
}
