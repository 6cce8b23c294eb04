package org.llavapack.bundle;

import java.util.Locale;

/**
 * What a bundle file is, judged by its name (the convention Hub repos and OCI layers use), with the media type its
 * OCI layer carries. Weights get llavapack vendor types because no registry-neutral type exists for safetensors,
 * GGUF or ONNX; JSON, text and the Sigstore bundle keep their registered types so generic tools recognise them.
 */
public enum FileFormat {
    SAFETENSORS("safetensors", "application/vnd.llavapack.safetensors"),
    SAFETENSORS_INDEX("safetensors index", "application/vnd.llavapack.safetensors.index+json"),
    GGUF("GGUF", "application/vnd.llavapack.gguf"),
    ONNX("ONNX", "application/vnd.llavapack.onnx"),
    ONNX_DATA("ONNX external data", "application/vnd.llavapack.onnx.data"),
    PYTORCH("PyTorch pickle", "application/vnd.llavapack.pytorch"),
    MODEL_CARD("model card", "application/vnd.llavapack.model-card+markdown"),
    BUNDLE_MANIFEST("bundle manifest", "application/vnd.llavapack.manifest.v1+json"),
    CHECKSUMS("checksums", "text/plain; charset=utf-8"),
    SIGNATURE("signature", "application/vnd.dev.sigstore.bundle.v0.3+json"),
    JSON("JSON", "application/json"),
    MARKDOWN("Markdown", "text/markdown; charset=utf-8"),
    HTML("HTML", "text/html; charset=utf-8"),
    TEXT("text", "text/plain; charset=utf-8"),
    OTHER("other", "application/octet-stream");

    private final String label;
    private final String mediaType;

    FileFormat(String label, String mediaType) {
        this.label = label;
        this.mediaType = mediaType;
    }

    public String label() {
        return label;
    }

    public String mediaType() {
        return mediaType;
    }

    /** True for formats that hold tensors. */
    public boolean isWeights() {
        return this == SAFETENSORS || this == GGUF || this == ONNX || this == ONNX_DATA || this == PYTORCH;
    }

    public static FileFormat of(String bundlePath) {
        switch (bundlePath) {
            case BundleLayout.MANIFEST -> { return BUNDLE_MANIFEST; }
            case BundleLayout.SUMS -> { return CHECKSUMS; }
            case BundleLayout.SIGNATURE -> { return SIGNATURE; }
            case BundleLayout.CARD -> { return MODEL_CARD; }
            default -> { }
        }
        String name = bundlePath.substring(bundlePath.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        if (name.endsWith(".safetensors")) return SAFETENSORS;
        if (name.endsWith(".safetensors.index.json")) return SAFETENSORS_INDEX;
        if (name.endsWith(".gguf")) return GGUF;
        if (name.endsWith(".onnx")) return ONNX;
        if (name.endsWith(".onnx.data") || name.endsWith(".onnx_data")) return ONNX_DATA;
        if (name.endsWith(".bin") || name.endsWith(".pth") || name.endsWith(".pt") || name.endsWith(".ckpt")) return PYTORCH;
        if (name.endsWith(".json")) return JSON;
        if (name.endsWith(".md")) return MARKDOWN;
        if (name.endsWith(".html") || name.endsWith(".htm")) return HTML;
        if (name.endsWith(".txt") || name.endsWith(".py") || name.endsWith(".jinja") || name.equals("license")
                || name.startsWith("license.") || name.equals("notice")) return TEXT;
        return OTHER;
    }
}
