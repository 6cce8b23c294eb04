package org.llavapack.release;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.bundle.Sha256;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;

/**
 * {@code release.json} in the release folder: for every finished stage, the fingerprint of what it consumed and the
 * size and SHA-256 of every file it wrote. A rerun skips a stage whose fingerprint is unchanged and whose files still
 * hash to the recorded values, so a release that failed at parity resumes there, and a damaged artifact is rebuilt
 * instead of shipped. Rewritten atomically after each stage.
 */
final class ReleaseState {
    static final String FILE = "release.json";

    /** What one finished stage recorded. {@code outputs}: path relative to the release folder → facts. */
    record StageRecord(String fingerprint, Map<String, Sha256.Facts> outputs, double seconds, String detail) {
        /** One digest over all outputs, for the fingerprints of the stages that consume them. */
        String outputsDigest() {
            StringBuilder sb = new StringBuilder();
            outputs.forEach((k, v) -> sb.append(k).append('\0').append(v.size()).append('\0').append(v.sha256()).append('\n'));
            return Sha256.of(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    private final Path dir;
    private final String toolVersion;
    private final Map<String, StageRecord> stages = new LinkedHashMap<>();

    private ReleaseState(Path dir, String toolVersion) {
        this.dir = dir;
        this.toolVersion = toolVersion;
    }

    static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve(FILE));
    }

    /** The state of {@code dir}, empty when the folder holds no release.json. */
    static ReleaseState load(Path dir, String toolVersion) {
        ReleaseState s = new ReleaseState(dir, toolVersion);
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) return s;
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            throw new BadInputException(f, "not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + "); delete it to start the release over");
        }
        // Records from another llavapack version are not trusted: its stages may write different bytes.
        if (!root.path("llavapack").asText("").equals(toolVersion)) return s;
        root.path("stages").properties().forEach(e -> {
            JsonNode n = e.getValue();
            Map<String, Sha256.Facts> outs = new TreeMap<>();
            n.path("outputs").properties().forEach(o -> outs.put(o.getKey(), new Sha256.Facts(o.getValue().path("size").asLong(-1),
                    o.getValue().path("sha256").asText(""))));
            s.stages.put(e.getKey(), new StageRecord(n.path("fingerprint").asText(""), outs, n.path("seconds").asDouble(),
                    n.path("detail").asText("")));
        });
        return s;
    }

    Optional<StageRecord> get(String stage) {
        return Optional.ofNullable(stages.get(stage));
    }

    /** True when {@code stage} finished with this fingerprint and every file it wrote is still there, unchanged. */
    boolean upToDate(String stage, String fingerprint, int threads) {
        StageRecord r = stages.get(stage);
        if (r == null || !r.fingerprint().equals(fingerprint)) return false;
        Map<String, Path> files = new LinkedHashMap<>();
        for (String rel : r.outputs().keySet()) {
            Path p = dir.resolve(rel);
            if (!Files.isRegularFile(p) || p.toFile().length() != r.outputs().get(rel).size()) return false;
            files.put(rel, p);
        }
        return Sha256.ofFiles(files, threads, Progress.NONE).equals(r.outputs());
    }

    /** Hashes what the stage wrote under {@code outputs} (files or folders, relative) and records it. */
    StageRecord record(String stage, String fingerprint, java.util.List<String> outputs, double seconds, String detail, int threads) {
        Map<String, Path> files = new TreeMap<>();
        for (String rel : outputs) {
            Path p = dir.resolve(rel);
            if (Files.isDirectory(p)) {
                try (Stream<Path> walk = Files.walk(p)) {
                    walk.filter(Files::isRegularFile).forEach(f -> files.put(dir.relativize(f).toString().replace('\\', '/'), f));
                } catch (IOException e) {
                    throw OutputException.of(p, e);
                }
            } else if (Files.isRegularFile(p)) {
                files.put(rel, p);
            }
        }
        StageRecord r = new StageRecord(fingerprint, new TreeMap<>(Sha256.ofFiles(files, threads, Progress.NONE)), seconds, detail);
        stages.put(stage, r);
        save();
        return r;
    }

    /** Forgets a stage (it is about to run again), so an interrupted rerun cannot leave a stale record behind. */
    void forget(String stage) {
        if (stages.remove(stage) != null) save();
    }

    private void save() {
        ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = m.createObjectNode();
        root.put("llavapack", toolVersion);
        ObjectNode st = root.putObject("stages");
        stages.forEach((name, r) -> {
            ObjectNode n = st.putObject(name);
            n.put("fingerprint", r.fingerprint());
            n.put("seconds", Math.round(r.seconds() * 1000) / 1000.0);
            n.put("detail", r.detail());
            ObjectNode outs = n.putObject("outputs");
            r.outputs().forEach((k, v) -> outs.putObject(k).put("size", v.size()).put("sha256", v.sha256()));
        });
        try (AtomicOutput out = AtomicOutput.file(dir.resolve(FILE), true)) {
            Files.writeString(out.path(), m.writeValueAsString(root) + "\n");
            out.commit();
        } catch (IOException e) {
            throw OutputException.of(dir.resolve(FILE), e);
        }
    }
}
