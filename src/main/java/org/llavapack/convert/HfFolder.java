package org.llavapack.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.json.PythonJson;
import org.llavapack.tensor.DType;

/**
 * The non-weight side of a Hugging Face model folder: config, generation config, tokenizer and anything else that
 * must travel with the weights for transformers and llama.cpp's converter to load them.
 */
public final class HfFolder {
    private HfFolder() {}

    private static final Pattern WEIGHTS = Pattern.compile(
            ".*\\.safetensors|.*\\.safetensors\\.index\\.json|pytorch_model.*\\.bin|.*\\.bin\\.index\\.json|.*\\.pth?|.*\\.ckpt"
                    + "|tf_model.*\\.h5|flax_model.*\\.msgpack|.*\\.gguf|.*\\.onnx|.*\\.onnx_data");

    public static boolean isWeightFile(String name) {
        return WEIGHTS.matcher(name).matches();
    }

    /** Top-level regular files of {@code src} that are not weights, in name order. */
    public static List<Path> auxiliaryFiles(Path src) {
        try (Stream<Path> s = Files.list(src)) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> !isWeightFile(p.getFileName().toString()))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw OutputException.of(src, e);
        }
    }

    /**
     * Copies the auxiliary files byte for byte; when {@code newDtype} is given and differs from config.json's
     * torch_dtype, rewrites config.json with that one field changed (formatted as transformers writes it).
     */
    public static void copyAuxiliaryFiles(Path src, Path dst, Optional<DType> newDtype) {
        for (Path f : auxiliaryFiles(src)) {
            Path target = dst.resolve(f.getFileName().toString());
            try {
                if (f.getFileName().toString().equals("config.json") && newDtype.isPresent()) {
                    writeConfigWithDtype(f, target, newDtype.get());
                } else {
                    Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
                }
            } catch (IOException e) {
                throw OutputException.of(target, e);
            }
        }
    }

    private static void writeConfigWithDtype(Path src, Path dst, DType dtype) throws IOException {
        JsonNode config = readJson(src);
        String name = dtype.torchName();
        if (config instanceof ObjectNode obj && !name.equals(obj.path("torch_dtype").asText(null))) {
            obj.put("torch_dtype", name);
            Files.writeString(dst, PythonJson.dumps(obj, 2, true) + "\n", StandardCharsets.UTF_8);
        } else {
            Files.copy(src, dst, StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    /** Reads a JSON file, reporting malformed JSON as bad input naming the file. */
    public static JsonNode readJson(Path file) {
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            if (n == null) throw new BadInputException(file, "empty JSON file");
            return n;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new BadInputException(file, "not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
    }
}
