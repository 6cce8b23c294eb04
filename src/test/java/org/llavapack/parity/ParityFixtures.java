package org.llavapack.parity;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.TestPaths;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * Builds parity candidates from the committed fixtures. The merged LLM is what merge-lora will write (that command is
 * being written elsewhere): tiny-llama with the 14 PyTorch-merged bf16 tensors of expected/merged-lora.safetensors.
 */
final class ParityFixtures {
    private ParityFixtures() {}

    static Path expected(String file) {
        return TestPaths.checkpoint("expected").resolve(file);
    }

    /** tiny-llama + expected/merged-lora.safetensors, each tensor in {@code scale} multiplied by its factor (then rounded to bf16). */
    static Path mergedLlama(Path out, Map<String, Float> scale) throws IOException {
        return mergedLlama(out, "merged-lora.safetensors", scale);
    }

    /** tiny-llama with the tensors of {@code expectedFile} (a PyTorch merge of one adapter variant) in place. */
    static Path mergedLlama(Path out, String expectedFile, Map<String, Float> scale) throws IOException {
        Path base = TestPaths.checkpoint("tiny-llama");
        Files.createDirectories(out);
        HfFolder.copyAuxiliaryFiles(base, out, Optional.empty());
        try (TensorStore b = TensorStores.open(base); TensorStore merged = TensorStores.open(expected(expectedFile))) {
            List<TensorInfo> infos = b.tensors();
            SafetensorsWriter.writeSharded(out, "model", SafetensorsWriter.PT_METADATA, infos, 200_000, (info, o) -> {
                TensorStore src = merged.contains(info.name()) ? merged : b;
                float[] v = src.tensor(info.name()).toFloatArray();
                Float f = scale.get(info.name());
                if (f != null) for (int i = 0; i < v.length; i++) v[i] *= f;
                o.writeFloats(v, 0, v.length);
            }, Progress.NONE);
        }
        return out;
    }

    /** A projector folder (config.json + model.safetensors) from an expected projector file, floats cast to {@code dtype}. */
    static Path projectorFolder(Path out, String expectedFile, DType dtype) throws IOException {
        Files.createDirectories(out);
        try (TensorStore s = TensorStores.open(expected(expectedFile))) {
            List<TensorInfo> infos = new ArrayList<>();
            for (TensorInfo t : s.tensors()) infos.add(t.dtype().isFloatingPoint() ? t.withDType(dtype) : t);
            SafetensorsWriter.writeFile(out.resolve("model.safetensors"), SafetensorsWriter.PT_METADATA, infos, (info, o) -> {
                if (info.dtype().isFloatingPoint()) {
                    float[] v = s.tensor(info.name()).toFloatArray();
                    o.writeFloats(v, 0, v.length);
                } else {
                    o.write(s.tensor(info.name()).data());
                }
            }, Progress.NONE);
        }
        // As pth_to_hf writes it (spec §5.2), plus the tiny BERT's head count, which no tensor shape shows.
        Files.writeString(out.resolve("config.json"), """
                {
                  "architectures": ["QFormerProjectorModel"],
                  "model_type": "q_former_projector",
                  "visual_hidden_size": 32,
                  "llm_hidden_size": 64,
                  "depth": 1,
                  "hidden_act": "gelu",
                  "bias": true,
                  "cross_attention_freq": 1,
                  "num_hidden_layers": 2,
                  "num_attention_heads": 4,
                  "torch_dtype": "%s"
                }
                """.formatted(dtype.torchName()), StandardCharsets.UTF_8);
        return out;
    }

    /** What pth-to-hf writes for the zero2-bf16 checkpoint: llm_adapter/ (PEFT, fp32 masters) and projector/. */
    static Path pthToHfOutput(Path out) throws IOException {
        Path adapter = Files.createDirectories(out.resolve("llm_adapter"));
        Files.copy(expected("xtuner-zero2-bf16-adapter-f32.safetensors"), adapter.resolve("adapter_model.safetensors"));
        String cfg = Files.readString(TestPaths.checkpoint("tiny-llama-lora").resolve("adapter_config.json"));
        Files.writeString(adapter.resolve("adapter_config.json"), cfg);
        projectorFolder(out.resolve("projector"), "xtuner-zero2-bf16-projector-f32.safetensors", DType.F32);
        return out;
    }
}
