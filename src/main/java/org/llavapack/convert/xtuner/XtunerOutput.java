package org.llavapack.convert.xtuner;

import java.util.Optional;

/** The sub-folders of {@code pth-to-hf}'s OUT_DIR, as XTuner's {@code to_xtuner_llava} names them (spec §5.2). */
public enum XtunerOutput {
    /** PEFT adapter of the LLM: adapter_config.json + adapter_model.safetensors. */
    LLM_ADAPTER("llm_adapter"),
    /** PEFT adapter of the vision tower, when it had LoRA. */
    VISUAL_ENCODER_ADAPTER("visual_encoder_adapter"),
    /** The connector: config.json + model.safetensors. */
    PROJECTOR("projector"),
    /** A fully trained vision tower (HF names). */
    VISUAL_ENCODER("visual_encoder"),
    /** A fully fine-tuned LLM (HF names, sharded). */
    LLM("llm");

    private final String folder;

    XtunerOutput(String folder) {
        this.folder = folder;
    }

    public String folder() {
        return folder;
    }

    public boolean isAdapter() {
        return this == LLM_ADAPTER || this == VISUAL_ENCODER_ADAPTER;
    }

    public static Optional<XtunerOutput> ofFolder(String folder) {
        for (XtunerOutput o : values()) if (o.folder.equals(folder)) return Optional.of(o);
        return Optional.empty();
    }
}
