package org.llavapack.bundle.oci;

import java.net.URI;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]}: where a bundle is pushed to or pulled from. Repository and tag
 * grammars are the OCI distribution spec's, checked here so a typo fails before any network traffic.
 */
public record OciReference(String host, Optional<Integer> port, String repository, Optional<String> tag, Optional<String> digest) {
    private static final Pattern FORM = Pattern.compile("oci://([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::([0-9]{1,5}))?/(.+)");
    private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");

    public static boolean isOci(String s) {
        return s.startsWith("oci://");
    }

    public static boolean validTag(String s) {
        return TAG.matcher(s).matches();
    }

    public static OciReference parse(String text) {
        Matcher m = FORM.matcher(text);
        if (!m.matches()) throw new IllegalArgumentException("'" + text + "' is not oci://HOST[:PORT]/REPOSITORY[:TAG]");
        Optional<Integer> port = Optional.empty();
        if (m.group(2) != null) {
            int p = Integer.parseInt(m.group(2));
            if (p < 1 || p > 65535) throw new IllegalArgumentException("port " + p + " out of range");
            port = Optional.of(p);
        }
        String rest = m.group(3);
        Optional<String> digest = Optional.empty(), tag = Optional.empty();
        int at = rest.indexOf('@');
        if (at >= 0) {
            digest = Optional.of(rest.substring(at + 1));
            if (!DIGEST.matcher(digest.get()).matches()) throw new IllegalArgumentException("digest '" + digest.get() + "' is not sha256:<64 hex>");
            rest = rest.substring(0, at);
        }
        int colon = rest.lastIndexOf(':');
        if (colon > rest.lastIndexOf('/')) {
            tag = Optional.of(rest.substring(colon + 1));
            if (!validTag(tag.get())) throw new IllegalArgumentException("tag '" + tag.get() + "' is not valid (letters, digits, _ . -; up to 128)");
            rest = rest.substring(0, colon);
        }
        for (String c : rest.split("/", -1)) {
            if (!COMPONENT.matcher(c).matches()) {
                throw new IllegalArgumentException("repository '" + rest + "' is not valid (lower-case components separated by '/')");
            }
        }
        if (rest.length() > 255) throw new IllegalArgumentException("repository name longer than 255 characters");
        return new OciReference(m.group(1), port, rest, tag, digest);
    }

    /** The reference a manifest is addressed by: the digest if given, else the tag. */
    public Optional<String> reference() {
        return digest.or(() -> tag);
    }

    public OciReference withTag(String t) {
        return new OciReference(host, port, repository, Optional.of(t), digest);
    }

    public String authority() {
        return host + port.map(p -> ":" + p).orElse("");
    }

    public URI base(boolean insecure) {
        return URI.create((insecure ? "http://" : "https://") + authority());
    }

    @Override
    public String toString() {
        return "oci://" + authority() + "/" + repository + tag.map(t -> ":" + t).orElse("") + digest.map(d -> "@" + d).orElse("");
    }
}
