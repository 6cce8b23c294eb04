package org.llavapack.convert.onnx;

import java.util.Optional;

/** One exported ONNX file; names follow transformers.js's LLaVA sessions (spec §5.2). */
public enum Component {
    VISION("vision", "vision_encoder.onnx"),
    CONNECTOR("connector", "connector.onnx"),
    LLM("llm", "decoder_model_merged.onnx"),
    EMBED("embed", "embed_tokens.onnx");

    public final String cliName;
    public final String fileName;

    Component(String cliName, String fileName) {
        this.cliName = cliName;
        this.fileName = fileName;
    }

    public static Optional<Component> parse(String s) {
        for (Component c : values()) if (c.cliName.equals(s)) return Optional.of(c);
        return Optional.empty();
    }
}
