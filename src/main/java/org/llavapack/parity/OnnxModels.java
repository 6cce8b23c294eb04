package org.llavapack.parity;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.llavapack.BadInputException;

/**
 * Runs the files of a llavapack ONNX export with onnxruntime (the pinned Java jar, CPU): the vision encoder, the
 * connector, the embedding and the decoder with its KV cache. Sessions are created from file paths (from bytes
 * onnxruntime cannot find the external data) on first use and closed together. A file onnxruntime refuses to load
 * or run is bad input naming that file.
 */
public final class OnnxModels implements AutoCloseable {
    private final Path dir;
    private final int threads;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final Map<String, OrtSession> sessions = new HashMap<>();

    public OnnxModels(Path dir, int threads) {
        this.dir = dir;
        this.threads = threads;
    }

    public Path dir() {
        return dir;
    }

    /** The session for {@code file}, created on first use. */
    public OrtSession session(String file) {
        OrtSession s = sessions.get(file);
        if (s != null) return s;
        Path p = dir.resolve(file);
        if (!Files.isRegularFile(p)) throw new BadInputException(p, "no such ONNX file in the export");
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(Math.max(1, threads));
            s = env.createSession(p.toString(), so);
        } catch (OrtException e) {
            throw new BadInputException(p, "onnxruntime cannot load it: " + oneLine(e), e);
        }
        sessions.put(file, s);
        return s;
    }

    /** Runs {@code file} on float/long inputs ({@code float[]} or {@code long[]} with their shapes) and returns one output as floats. */
    public float[] run(String file, Map<String, Input> inputs, String output) {
        OrtSession s = session(file);
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) feed.put(e.getKey(), e.getValue().tensor(env));
            try (OrtSession.Result r = s.run(feed)) {
                OnnxValue v = r.get(output).orElseThrow(() -> new BadInputException(dir.resolve(file), "has no output " + output));
                return floats((OnnxTensor) v);
            }
        } catch (OrtException e) {
            throw new BadInputException(dir.resolve(file), "onnxruntime failed to run it: " + oneLine(e), e);
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    static float[] floats(OnnxTensor t) {
        FloatBuffer b = t.getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ').trim();
    }

    /** A graph input: fp32 or int64 values with a shape. */
    public sealed interface Input {
        OnnxTensor tensor(OrtEnvironment env) throws OrtException;

        record Floats(float[] values, long... shape) implements Input {
            @Override
            public OnnxTensor tensor(OrtEnvironment env) throws OrtException {
                return OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape);
            }
        }

        record Longs(long[] values, long... shape) implements Input {
            @Override
            public OnnxTensor tensor(OrtEnvironment env) throws OrtException {
                return OnnxTensor.createTensor(env, LongBuffer.wrap(values), shape);
            }
        }
    }

    OrtEnvironment env() {
        return env;
    }

    @Override
    public void close() {
        for (OrtSession s : sessions.values()) {
            try {
                s.close();
            } catch (OrtException ignored) {
                // closing a session only frees memory; nothing to report
            }
        }
        sessions.clear();
    }
}
