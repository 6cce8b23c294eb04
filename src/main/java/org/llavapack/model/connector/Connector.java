package org.llavapack.model.connector;

import org.llavapack.model.Weights;
import org.llavapack.tensor.DType;

/**
 * The module between the vision tower and the LLM: maps {@code [B, N, visual_hidden]} features to
 * {@code [B, N, llm_hidden]} rows that replace the {@code <image>} placeholder.
 */
public sealed interface Connector permits MlpProjector, QFormer {

    int inputDim();

    int outputDim();

    Weights weights();

    String description();

    default DType precision() {
        return weights().narrowestFloat();
    }

    /** Short kind name for reports. */
    String kind();
}
