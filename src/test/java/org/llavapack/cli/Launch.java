package org.llavapack.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.llavapack.TestPaths;

/**
 * bin/llavapack as a subprocess that tests can kill or run side by side with others (CliRunner waits for one run).
 * Output goes to files, not pipes, so a killed or busy process never blocks on a full pipe.
 */
final class Launch implements AutoCloseable {
    final Process process;
    final Path stdout, stderr;
    final long startNanos = System.nanoTime();

    private Launch(Process process, Path stdout, Path stderr) {
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    static Launch start(Path logDir, Map<String, String> env, List<String> prefix, String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(TestPaths.repo().resolve("bin/llavapack").toString());
        cmd.addAll(List.of(args));
        try {
            Files.createDirectories(logDir);
            Path out = Files.createTempFile(logDir, "stdout", ".txt"), err = Files.createTempFile(logDir, "stderr", ".txt");
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(TestPaths.repo().toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
            String jar = System.getProperty("llavapack.jar");
            if (jar != null) pb.environment().put("LLAVAPACK_JAR", jar);
            pb.environment().putAll(env);
            Process p = pb.start();
            p.getOutputStream().close();
            return new Launch(p, out, err);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static Launch start(Path logDir, String... args) {
        return start(logDir, Map.of(), List.of(), args);
    }

    /** SIGKILL to the launcher and everything it started (the JVM, the stderr filter): no shutdown hook runs. */
    void kill9() {
        List<ProcessHandle> all = new ArrayList<>(process.toHandle().descendants().toList());
        all.add(process.toHandle());
        all.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle h : all) h.onExit().join();
    }

    CliRunner.Result await(long seconds) {
        try {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                kill9();
                throw new IllegalStateException("llavapack did not finish in " + seconds + " s");
            }
            return new CliRunner.Result(process.exitValue(), Files.readString(stdout), Files.readString(stderr));
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    double elapsedSeconds() {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    @Override
    public void close() {
        if (process.isAlive()) kill9();
    }
}
