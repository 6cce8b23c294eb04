package org.llavapack.convert.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.convert.AdapterMerge;
import org.llavapack.convert.MergeLora;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore;

/**
 * {@code export gguf --adapter}: the adapter merged while streaming must give what PyTorch's merge gives
 * (test-checkpoints/expected, computed by generate_llama.py) and exactly what merge-lora writes.
 */
class AdapterMergeExportTest {
    @TempDir
    Path tmp;

    static final Path TINY = TestPaths.checkpoint("tiny-llama");

    private Path export(Path model, String adapter, OutType t) {
        Path out = tmp.resolve(adapter + "-" + t.cliName() + ".gguf");
        try (AdapterMerge m = AdapterMerge.open(TestPaths.checkpoint(adapter), model)) {
            LlamaGgufExport.run(model, out, new LlamaGgufExport.Options(t, m, true, 2, null), Progress.NONE);
        }
        return out;
    }

    /** GGUF name → HF name for the tiny model's two layers. */
    private static Map<String, String> names() {
        Map<String, String> m = new HashMap<>();
        m.put("token_embd.weight", "model.embed_tokens.weight");
        m.put("output.weight", "lm_head.weight");
        m.put("output_norm.weight", "model.norm.weight");
        String[][] pairs = {{"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}, {"attn_q", "self_attn.q_proj"},
            {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"},
            {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}};
        for (int l = 0; l < 2; l++) {
            for (String[] p : pairs) m.put("blk." + l + "." + p[0] + ".weight", "model.layers." + l + "." + p[1] + ".weight");
        }
        return m;
    }

    /** The HF tensor as it appears in the GGUF file: Q/K rows permuted for llama.cpp's interleaved RoPE. */
    private static float[] asGguf(String gguf, float[] hf, long rows, long cols) {
        if (gguf.contains("attn_q")) return LlamaGgufExportTest.permuteLikeNumpy(hf, (int) rows, (int) cols, 4);
        if (gguf.contains("attn_k")) return LlamaGgufExportTest.permuteLikeNumpy(hf, (int) rows, (int) cols, 2);
        return hf;
    }

    @Test
    void f32ExportMatchesPyTorchsMergeAndEqualsMergeLoraBitForBit() {
        Path gguf = export(TINY, "tiny-llama-lora", OutType.F32);
        Path merged = tmp.resolve("merged");
        try (TensorStore base = TensorStores.open(TINY); PeftAdapter a = PeftAdapter.open(TestPaths.checkpoint("tiny-llama-lora"), base, TINY)) {
            MergeLora.run(base, TINY, a, merged, new MergeLora.Options(Optional.of(DType.F32), 5_000_000_000L, 2, false), Progress.NONE, w -> {});
        }
        int compared = 0;
        try (GgufFile g = GgufFile.open(gguf); TensorStore py = TensorStores.open(TestPaths.checkpoint("expected").resolve("merged-lora-f32.safetensors"));
             TensorStore ml = TensorStores.open(merged); TensorStore base = TensorStores.open(TINY)) {
            for (var t : g.tensorInfos()) {
                if (t.name().equals("rope_freqs.weight")) continue;
                String hf = names().get(t.name());
                var info = base.info(hf).orElseThrow();
                long rows = info.dim(0), cols = info.shape().length > 1 ? info.dim(1) : 1;
                float[] got = g.dequantize(t.name());
                assertArrayEquals(asGguf(t.name(), ml.tensor(hf).toFloatArray(), rows, cols), got, t.name() + ": export --adapter = merge-lora --dtype f32");
                if (py.contains(hf)) {
                    float[] want = asGguf(t.name(), py.tensor(hf).toFloatArray(), rows, cols);
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 3e-8 + 1.2e-7 * Math.abs(want[i]), t.name() + "[" + i + "] vs PyTorch");
                    }
                    compared++;
                } else {
                    assertArrayEquals(asGguf(t.name(), base.tensor(hf).toFloatArray(), rows, cols), got, t.name() + " is untouched");
                }
            }
        }
        assertTrue(compared >= 8, "LoRA-targeted tensors compared: " + compared);
    }

    @Test
    void f16RoundsTheMergedFp32ValueOnce() {
        Path f32 = export(TINY, "tiny-llama-lora", OutType.F32), f16 = export(TINY, "tiny-llama-lora", OutType.F16);
        try (GgufFile a = GgufFile.open(f32); GgufFile b = GgufFile.open(f16)) {
            for (var t : b.tensorInfos()) {
                float[] want = a.dequantize(t.name());
                if (t.ne().length > 1) for (int i = 0; i < want.length; i++) want[i] = Float.float16ToFloat(Float.floatToFloat16(want[i]));
                assertArrayEquals(want, b.dequantize(t.name()), t.name());
            }
        }
    }

    @Test
    void doraAndModulesToSaveFollowPyTorch() {
        String[][] cases = {{"tiny-llama-lora-dora", "merged-lora-dora.safetensors"}, {"tiny-llama-lora-modules-to-save", "merged-lora-modules-to-save.safetensors"}};
        for (String[] c : cases) {
            Path gguf = export(TINY, c[0], OutType.F32);
            int compared = 0;
            try (GgufFile g = GgufFile.open(gguf); TensorStore py = TensorStores.open(TestPaths.checkpoint("expected").resolve(c[1])); TensorStore base = TensorStores.open(TINY)) {
                for (var t : g.tensorInfos()) {
                    String hf = names().get(t.name());
                    if (hf == null || !py.contains(hf)) continue;
                    var info = base.info(hf).orElseThrow();
                    long rows = info.dim(0), cols = info.shape().length > 1 ? info.dim(1) : 1;
                    // the expected files hold the merge rounded to the base dtype (bf16), as merge-lora writes it
                    float[] want = asGguf(t.name(), py.tensor(hf).toFloatArray(), rows, cols);
                    float[] got = g.dequantize(t.name());
                    int off = 0;
                    for (int i = 0; i < want.length; i++) {
                        DType dt = py.info(hf).orElseThrow().dtype();
                        float rounded = roundToDType(got[i], dt);
                        if (rounded != want[i]) {
                            off++;
                            // one ulp of the stored type (merge-lora measured 2 of 86,016 DoRA values there)
                            double ulp = Math.ulp(want[i]) * (dt == DType.BF16 ? 65536 : dt == DType.F16 ? 8192 : 1);
                            assertEquals(want[i], rounded, ulp * 1.01, c[0] + " " + t.name() + "[" + i + "]");
                        }
                    }
                    assertTrue(off <= Math.max(2, want.length / 10_000), c[0] + " " + t.name() + ": " + off + " values 1 ulp off");
                    compared++;
                }
            }
            assertTrue(compared >= 1, c[0] + ": nothing compared");
        }
    }

    private static float roundToDType(float v, DType t) {
        return switch (t) {
            case F32 -> v;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case BF16 -> org.llavapack.tensor.BFloat16.toFloat(org.llavapack.tensor.BFloat16.fromFloat(v));
            default -> throw new IllegalArgumentException(t.toString());
        };
    }

    @Test
    void anAdapterForAnotherModelIsRefusedBeforeWriting() {
        Path out = tmp.resolve("x.gguf");
        var e = assertThrows(BadInputException.class, () -> AdapterMerge.open(TestPaths.checkpoint("tiny-conv1d-lora"), TINY));
        assertTrue(e.getMessage().contains("tiny-conv1d-lora"), e.getMessage());
        assertTrue(!out.toFile().exists());
    }
}
