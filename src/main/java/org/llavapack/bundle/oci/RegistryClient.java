package org.llavapack.bundle.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.llavapack.OutputException;

/**
 * The parts of the OCI distribution API a bundle needs, on the JDK's HttpClient: blob HEAD/upload/download and
 * manifest HEAD/PUT/GET for one repository. Uploads stream from any InputStream (an archive entry, a file), either
 * monolithic (POST then PUT with the body) or chunked (POST, PATCH per chunk with Content-Range, PUT to close).
 *
 * <p>Authentication: anonymous, HTTP Basic, or the Bearer token flow of Docker-style registries, with credentials
 * from LLAVAPACK_REGISTRY_USER / LLAVAPACK_REGISTRY_PASSWORD. The challenge is answered once, on the first request
 * ({@link #ping}), so request bodies (streams) are never sent twice.
 */
public final class RegistryClient implements AutoCloseable {
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String ACCEPT_MANIFESTS = OCI_MANIFEST + ", application/vnd.docker.distribution.manifest.v2+json;q=0.9";
    private static final int MAX_MANIFEST = 4 << 20; // the distribution spec's suggested manifest size limit
    private static final Duration SHORT = Duration.ofSeconds(60);

    public record Credentials(String user, String password) {
        public static Optional<Credentials> fromEnvironment() {
            String u = System.getenv("LLAVAPACK_REGISTRY_USER");
            String p = System.getenv("LLAVAPACK_REGISTRY_PASSWORD");
            return u == null || u.isEmpty() ? Optional.empty() : Optional.of(new Credentials(u, p == null ? "" : p));
        }
    }

    private final HttpClient http;
    private final URI base;
    private final String repository;
    private final String display;
    private final Optional<Credentials> credentials;
    private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
    private volatile String authorization;

