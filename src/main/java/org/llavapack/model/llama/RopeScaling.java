package org.llavapack.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Optional;
import org.llavapack.BadInputException;

/**
 * config.json's {@code rope_scaling}. Llama-3.1 uses type {@code llama3}: low frequencies are divided by
 * {@code factor}, high ones kept, the band between blended (transformers' {@code _compute_llama3_parameters}).
 * {@code linear} divides every frequency by {@code factor}. Other types change the positions at run time
 * (dynamic NTK) and are refused rather than silently computed wrong.
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions,
                          float[] freqFactors) {

    public RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        this(type, factor, lowFreqFactor, highFreqFactor, originalMaxPositions, null);
    }

    /**
     * What a GGUF file stores instead of the parameters: llama.cpp's {@code rope_freqs} tensor, one divisor per
     * frequency ({@code theta_i / freq_factors[i]}), precomputed by the converter from the same llama3 rule.
     */
    public static RopeScaling ofFreqFactors(float[] factors) {
        return new RopeScaling("freq_factors", 1, 0, 0, 0, factors.clone());
    }

    public static Optional<RopeScaling> fromJson(JsonNode node, Path file) {
        if (node == null || node.isNull() || node.isMissingNode()) return Optional.empty();
        String type = node.has("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
        return switch (type) {
            case "default" -> Optional.empty();
            case "linear" -> Optional.of(new RopeScaling(type, node.path("factor").asDouble(1.0), 0, 0, 0));
            case "llama3" -> Optional.of(new RopeScaling(type, node.path("factor").asDouble(8.0),
                    node.path("low_freq_factor").asDouble(1.0), node.path("high_freq_factor").asDouble(4.0),
                    node.path("original_max_position_embeddings").asInt(8192)));
            default -> throw new BadInputException(file, "rope_scaling type '" + type + "' is not supported by parity (llama3, linear)");
        };
    }

    /** Applies the scaling to fp32 inverse frequencies, in fp32 as transformers does. */
    public float[] apply(float[] invFreq) {
        float[] out = invFreq.clone();
        if (type.equals("freq_factors")) {
            if (freqFactors.length != out.length) {
                throw new IllegalArgumentException("rope_freqs has " + freqFactors.length + " values for " + out.length + " frequencies");
            }
            for (int i = 0; i < out.length; i++) out[i] = out[i] / freqFactors[i];
            return out;
        }
        if (type.equals("linear")) {
            for (int i = 0; i < out.length; i++) out[i] = (float) (out[i] / factor);
            return out;
        }
        double lowWavelen = originalMaxPositions / lowFreqFactor;
        double highWavelen = originalMaxPositions / highFreqFactor;
        for (int i = 0; i < out.length; i++) {
            float f = invFreq[i];
            double wavelen = 2 * Math.PI / f;
            float scaled = wavelen > lowWavelen ? (float) (f / factor) : f;
            boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            if (medium) {
                double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                scaled = (float) ((1 - smooth) * scaled / factor + smooth * scaled);
            }
            out[i] = scaled;
        }
        return out;
    }
}
