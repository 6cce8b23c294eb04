package org.llavapack.llamacpp;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.llavapack.TestPaths;

/** Runs {@link LlamaCppProbe} in a forked JVM and parses its {@code key<TAB>value} lines. */
public final class LlamaCpp {
    private LlamaCpp() {}

    public record Result(int exit, Map<String, String> values, String stdout, String stderr) {
        public String get(String key) {
            String v = values.get(key);
            if (v == null) throw new AssertionError("llama.cpp probe gave no '" + key + "' (exit " + exit + ")\nstdout:\n" + stdout + "\nstderr (tail):\n" + tail(stderr));
            return v;
        }

        public static String tail(String s) {
            return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
        }
    }

    /** The de.kherud jar, found without initialising the binding (its static initialiser loads the native library). */
    static Path bindingJar() {
        var url = ClassLoader.getSystemResource("de/kherud/llama/LlamaModel.class");
        if (url == null) url = LlamaCpp.class.getClassLoader().getResource("de/kherud/llama/LlamaModel.class");
        String s = url.toString();
        if (!s.startsWith("jar:")) throw new IllegalStateException("de.kherud:llama is not a jar: " + s);
        return Path.of(URI.create(s.substring(4, s.indexOf("!/"))));
    }

    static Path testClasses() {
        try {
            return Path.of(LlamaCppProbe.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    public static String unb64(String s) {
        return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
    }

    public static Result run(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Xmx512m");
        cmd.add("-Dde.kherud.llama.tmpdir=" + TestPaths.repo().resolve("target/jllama"));
        cmd.add("-cp");
        cmd.add(testClasses() + java.io.File.pathSeparator + bindingJar());
        cmd.add(LlamaCppProbe.class.getName());
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            if (!p.waitFor(240, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("llama.cpp probe did not finish in 240 s: " + String.join(" ", args));
            }
            String o = out.join();
            Map<String, String> values = new LinkedHashMap<>();
            for (String line : o.lines().toList()) {
                int t = line.indexOf('\t');
                if (t > 0) values.put(line.substring(0, t), line.substring(t + 1));
            }
            return new Result(p.exitValue(), values, o, err.join());
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    public static int[] ids(String csv) {
        if (csv.isEmpty()) return new int[0];
        return java.util.Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    public static float[] floats(Path p) throws IOException {
        return LlamaCppProbe.readFloats(p);
    }

    public static void writeFloats(Path p, float[] f) throws IOException {
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(4 * f.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(f);
        Files.write(p, bb.array());
    }
}
