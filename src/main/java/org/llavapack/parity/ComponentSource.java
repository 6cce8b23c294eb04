package org.llavapack.parity;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.llama.Llama;

/**
 * Something parity can run: the components one artifact or checkpoint provides. Implementations exist for HF
 * folders (merged Llama, PEFT adapter + base, projector folder, CLIP/PLIP folder, {@code pth-to-hf} output) and a
 * single XTuner state-dict {@code .pth}, DeepSpeed checkpoint folders, llama.cpp GGUF files (the LLM, dequantized) and
 * llavapack ONNX exports ({@link OnnxSource}), whose components run on onnxruntime instead of the DJL forwards.
 */
public interface ComponentSource extends AutoCloseable {

    Path path();

    /** What was recognised, e.g. "HF folder (merged Llama)", "XTuner .pth". */
    String kind();

    Optional<Llama> llm();

    Optional<Connector> connector();

    Optional<VisionTower> vision();

    /** How parts were found (base model from --base or the adapter config, heads from where …). */
    List<String> notes();

    /** For ONNX exports: the onnxruntime sessions that run this source's components (empty for weight sources). */
    default Optional<OnnxModels> onnx() {
        return Optional.empty();
    }

    @Override
    void close();
}
