package org.llavapack.convert.gguf;

import org.llavapack.BadInputException;
import org.llavapack.formats.gguf.GgmlType;

/**
 * Which ggml type each tensor gets.
 *
 * <p>f32/f16/bf16/q8_0 follow convert_hf_to_gguf.py ({@code prepare_tensors}, gguf spec 2.5): 1-D tensors, names ending
 * {@code _norm.weight} and names not ending {@code .weight} (nor {@code .lora_a}/{@code .lora_b}) stay F32, everything
 * else gets the outtype, and a quantized type whose block does not divide the row falls back to F16.
 *
 * <p>q4_0 and q4_k_m follow llama-quantize ({@code tensor_allows_quantization}, {@code llama_tensor_get_type_impl},
 * {@code tensor_type_fallback} in src/llama-quant.cpp, without an importance matrix) applied to the converter's F32
 * output: only ≥ 2-D tensors ending in {@code weight} (not norms, not position embeddings) are quantized;
 * {@code output.weight} (or a tied {@code token_embd.weight}) becomes Q6_K, or Q8_0 when its row is not a multiple of
 * the default type's block; for Q4_K_M, {@code attn_v} and {@code ffn_down} become Q6_K on layers where
 * {@code use_more_bits} holds; rows that the chosen type cannot hold fall back Q4_K→Q5_0, Q6_K→Q8_0, then F16.
 */
public final class TensorTypes {
    private TensorTypes() {}

    /** The converter's rule for an f32/f16/bf16/q8_0 export. */
    public static GgmlType converter(OutType out, String name, long[] ne, boolean forceF32) {
        if (forceF32 || ne.length <= 1 || name.endsWith("_norm.weight")) return GgmlType.F32;
        if (!(name.endsWith(".weight") || name.endsWith(".lora_a") || name.endsWith(".lora_b"))) return GgmlType.F32;
        if (name.endsWith(".position_embd.weight") || name.equals("v.position_embd.weight")) return GgmlType.F32;
        GgmlType t = out.followsLlamaQuantize() ? GgmlType.F32 : out.defaultType();
        if (t.isQuantized() && ne[0] % t.blockSize() != 0) return GgmlType.F16;
        return t;
    }

    /** Whether llama-quantize would quantize this tensor at all ({@code tensor_allows_quantization}). */
    static boolean quantizable(String name, long[] ne) {
        if (ne.length < 2) return false;
        if (!name.endsWith("weight")) return false;
        if (name.contains("_norm.weight")) return false;
        if (name.contains("ffn_gate_inp.weight")) return false;
        if (name.equals("position_embd.weight") || name.equals("token_types.weight")) return false;
        return !name.contains(".position_embd") && !name.contains(".patch_embd") && !name.contains("attn_rel_b.weight");
    }

    /**
     * llama-quantize's type for a Llama tensor.
     *
     * @param layerIndex the tensor's position among the {@code attn_v} (or {@code ffn_down}) tensors, which for Llama
     *                   is its layer number (llama.cpp walks tensors sorted by layer)
     * @param tiedOutput the model has no {@code output.weight}, so {@code token_embd} is quantized like the output
     */
    public static GgmlType llamaQuantize(OutType out, String name, long[] ne, boolean forceF32, int layerIndex, int nLayers,
                                         boolean tiedOutput) {
        GgmlType base = converter(OutType.F32, name, ne, forceF32);
        if (forceF32 || !quantizable(name, ne)) return base;
        GgmlType def = out.defaultType();
        GgmlType t = def;
        boolean isOutput = name.equals("output.weight") || (tiedOutput && name.equals("token_embd.weight"));
        if (isOutput) {
            if (ne[0] % def.blockSize() != 0) t = GgmlType.Q8_0;
            else if (t != GgmlType.Q8_0) t = GgmlType.Q6_K;
        } else if (name.equals("token_embd.weight")) {
            t = def;
        } else if (name.contains("attn_v.weight") || name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight")) {
            if (out == OutType.Q4_K_M && useMoreBits(layerIndex, nLayers)) t = GgmlType.Q6_K;
        } else if (name.contains("ffn_down")) {
            if (out == OutType.Q4_K_M && useMoreBits(layerIndex, nLayers)) t = GgmlType.Q6_K;
        }
        return fallback(name, ne, t);
    }

    /** {@code use_more_bits}: the first and last eighth of the layers, and every third layer between. */
    static boolean useMoreBits(int i, int n) {
        return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    }

    /** {@code tensor_type_fallback}. */
    static GgmlType fallback(String name, long[] ne, GgmlType t) {
        if (ne[0] % t.blockSize() == 0) return t;
        GgmlType f = switch (t) {
            case Q4_K -> GgmlType.Q5_0;
            case Q6_K -> GgmlType.Q8_0;
            default -> throw new BadInputException((String) null, "tensor " + name + ": rows of " + ne[0]
                    + " values cannot be quantized to " + t + " (llama-quantize has no fallback for it either)", null);
        };
        if (ne[0] % f.blockSize() != 0) f = GgmlType.F16;
        return f;
    }
}
