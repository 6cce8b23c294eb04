package org.llavapack.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.llavapack.TestPaths;

/** Runs the real launcher (bin/llavapack) on the packaged jar, as a user would. */
public final class CliRunner {
    private CliRunner() {}

    public record Result(int exit, String stdout, String stderr) {
        public List<String> stderrLines() {
            return stderr.lines().toList();
        }
    }

    public static Result run(String... args) {
        return runIn(TestPaths.repo(), args);
    }

    public static Result runIn(Path workDir, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(TestPaths.repo().resolve("bin/llavapack").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        String jar = System.getProperty("llavapack.jar");
        if (jar != null) pb.environment().put("LLAVAPACK_JAR", jar);
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("llavapack " + args[0] + " did not finish in 300 s");
            }
            return new Result(p.exitValue(), out.join(), err.join());
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
}
