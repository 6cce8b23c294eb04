package org.llavapack.parity;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;

/**
 * DJL's PyTorch engine, set up the way llavapack needs it: offline (a download attempt fails at once instead of
 * hanging), natives extracted from the bundled jar into a fixed cache, and the first extraction serialised across
 * processes by a file lock, so two llavapack runs starting together on a fresh cache never load a half-written
 * libtorch. One instance owns one base NDManager on one device.
 */
public final class TorchEngine implements AutoCloseable {
    public static final String ENGINE = "PyTorch";
    private static final Object INIT = new Object();
    private static volatile Engine engine;

    private final NDManager manager;
    private final Device device;

    private TorchEngine(NDManager manager, Device device) {
        this.manager = manager;
        this.device = device;
    }

    /** {@code cpu}, {@code cuda} or {@code cuda:N}. */
    public static TorchEngine open(String deviceName) {
        Engine e = engine();
        Device d = parseDevice(deviceName);
        if (d.isGpu()) {
            int count = e.getGpuCount();
            if (count <= d.getDeviceId()) {
                throw new BadInputException((String) null, "--device " + deviceName + ": " + (count == 0 ? "no CUDA device is visible to PyTorch "
                        + e.getVersion() + " with the native library bundled in this build (" + buildInfo("djl.native", "?")
                        + "); CUDA needs a build with `mvn -Pcuda package` (DJL 0.33, PyTorch 2.5.1 cu124) and an NVIDIA driver for CUDA 12.4"
                        : "only " + count + " CUDA device(s) are visible"), null);
            }
        }
        return new TorchEngine(e.newBaseManager(d), d);
    }

    static Device parseDevice(String name) {
        String n = name.trim().toLowerCase(java.util.Locale.ROOT);
        if (n.equals("cpu")) return Device.cpu();
        if (n.equals("cuda") || n.equals("gpu")) return Device.gpu(0);
        if (n.matches("(cuda|gpu):\\d{1,3}")) return Device.gpu(Integer.parseInt(n.substring(n.indexOf(':') + 1)));
        throw new BadInputException((String) null, "--device '" + name + "' is not cpu, cuda or cuda:N", null);
    }

    /** The process-wide PyTorch engine; the first call configures DJL and loads the natives under the lock. */
    public static Engine engine() {
        Engine e = engine;
        if (e != null) return e;
        synchronized (INIT) {
            if (engine != null) return engine;
            try {
                engine = underInitLock(() -> {
                    Engine e2 = Engine.getEngine(ENGINE);
                    // Force the native load (and the one-time extraction) while the lock is held.
                    try (NDManager m = e2.newBaseManager(Device.cpu())) {
                        m.zeros(new Shape(1)).close();
                    }
                    return e2;
                });
            } catch (NoClassDefFoundError | RuntimeException ex) {
                if (ex instanceof OutputException oe) throw oe;
                throw new BadInputException((String) null, "DJL's PyTorch engine could not start (" + ex
                        + "); the native jar " + buildInfo("djl.native", "pytorch-native-cpu") + " must be in lib/ next to llavapack.jar", ex);
            }
            return engine;
        }
    }

    /**
     * Runs {@code action} holding an exclusive lock on {@code <cache>/.llavapack-init.lock}: DJL extracts its natives
     * (libtorch, libtokenizers) into the cache on first use, and this keeps a second process from loading or
     * re-extracting them half-way (DJL's own temp-folder-then-move makes the race rare; the lock removes it and the
     * duplicate 432 MB extraction).
     */
    public static <T> T underInitLock(java.util.function.Supplier<T> action) {
        Path cache = configure();
        try {
            Files.createDirectories(cache);
        } catch (IOException ex) {
            throw OutputException.of(cache, ex);
        }
        Path lockFile = cache.resolve(".llavapack-init.lock");
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = ch.lock()) {
            return action.get();
        } catch (IOException ex) {
            throw OutputException.of(lockFile, ex);
        }
    }

    /**
     * Sets DJL's cache folder and offline mode unless the user set them: {@code DJL_CACHE_DIR} (property or
     * environment) wins, else {@code $LLAVAPACK_CACHE/djl}, else {@code ${XDG_CACHE_HOME:-~/.cache}/llavapack/djl}.
     */
    static Path configure() {
        String set = System.getProperty("DJL_CACHE_DIR", System.getenv("DJL_CACHE_DIR"));
        Path cache;
        if (set != null && !set.isBlank()) {
            cache = Path.of(set);
        } else {
            String base = System.getenv("LLAVAPACK_CACHE");
            if (base == null || base.isBlank()) {
                String xdg = System.getenv("XDG_CACHE_HOME");
                base = (xdg != null && !xdg.isBlank() ? xdg : System.getProperty("user.home") + "/.cache") + "/llavapack";
            }
            cache = Path.of(base, "djl");
            System.setProperty("DJL_CACHE_DIR", cache.toString());
        }
        if (System.getProperty("ai.djl.offline") == null && System.getenv("DJL_OFFLINE") == null) System.setProperty("ai.djl.offline", "true");
        if (System.getProperty("ai.djl.default_engine") == null) System.setProperty("ai.djl.default_engine", ENGINE);
        return cache;
    }

    /**
     * PyTorch's intra-op threads (torch.set_num_threads). One thread for tiny models: with OpenMP's spinning workers, two
     * threads on a busy 2-core machine made the tiny-Llama comparison 9× slower (16.8 s vs 1.8 s, measured).
     */
    public static void threads(int n) {
        engine();
        ai.djl.pytorch.jni.JniUtils.setNumThreads(Math.max(1, n));
    }

    public static int threads() {
        engine();
        return ai.djl.pytorch.jni.JniUtils.getNumThreads();
    }

    public NDManager manager() {
        return manager;
    }

    public Device device() {
        return device;
    }

    /** An fp32 array on this engine's device. */
    public NDArray create(NDManager m, float[] data, long... shape) {
        return m.create(data, new Shape(shape));
    }

    /** "PyTorch 2.7.1 (DJL 0.36.0, pytorch-native-cpu) on cpu()". */
    public String describe() {
        return ENGINE + " " + engine().getVersion() + " (DJL " + Engine.getDjlVersion() + ", " + buildInfo("djl.native", "?") + ") on " + device;
    }

    /** Values Maven wrote into version.properties. */
    public static String buildInfo(String key, String dflt) {
        Properties p = new Properties();
        try (InputStream in = TorchEngine.class.getResourceAsStream("/org/llavapack/version.properties")) {
            if (in != null) p.load(in);
        } catch (IOException ignored) {
            // fall through
        }
        return p.getProperty(key, dflt);
    }

    @Override
    public void close() {
        manager.close();
    }
}
