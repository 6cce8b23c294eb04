package org.llavapack.model.llama;

import java.nio.file.Path;
import java.util.Optional;
import org.llavapack.model.Weights;
import org.llavapack.tensor.DType;

/**
 * A Llama LLM ready to run: config, base (or merged) weights under HF names, an optional LoRA adapter applied
 * unmerged at run time, and the folder holding tokenizer.json when there is one.
 */
public record Llama(LlamaConfig config, Weights weights, Optional<LoraAdapter> lora, Optional<Path> tokenizerDir, String description) {

    /** The least precise float dtype in base and adapter (a bf16 base with an fp32 adapter counts as bf16). */
    public DType precision() {
        DType base = weights.narrowestFloat();
        if (lora.isEmpty()) return base;
        DType ad = lora.get().weights().narrowestFloat();
        return Weights.precisionBits(ad) < Weights.precisionBits(base) ? ad : base;
    }

    /** The block quantization of the weights (a GGUF export), when there is one. */
    public Optional<String> quantization() {
        return weights.quantization();
    }

    /** "q8_0" for quantized weights, else the torch name of {@link #precision()}: what reports call the weights. */
    public String precisionLabel() {
        return quantization().orElse(precision().torchName());
    }
}
