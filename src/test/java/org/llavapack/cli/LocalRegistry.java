package org.llavapack.cli;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real OCI registry for tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 and a free port, with
 * filesystem storage in a temporary folder, started as a child process and stopped by its PID. Its access log is
 * kept so tests can count what clients actually sent.
 */
final class LocalRegistry implements AutoCloseable {
    static final String SKIP_ENV = "LLAVAPACK_SKIP_REGISTRY_TESTS";

    final int port;
    final Path root;
    final Path log;
    private final Process process;

    private LocalRegistry(int port, Path root, Path log, Process process) {
        this.port = port;
        this.root = root;
        this.log = log;
        this.process = process;
    }

    /** The executable on PATH, or null. */
    static Path which(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        Path usr = Path.of("/usr/bin", name);
        return Files.isExecutable(usr) ? usr : null;
    }

    /**
     * Why the registry tests cannot run here, or null when they can. The caller fails with this text unless
     * LLAVAPACK_SKIP_REGISTRY_TESTS=1 says to skip (never a silent skip).
     */
    static String unavailable() {
        if (which("docker-registry") == null) {
            return "docker-registry is not installed (apt-get install -y docker-registry skopeo; .ci/run does it when missing)";
        }
        if (which("skopeo") == null) return "skopeo is not installed (apt-get install -y skopeo; .ci/run does it when missing)";
        return null;
    }

    static LocalRegistry start(Path dir) throws IOException, InterruptedException {
        return start(dir, null);
    }

    /** With {@code htpasswd} (a "user:bcrypt-hash" line) the registry demands HTTP Basic authentication. */
    static LocalRegistry start(Path dir, String htpasswd) throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path storage = dir.resolve("storage");
        Files.createDirectories(storage);
        Path config = dir.resolve("config.yml");
        Files.writeString(config, String.join("\n",
                "version: 0.1",
                "log:",
                "  level: info",
                "  accesslog:",
                "    disabled: false",
                "storage:",
                "  filesystem:",
                "    rootdirectory: " + storage,
                "  delete:",
                "    enabled: true",
                "http:",
                "  addr: 127.0.0.1:" + port,
                ""));
        if (htpasswd != null) {
            Files.writeString(dir.resolve("htpasswd"), htpasswd + "\n");
            Files.writeString(config, "auth:\n  htpasswd:\n    realm: llavapack-test\n    path: " + dir.resolve("htpasswd") + "\n",
                    java.nio.file.StandardOpenOption.APPEND);
        }
        Path log = dir.resolve("registry.log");
        Process p = new ProcessBuilder(which("docker-registry").toString(), "serve", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        LocalRegistry r = new LocalRegistry(port, storage, log, p);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) throw new IllegalStateException("docker-registry exited with " + p.exitValue() + ":\n" + Files.readString(log));
            try {
                var resp = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2/")).GET().build(), HttpResponse.BodyHandlers.discarding());
                if (resp.statusCode() == 200 || (htpasswd != null && resp.statusCode() == 401)) {
                    System.err.println("docker-registry started: pid " + p.pid() + ", 127.0.0.1:" + port + ", storage " + storage);
                    return r;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        r.close();
        throw new IllegalStateException("docker-registry did not answer on port " + port + " within 30 s:\n" + Files.readString(log));
    }

    String url(String repoAndTag) {
        return "oci://127.0.0.1:" + port + "/" + repoAndTag;
    }

    long logSize() throws IOException {
        return Files.size(log);
    }

    private static final Pattern ACCESS = Pattern.compile("\"(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/\\S*) HTTP/1\\.1\" (\\d{3})");

    /** Requests in the access log written after {@code offset}, counted by method. */
    Map<String, Integer> requestsSince(long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        String text = new String(all, (int) offset, all.length - (int) offset, java.nio.charset.StandardCharsets.UTF_8);
        Map<String, Integer> counts = new TreeMap<>();
        for (String line : text.split("\n")) {
            if (!line.startsWith("127.0.0.1 ")) continue; // the access-log lines, not the structured app log
            Matcher m = ACCESS.matcher(line);
            if (m.find()) counts.merge(m.group(1), 1, Integer::sum);
        }
        return counts;
    }

    List<Path> blobFiles() throws IOException {
        try (var s = Files.walk(root)) {
            return s.filter(p -> p.getFileName().toString().equals("data") && p.toString().contains("/blobs/sha256/")).toList();
        }
    }

    @Override
    public void close() {
        long pid = process.pid();
        process.destroy(); // SIGTERM: the registry shuts down gracefully
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        System.err.println("docker-registry pid " + pid + " stopped");
    }
}
