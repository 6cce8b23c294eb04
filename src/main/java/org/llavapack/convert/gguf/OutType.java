package org.llavapack.convert.gguf;

import java.util.Locale;
import org.llavapack.formats.gguf.GgmlType;

/**
 * {@code --outtype} choices: the converter's own (f32, f16, bf16, q8_0 — convert_hf_to_gguf.py) and llama-quantize's
 * mixtures (q4_0, q4_k_m — src/llama-quant.cpp), with the {@code general.file_type} (llama_ftype) each writes.
 */
public enum OutType {
    F32("f32", GgmlType.F32, 0, false),
    F16("f16", GgmlType.F16, 1, false),
    BF16("bf16", GgmlType.BF16, 32, false),
    Q8_0("q8_0", GgmlType.Q8_0, 7, false),
    Q4_0("q4_0", GgmlType.Q4_0, 2, true),
    Q4_K_M("q4_k_m", GgmlType.Q4_K, 15, true);

    private final String cli;
    private final GgmlType defaultType;
    private final int fileType;
    private final boolean llamaQuantize;

    OutType(String cli, GgmlType defaultType, int fileType, boolean llamaQuantize) {
        this.cli = cli;
        this.defaultType = defaultType;
        this.fileType = fileType;
        this.llamaQuantize = llamaQuantize;
    }

    public String cliName() {
        return cli;
    }

    /** The type most tensors get. */
    public GgmlType defaultType() {
        return defaultType;
    }

    /** {@code general.file_type} (LlamaFileType). */
    public int fileType() {
        return fileType;
    }

    /** Chosen per tensor by llama-quantize's rules rather than the converter's. */
    public boolean followsLlamaQuantize() {
        return llamaQuantize;
    }

    public static OutType parse(String s) {
        String k = s.toLowerCase(Locale.ROOT);
        for (OutType t : values()) if (t.cli.equals(k)) return t;
        throw new IllegalArgumentException("unknown outtype '" + s + "' (f32, f16, bf16, q8_0, q4_0, q4_k_m)");
    }
}
