package org.llavapack.convert.xtuner;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.llavapack.TestPaths;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.tensor.TensorInfo;

/** Tensor names and shapes of the committed expected files (file order: dtype descending, then name). */
final class Fixtures {
    private Fixtures() {}

    static Path expected(String name) {
        return TestPaths.checkpoints().resolve("expected").resolve(name);
    }

    static Map<String, long[]> shapes(Path file) {
        Map<String, long[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (TensorInfo t : f.tensors()) out.put(t.name(), t.shape());
        }
        return out;
    }

    /** Keeps only names starting with {@code prefix}, stripped of it. */
    static Map<String, long[]> strip(Map<String, long[]> shapes, String prefix) {
        Map<String, long[]> out = new LinkedHashMap<>();
        shapes.forEach((k, v) -> {
            if (k.startsWith(prefix)) out.put(k.substring(prefix.length()), v);
        });
        return out;
    }
}
