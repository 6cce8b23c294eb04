package org.llavapack.convert.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/** Test folders built from the committed fixtures. */
public final class Fixtures {
    private Fixtures() {}

    public static Path copyDir(Path src, Path dst) {
        try (Stream<Path> s = Files.list(src)) {
            Files.createDirectories(dst);
            for (Path p : (Iterable<Path>) s::iterator) Files.copy(p, dst.resolve(p.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
            return dst;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A tensor to write: name, PyTorch shape, values. */
    public record T(String name, long[] shape, float[] values) {}

    /** Writes a single safetensors file (values rounded to {@code dtype}). */
    public static void safetensors(Path file, DType dtype, List<T> tensors) {
        List<TensorInfo> infos = new ArrayList<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        for (T t : tensors) {
            infos.add(new TensorInfo(t.name(), dtype, t.shape()));
            values.put(t.name(), t.values());
        }
        SafetensorsWriter.writeFile(file, SafetensorsWriter.PT_METADATA, infos,
                (info, sink) -> sink.writeFloats(values.get(info.name()), 0, values.get(info.name()).length), Progress.NONE);
    }

    public static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Path p, String s) {
        try {
            Files.writeString(p, s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