    public RegistryClient(OciReference ref, boolean insecure, Optional<Credentials> credentials) {
        this.base = ref.base(insecure);
        this.repository = ref.repository();
        this.display = ref.authority() + "/" + ref.repository();
        this.credentials = credentials;
        // HTTP/1.1: plain-HTTP registries do not speak h2c, and an upgrade attempt on a streamed body buys nothing.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    /** Requests sent so far, by HTTP method (tests and the publish report use it to show what was uploaded). */
    public Map<String, Integer> requestCounts() {
        Map<String, Integer> m = new TreeMap<>();
        requests.forEach((k, v) -> m.put(k, v.get()));
        return m;
    }

    private URI api(String path) {
        return base.resolve("/v2/" + repository + path);
    }

    private OutputException failure(String what, Throwable cause) {
        return new OutputException(Path.of(display), what, cause);
    }

    private <T> HttpResponse<T> send(HttpRequest.Builder builder, HttpResponse.BodyHandler<T> handler) {
        if (authorization != null) builder.header("Authorization", authorization);
        builder.setHeader("User-Agent", "llavapack/" + org.llavapack.bundle.Toolkit.version());
        HttpRequest request = builder.build();
        requests.computeIfAbsent(request.method(), k -> new AtomicInteger()).incrementAndGet();
        try {
            return http.send(request, handler);
        } catch (HttpConnectTimeoutException | ConnectException e) {
            throw failure("cannot connect to " + base + " (is the registry running? --insecure selects plain HTTP)", e);
        } catch (HttpTimeoutException e) {
            throw failure(request.method() + " " + request.uri().getPath() + " timed out", e);
        } catch (IOException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            if (base.getScheme().equals("https") && (m.contains("SSL") || m.contains("plaintext") || e instanceof javax.net.ssl.SSLException)) {
                m += " (a plain-HTTP registry needs --insecure)";
            }
            throw failure(request.method() + " " + request.uri().getPath() + " failed: " + m, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure("interrupted", e);
        }
    }

    private static String errorText(HttpResponse<?> r, byte[] body) {
        StringBuilder sb = new StringBuilder("HTTP " + r.statusCode());
        try {
            JsonNode n = new ObjectMapper().readTree(body);
            for (JsonNode e : n.path("errors")) sb.append(", ").append(e.path("code").asText()).append(": ").append(e.path("message").asText());
        } catch (IOException | RuntimeException ignored) {
            // not the OCI error JSON: the status is all we report
        }
        return sb.toString();
    }

    private RuntimeException unexpected(String what, HttpResponse<byte[]> r) {
        if (r.statusCode() == 401 || r.statusCode() == 403) {
            return failure(what + ": access denied (" + errorText(r, r.body()) + "); set LLAVAPACK_REGISTRY_USER and LLAVAPACK_REGISTRY_PASSWORD", null);
        }
        return failure(what + ": " + errorText(r, r.body()), null);
    }

    /** Checks the API is there and answers an authentication challenge once, before any body is streamed. */
    public void ping() {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(base.resolve("/v2/")).timeout(SHORT).GET(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() == 200) return;
        if (r.statusCode() != 401) {
            if (r.statusCode() == 404) throw failure(base + " does not serve the registry API (/v2/ gives 404)", null);
            throw unexpected("GET /v2/", r);
        }
        String challenge = r.headers().firstValue("WWW-Authenticate").orElse("");
        if (challenge.regionMatches(true, 0, "Basic", 0, 5)) {
            Credentials c = credentials.orElseThrow(() -> failure("the registry asks for a user name and password: set LLAVAPACK_REGISTRY_USER and LLAVAPACK_REGISTRY_PASSWORD", null));
            authorization = basic(c);
        } else if (challenge.regionMatches(true, 0, "Bearer", 0, 6)) {
            authorization = "Bearer " + token(challenge);
        } else {
            throw failure("unsupported authentication challenge '" + challenge + "'", null);
        }
        HttpResponse<byte[]> again = send(HttpRequest.newBuilder(base.resolve("/v2/")).timeout(SHORT).GET(), HttpResponse.BodyHandlers.ofByteArray());
        if (again.statusCode() != 200) throw unexpected("GET /v2/ with credentials", again);
    }

    private static String basic(Credentials c) {
        return "Basic " + Base64.getEncoder().encodeToString((c.user() + ":" + c.password()).getBytes(StandardCharsets.UTF_8));
    }

    private static final Pattern PARAM = Pattern.compile("(\\w+)=\"([^\"]*)\"");

    /** The Docker token flow: ask the realm for a token scoped to push and pull this repository. */
    private String token(String challenge) {
        Map<String, String> params = new LinkedHashMap<>();
        Matcher m = PARAM.matcher(challenge);
        while (m.find()) params.put(m.group(1), m.group(2));
        String realm = params.get("realm");
        if (realm == null) throw failure("Bearer challenge without realm", null);
        StringBuilder q = new StringBuilder(realm).append(realm.contains("?") ? "&" : "?");
        if (params.containsKey("service")) q.append("service=").append(URLEncoder.encode(params.get("service"), StandardCharsets.UTF_8)).append('&');
        q.append("scope=").append(URLEncoder.encode("repository:" + repository + ":pull,push", StandardCharsets.UTF_8));
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(q.toString())).timeout(SHORT).GET();
        credentials.ifPresent(c -> b.header("Authorization", basic(c)));
        HttpResponse<byte[]> r;
        try {
            requests.computeIfAbsent("GET", k -> new AtomicInteger()).incrementAndGet();
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw failure("token request to " + realm + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure("interrupted", e);
        }
        if (r.statusCode() != 200) throw unexpected("token request to " + realm, r);
        try {
            JsonNode n = new ObjectMapper().readTree(r.body());
            String t = n.path("token").asText(n.path("access_token").asText(""));
            if (t.isEmpty()) throw failure("token response has no token", null);
            return t;
        } catch (IOException e) {
            throw failure("token response is not JSON", e);
        }
    }

    public boolean hasBlob(String digest) {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(api("/blobs/" + digest)).timeout(SHORT).method("HEAD", HttpRequest.BodyPublishers.noBody()),
                HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() == 200) return true;
        if (r.statusCode() == 404) return false;
        throw unexpected("HEAD blob " + digest, r);
    }

    private URI location(HttpResponse<?> r, String what) {
        String loc = r.headers().firstValue("Location").orElseThrow(() -> failure(what + ": no Location in the response", null));
        return base.resolve(loc);
    }

    private static URI withDigest(URI upload, String digest) {
        String s = upload.toString();
        return URI.create(s + (s.contains("?") ? "&" : "?") + "digest=" + URLEncoder.encode(digest, StandardCharsets.UTF_8));
    }

    private static HttpRequest.BodyPublisher stream(InputStream in, long length) {
        InputStream unclosable = new java.io.FilterInputStream(in) {
            @Override
            public void close() {
                // the caller owns the stream (it may be an archive positioned on this entry)
            }
        };
        if (length == 0) return HttpRequest.BodyPublishers.noBody();
        return HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> unclosable), length);
    }

    /**
     * Uploads one blob of {@code size} bytes read from {@code in}. Blobs up to {@code chunkSize} go in one PUT;
     * larger ones in PATCH chunks of {@code chunkSize}, each sent with its Content-Range, then a closing PUT.
     */
    public void pushBlob(String digest, long size, InputStream in, long chunkSize) {
        HttpResponse<byte[]> start = send(HttpRequest.newBuilder(api("/blobs/uploads/")).timeout(SHORT).POST(HttpRequest.BodyPublishers.noBody()),
                HttpResponse.BodyHandlers.ofByteArray());
        if (start.statusCode() != 202) throw unexpected("starting the upload of " + digest, start);
        URI upload = location(start, "starting the upload of " + digest);
        HttpResponse<byte[]> done;
        if (size <= chunkSize) {
            done = send(HttpRequest.newBuilder(withDigest(upload, digest)).header("Content-Type", "application/octet-stream")
                    .PUT(stream(in, size)), HttpResponse.BodyHandlers.ofByteArray());
        } else {
            long offset = 0;
            while (offset < size) {
                long n = Math.min(chunkSize, size - offset);
                HttpResponse<byte[]> r = send(HttpRequest.newBuilder(upload).header("Content-Type", "application/octet-stream")
                        .header("Content-Range", offset + "-" + (offset + n - 1))
                        .method("PATCH", stream(new BoundedInputStream(in, n), n)), HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() != 202) throw unexpected("uploading bytes " + offset + "-" + (offset + n - 1) + " of " + digest, r);
                upload = location(r, "uploading " + digest);
                offset += n;
            }
            done = send(HttpRequest.newBuilder(withDigest(upload, digest)).PUT(HttpRequest.BodyPublishers.noBody()),
                    HttpResponse.BodyHandlers.ofByteArray());
        }
        if (done.statusCode() != 201) throw unexpected("finishing the upload of " + digest, done);
        String stored = done.headers().firstValue("Docker-Content-Digest").orElse(digest);
        if (!stored.equals(digest)) throw failure("registry stored " + stored + " for " + digest, null);
    }

    /** The digest the registry has under {@code reference}, or empty when there is no such manifest. */
    public Optional<String> manifestDigest(String reference) {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(api("/manifests/" + reference)).timeout(SHORT).header("Accept", ACCEPT_MANIFESTS)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() == 404) return Optional.empty();
        if (r.statusCode() != 200) throw unexpected("HEAD manifest " + reference, r);
        return r.headers().firstValue("Docker-Content-Digest");
    }

    public String putManifest(String reference, byte[] body, String mediaType) {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(api("/manifests/" + reference)).timeout(SHORT).header("Content-Type", mediaType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(body)), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 201) throw unexpected("pushing the manifest", r);
        return r.headers().firstValue("Docker-Content-Digest").orElse("");
    }

    public record Manifest(byte[] body, String contentType) {}

    public Manifest getManifest(String reference) {
        HttpResponse<InputStream> r = send(HttpRequest.newBuilder(api("/manifests/" + reference)).timeout(SHORT).header("Accept", ACCEPT_MANIFESTS).GET(),
                HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            byte[] body = in.readNBytes(MAX_MANIFEST + 1);
            if (r.statusCode() == 404) throw failure("no manifest '" + reference + "' in " + display, null);
            if (r.statusCode() != 200) throw failure("GET manifest " + reference + ": " + errorText(r, body), null);
            if (body.length > MAX_MANIFEST) throw failure("manifest larger than 4 MiB", null);
            return new Manifest(body, r.headers().firstValue("Content-Type").orElse(""));
        } catch (IOException e) {
            throw failure("reading the manifest failed: " + e.getMessage(), e);
        }
    }

    /**
     * A blob's bytes as a stream; the caller closes it. Registries often redirect blob downloads to a storage host;
     * the redirect is followed here, without our Authorization header when it leaves the registry (a presigned URL
     * carries its own, and a registry token must not leak to another host).
     */
    public InputStream getBlob(String digest) {
        HttpResponse<InputStream> r = send(HttpRequest.newBuilder(api("/blobs/" + digest)).GET(), HttpResponse.BodyHandlers.ofInputStream());
        for (int hops = 0; hops < 5 && List.of(301, 302, 303, 307, 308).contains(r.statusCode()); hops++) {
            URI next = r.uri().resolve(r.headers().firstValue("Location").orElseThrow(() -> failure("redirect without Location for " + digest, null)));
            try {
                r.body().close();
            } catch (IOException ignored) {
                // the redirect body is not needed
            }
            HttpRequest.Builder b = HttpRequest.newBuilder(next).GET().setHeader("User-Agent", "llavapack/" + org.llavapack.bundle.Toolkit.version());
            if (authorization != null && next.getAuthority() != null && next.getAuthority().equals(base.getAuthority())) b.header("Authorization", authorization);
            requests.computeIfAbsent("GET", k -> new AtomicInteger()).incrementAndGet();
            try {
                r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                throw failure("GET " + next.getHost() + " (redirected blob " + digest + ") failed: " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw failure("interrupted", e);
            }
        }
        if (r.statusCode() != 200) {
            try (InputStream in = r.body()) {
                byte[] body = in.readNBytes(64 << 10);
                throw failure("GET blob " + digest + ": " + errorText(r, body), null);
            } catch (IOException e) {
                throw failure("GET blob " + digest + ": HTTP " + r.statusCode(), e);
            }
        }
        return r.body();
    }

    @Override
    public void close() {
        http.close();
    }

    /** Reads at most {@code limit} bytes of the underlying stream, without closing it. */
    static final class BoundedInputStream extends InputStream {
        private final InputStream in;
        private long left;

        BoundedInputStream(InputStream in, long limit) {
            this.in = in;
            this.left = limit;
        }

        @Override
        public int read() throws IOException {
            if (left <= 0) return -1;
            int b = in.read();
            if (b >= 0) left--;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) return -1;
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n > 0) left -= n;
            return n;
        }

        @Override
        public void close() {
            // leaves the underlying stream open for the next chunk
        }
    }
}
