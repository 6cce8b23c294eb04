package org.llavapack.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.BadInputException;
import org.llavapack.convert.xtuner.XtunerConfig;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufTensorInfo;
import org.llavapack.formats.pickle.PickleReader;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;

/**
 * One entry point per reader, shared by the Jazzer fuzz tests and the regression seeds. Each feeds arbitrary bytes to
 * a reader the way the CLI does and then touches everything the reader exposes (every tensor's first and last
 * element, every value's repr), because a lazily validated field only fails when used. The contract under test: bad
 * input ends in {@link BadInputException} and nothing else: no other exception, no OutOfMemoryError, no hang.
 */
public final class FuzzTargets {
    private FuzzTargets() {}

    /** One scratch file per thread: readers take paths (they mmap), and creating a file per input is slow. */
    private static final ThreadLocal<Path> SCRATCH = ThreadLocal.withInitial(() -> {
        try {
            Path dir = Files.createTempDirectory("llavapack-fuzz");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    });

    static Path write(String name, byte[] data) {
        Path f = SCRATCH.get().resolve(name);
        try {
            Files.write(f, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        f.toFile().deleteOnExit();
        return f;
    }

    private static void touch(Tensor t) {
        if (t.numel() > 0) {
            t.getFloat(0);
            t.getFloat(t.numel() - 1);
        }
    }

    public static void safetensors(byte[] data) {
        Path f = write("fuzz.safetensors", data);
        try (SafetensorsFile s = SafetensorsFile.open(f)) {
            s.metadata();
            for (TensorInfo t : s.tensors()) touch(s.tensor(t.name()));
        } catch (BadInputException expected) {
            // the one acceptable refusal
        }
    }

    /** Zip and legacy containers, the pickle inside, and storage views over the members. */
    public static void torch(byte[] data) {
        Path f = write("fuzz.pth", data);
        try (TorchCheckpoint c = TorchCheckpoint.open(f); Arena arena = Arena.ofConfined()) {
            c.stateDict().values().forEach(t -> t.data(arena));
            for (TensorInfo t : c.tensors()) touch(c.tensor(t.name()));
            c.otherKeys();
            PyRepr.of(c.root());
        } catch (BadInputException expected) {
            // refused
        }
    }

    /** The pickle machine alone (what a torch zip's data.pkl goes through), without a container around it. */
    public static void pickle(byte[] data) {
        try {
            PyRepr.of(PickleReader.parse(Path.of("fuzz.pkl"), data));
        } catch (BadInputException expected) {
            // refused
        }
    }

    public static void gguf(byte[] data) {
        Path f = write("fuzz.gguf", data);
        try (GgufFile g = GgufFile.open(f)) {
            g.kv().values().forEach(String::valueOf);
            g.metadata();
            for (GgufTensorInfo t : g.tensorInfos()) {
                g.rawData(t.name());
                touch(g.tensor(t.name()));
            }
        } catch (BadInputException expected) {
            // refused
        }
    }

    /** The XTuner config reader: the text as the CLI decodes it (UTF-8), parsed and every setting extracted. */
    public static void xtunerConfig(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        try {
            XtunerConfig c = XtunerConfig.parse(text, "fuzz_config.py");
            String.valueOf(c);
        } catch (BadInputException expected) {
            // refused
        }
    }
}
