package org.llavapack.convert.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.convert.WeightTransform;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.formats.gguf.GgufValueType;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

class LlamaGgufExportTest {
    @TempDir
    Path tmp;

    static final Path TINY = TestPaths.checkpoint("tiny-llama");

    private Path export(Path model, OutType t) {
        Path out = tmp.resolve(model.getFileName() + "-" + t.cliName() + ".gguf");
        LlamaGgufExport.run(model, out, new LlamaGgufExport.Options(t, WeightTransform.IDENTITY, true, 2, null), Progress.NONE);
        return out;
    }

    /** numpy's reshape(H, 2, d/2, in).swapaxes(1, 2).reshape(...), as convert_hf_to_gguf.py's permute, by indexing. */
    static float[] permuteLikeNumpy(float[] w, int rows, int cols, int heads) {
        int d = rows / heads;
        float[] out = new float[w.length];
        int r = 0;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {       // axis of size d/2, now second
                for (int j = 0; j < 2; j++) {       // axis of size 2, now third
                    int src = h * d + j * (d / 2) + i;
                    System.arraycopy(w, src * cols, out, r * cols, cols);
                    r++;
                }
            }
        }
        return out;
    }

    private static Map<String, String> hfNames() {
        Map<String, String> m = new HashMap<>();
        m.put("token_embd.weight", "model.embed_tokens.weight");
        m.put("output.weight", "lm_head.weight");
        m.put("output_norm.weight", "model.norm.weight");
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".", g = "blk." + l + ".";
            m.put(g + "attn_norm.weight", p + "input_layernorm.weight");
            m.put(g + "ffn_norm.weight", p + "post_attention_layernorm.weight");
            m.put(g + "attn_q.weight", p + "self_attn.q_proj.weight");
            m.put(g + "attn_k.weight", p + "self_attn.k_proj.weight");
            m.put(g + "attn_v.weight", p + "self_attn.v_proj.weight");
            m.put(g + "attn_output.weight", p + "self_attn.o_proj.weight");
            m.put(g + "ffn_gate.weight", p + "mlp.gate_proj.weight");
            m.put(g + "ffn_up.weight", p + "mlp.up_proj.weight");
            m.put(g + "ffn_down.weight", p + "mlp.down_proj.weight");
        }
        return m;
    }

    /** The source tensor as llama.cpp should see it (Q/K rows permuted). */
    private static float[] expected(TensorStore src, String gguf, String hf) {
        TensorInfo info = src.info(hf).orElseThrow();
        float[] v = src.tensor(hf).toFloatArray();
        if (gguf.contains("attn_q")) return permuteLikeNumpy(v, (int) info.dim(0), (int) info.dim(1), 4);
        if (gguf.contains("attn_k")) return permuteLikeNumpy(v, (int) info.dim(0), (int) info.dim(1), 2);
        return v;
    }

    @Test
    void f16EqualsTheSourceAndQ8_0StaysWithinItsBound() {
        Path f16 = export(TINY, OutType.F16), q8 = export(TINY, OutType.Q8_0), f32 = export(TINY, OutType.F32), bf16 = export(TINY, OutType.BF16);
        Map<String, String> names = hfNames();
        try (TensorStore src = TensorStores.open(TINY); GgufFile a = GgufFile.open(f16); GgufFile b = GgufFile.open(q8);
             GgufFile c = GgufFile.open(f32); GgufFile d = GgufFile.open(bf16)) {
            assertEquals(21, a.tensorInfos().size());
            for (var t : a.tensorInfos()) {
                String hf = names.get(t.name());
                float[] want = expected(src, t.name(), hf);
                boolean oneD = t.ne().length == 1;
                assertEquals(oneD ? GgmlType.F32 : GgmlType.F16, t.type(), t.name());
                assertEquals(oneD ? GgmlType.F32 : GgmlType.Q8_0, b.tensorInfo(t.name()).type(), t.name());
                assertEquals(GgmlType.F32, c.tensorInfo(t.name()).type());
                assertEquals(oneD ? GgmlType.F32 : GgmlType.BF16, d.tensorInfo(t.name()).type());
                assertArrayEquals(src.info(hf).orElseThrow().shape(), t.shape(), "PyTorch-order shape of " + t.name());
                float[] wantF16 = want.clone();
                for (int i = 0; i < wantF16.length; i++) wantF16[i] = Float.float16ToFloat(Float.floatToFloat16(want[i]));
                // bf16 values are f16 values unless they fall below f16's normal range (|x| < 6.1e-5), where RNE applies
                float[] got = a.dequantize(t.name());
                assertArrayEquals(oneD ? want : wantF16, got, t.name() + ": f16 is the exact RNE of the source");
                for (int i = 0; i < want.length; i++) if (Math.abs(want[i]) >= 6.1035156e-5f) assertEquals(want[i], got[i], t.name() + " normal value " + i);
                assertArrayEquals(want, c.dequantize(t.name()), t.name() + " f32");
                assertArrayEquals(want, d.dequantize(t.name()), t.name() + " bf16");
                float[] q = b.dequantize(t.name());
                if (oneD) assertArrayEquals(want, q);
                else org.llavapack.formats.gguf.Q8Bound.check(want, q);
            }
            assertEquals(1, ((GgufValue.Int) a.kv().get("general.file_type")).value());
            assertEquals(7, ((GgufValue.Int) b.kv().get("general.file_type")).value());
            assertEquals(0, ((GgufValue.Int) c.kv().get("general.file_type")).value());
            assertEquals(32, ((GgufValue.Int) d.kv().get("general.file_type")).value());
        }
    }

    @Test
    void metadataHasTheTypesLlamaCppRequires() throws Exception {
        Path f16 = export(TINY, OutType.F16);
        JsonNode tj = new ObjectMapper().readTree(TINY.resolve("tokenizer.json").toFile());
        JsonNode tc = new ObjectMapper().readTree(TINY.resolve("tokenizer_config.json").toFile());
        try (GgufFile g = GgufFile.open(f16)) {
            Map<String, GgufValue> kv = g.kv();
            assertEquals("general.architecture", kv.keySet().iterator().next(), "architecture first");
            assertEquals(GgufValue.str("llama"), kv.get("general.architecture"));
            Object[][] u32 = {{"llama.block_count", 2}, {"llama.context_length", 256}, {"llama.embedding_length", 64},
                {"llama.feed_forward_length", 160}, {"llama.attention.head_count", 4}, {"llama.attention.head_count_kv", 2},
                {"llama.rope.dimension_count", 16}, {"llama.vocab_size", 512}, {"general.quantization_version", 2},
                {"tokenizer.ggml.bos_token_id", 500}, {"tokenizer.ggml.eos_token_id", 509}, {"llama.attention.key_length", 16}};
            for (Object[] e : u32) assertEquals(GgufValue.u32((Integer) e[1]), kv.get((String) e[0]), (String) e[0]);
            assertEquals(GgufValue.f32(500000.0f), kv.get("llama.rope.freq_base"));
            assertEquals(GgufValue.f32(1e-5f), kv.get("llama.attention.layer_norm_rms_epsilon"));
            assertEquals(GgufValue.str("gpt2"), kv.get("tokenizer.ggml.model"));
            assertEquals(GgufValue.str("llama-bpe"), kv.get("tokenizer.ggml.pre"));
            assertEquals(GgufValue.bool(true), kv.get("tokenizer.ggml.add_bos_token"));
            assertEquals(GgufValue.str(tc.get("chat_template").asText()), kv.get("tokenizer.chat_template"));
            assertFalse(kv.containsKey("tokenizer.ggml.eot_token_id"), "converter writes eot only when the template's trailing token differs from eos");
            var tokens = (GgufValue.StringArray) kv.get("tokenizer.ggml.tokens");
            var types = (GgufValue.IntArray) kv.get("tokenizer.ggml.token_type");
            assertEquals(GgufValueType.INT32, types.elementType());
            assertEquals(512, tokens.length());
            tj.get("model").get("vocab").properties().forEach(e -> assertEquals(e.getKey(), tokens.values().get(e.getValue().asInt())));
            for (JsonNode a : tj.get("added_tokens")) assertEquals(a.get("content").asText(), tokens.values().get(a.get("id").asInt()));
            for (int i = 0; i < 512; i++) assertEquals(i >= 500 ? 3 : 1, types.get(i), "token type " + i);
            var merges = (GgufValue.StringArray) kv.get("tokenizer.ggml.merges");
            List<String> want = new ArrayList<>();
            tj.get("model").get("merges").forEach(m -> want.add(m.asText()));
            assertEquals(want, merges.values());
            for (var t : g.tensorInfos()) assertTrue(t.name().getBytes().length < 64);
        }
    }

    /** Semantic check of the permutation: llama.cpp's interleaved RoPE on permuted rows = HF's rotate-half RoPE. */
    @Test
    void permutedRowsWithInterleavedRopeEqualHfRope() {
        int heads = 4, d = 16, in = 8;
        Random r = new Random(3);
        float[] w = new float[heads * d * in], x = new float[in];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < in; i++) x[i] = (float) r.nextGaussian();
        float[] wp = new float[w.length];
        for (int row = 0; row < heads * d; row++) {
            long src = org.llavapack.formats.gguf.QkPermutation.sourceRow(row, heads * d, heads);
            System.arraycopy(w, (int) src * in, wp, row * in, in);
        }
        int pos = 5;
        double theta = 500000;
        double[] hf = new double[heads * d], gg = new double[heads * d];
        for (int row = 0; row < heads * d; row++) {
            for (int i = 0; i < in; i++) {
                hf[row] += w[row * in + i] * x[i];
                gg[row] += wp[row * in + i] * x[i];
            }
        }
        for (int h = 0; h < heads; h++) {
            double[] a = new double[d], b = new double[d];
            for (int i = 0; i < d / 2; i++) {
                double ang = pos / Math.pow(theta, 2.0 * i / d);
                double c = Math.cos(ang), s = Math.sin(ang);
                a[i] = hf[h * d + i] * c - hf[h * d + i + d / 2] * s;          // rotate_half
                a[i + d / 2] = hf[h * d + i + d / 2] * c + hf[h * d + i] * s;
                b[2 * i] = gg[h * d + 2 * i] * c - gg[h * d + 2 * i + 1] * s;  // ggml NORM: adjacent pairs
                b[2 * i + 1] = gg[h * d + 2 * i + 1] * c + gg[h * d + 2 * i] * s;
            }
            for (int i = 0; i < d / 2; i++) {
                assertEquals(a[i], b[2 * i], 1e-9);
                assertEquals(a[i + d / 2], b[2 * i + 1], 1e-9);
            }
        }
    }

    @Test
    void q4KmFollowsLlamaQuantizesTypeChoices() {
        Path q = export(TINY, OutType.Q4_K_M);
        try (GgufFile g = GgufFile.open(q)) {
            assertEquals(15, ((GgufValue.Int) g.kv().get("general.file_type")).value());
            // 64- and 160-wide rows are not multiples of 256: Q4_K falls back to Q5_0, Q6_K to Q8_0
            assertEquals(GgmlType.Q5_0, g.tensorInfo("token_embd.weight").type());
            assertEquals(GgmlType.Q8_0, g.tensorInfo("output.weight").type());
            assertEquals(GgmlType.Q5_0, g.tensorInfo("blk.0.attn_v.weight").type());
            assertEquals(GgmlType.Q8_0, g.tensorInfo("blk.1.attn_v.weight").type(), "use_more_bits(1, 2)");
            assertEquals(GgmlType.Q8_0, g.tensorInfo("blk.1.ffn_down.weight").type());
            assertEquals(GgmlType.Q5_0, g.tensorInfo("blk.0.ffn_down.weight").type());
            assertEquals(GgmlType.F32, g.tensorInfo("blk.0.attn_norm.weight").type());
        }
    }

    /** Llama-3-8B shapes: llama-quantize reports f32 65, q4_K 193, q6_K 33 tensors for Q4_K_M. */
    @Test
    void q4KmMixtureForLlama3_8BShapes() {
        Map<GgmlType, Integer> count = new EnumMap<>(GgmlType.class);
        List<Object[]> ts = new ArrayList<>();
        ts.add(new Object[] {"token_embd.weight", new long[] {4096, 128256}, -1});
        ts.add(new Object[] {"output.weight", new long[] {4096, 128256}, -1});
        ts.add(new Object[] {"output_norm.weight", new long[] {4096}, -1});
        for (int l = 0; l < 32; l++) {
            for (String n : List.of("attn_q", "attn_output")) ts.add(new Object[] {"blk." + l + "." + n + ".weight", new long[] {4096, 4096}, l});
            for (String n : List.of("attn_k", "attn_v")) ts.add(new Object[] {"blk." + l + "." + n + ".weight", new long[] {4096, 1024}, l});
            for (String n : List.of("ffn_gate", "ffn_up")) ts.add(new Object[] {"blk." + l + "." + n + ".weight", new long[] {4096, 14336}, l});
            ts.add(new Object[] {"blk." + l + ".ffn_down.weight", new long[] {14336, 4096}, l});
            for (String n : List.of("attn_norm", "ffn_norm")) ts.add(new Object[] {"blk." + l + "." + n + ".weight", new long[] {4096}, l});
        }
        List<Integer> q6v = new ArrayList<>();
        for (Object[] t : ts) {
            String name = (String) t[0];
            GgmlType type = TensorTypes.llamaQuantize(OutType.Q4_K_M, name, (long[]) t[1], name.endsWith("_norm.weight"), (Integer) t[2], 32, false);
            count.merge(type, 1, Integer::sum);
            if (name.contains("attn_v") && type == GgmlType.Q6_K) q6v.add((Integer) t[2]);
        }
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q4_K, 193, GgmlType.Q6_K, 33), count);
        assertEquals(List.of(0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31), q6v);
        // Q4_0 (llama-quantize): everything Q4_0 except output.weight, which becomes Q6_K
        assertEquals(GgmlType.Q6_K, TensorTypes.llamaQuantize(OutType.Q4_0, "output.weight", new long[] {4096, 128256}, false, -1, 32, false));
        assertEquals(GgmlType.Q4_0, TensorTypes.llamaQuantize(OutType.Q4_0, "blk.0.attn_v.weight", new long[] {4096, 1024}, false, 0, 32, false));
        // tied embeddings: token_embd is quantized like the output
        assertEquals(GgmlType.Q6_K, TensorTypes.llamaQuantize(OutType.Q4_K_M, "token_embd.weight", new long[] {2048, 128256}, false, -1, 16, true));
        assertEquals(GgmlType.Q4_K, TensorTypes.llamaQuantize(OutType.Q4_K_M, "token_embd.weight", new long[] {2048, 128256}, false, -1, 16, false));
    }

    @Test
    void llama3RopeScalingAddsRopeFreqsFirst() throws Exception {
        Path m = Fixtures.copyDir(TINY, tmp.resolve("rope31"));
        ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(m.resolve("config.json").toFile());
        ObjectNode rs = cfg.putObject("rope_scaling");
        rs.put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        Files.writeString(m.resolve("config.json"), cfg.toPrettyString());
        Path out = export(m, OutType.F16);
        try (GgufFile g = GgufFile.open(out)) {
            var t = g.tensorInfos().get(0);
            assertEquals("rope_freqs.weight", t.name());
            assertEquals(GgmlType.F32, t.type());
            assertArrayEquals(new long[] {8}, t.shape());
            float[] f = g.dequantize("rope_freqs.weight");
            for (int i = 0; i < 8; i++) {
                double wavelen = 2 * Math.PI * Math.pow(500000.0, 2.0 * i / 16);
                double want = wavelen < 2048 ? 1 : wavelen > 8192 ? 8 : 1 / ((1 - (8192 / wavelen - 1) / 3) / 8 + (8192 / wavelen - 1) / 3);
                assertEquals(want, f[i], 1e-6, "rope factor " + i);
            }
            assertEquals(1f, f[0]);
            assertEquals(8f, f[7]);
            assertTrue(f[4] > 1 && f[4] < 8, "the blend band: " + f[4]);
            assertFalse(g.kv().containsKey("llama.rope.scaling.type"), "llama3 scaling writes no KV");
        }
    }

    @Test
    void tiedEmbeddingsWriteNoOutputTensor() throws Exception {
        Path m = tmp.resolve("tied");
        Files.createDirectories(m);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(TINY.resolve(f), m.resolve(f));
        ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(TINY.resolve("config.json").toFile());
        cfg.put("tie_word_embeddings", true);
        Files.writeString(m.resolve("config.json"), cfg.toPrettyString());
        List<Fixtures.T> ts = new ArrayList<>();
        try (TensorStore src = TensorStores.open(TINY)) {
            for (TensorInfo t : src.tensors()) if (!t.name().equals("lm_head.weight")) ts.add(new Fixtures.T(t.name(), t.shape(), src.tensor(t.name()).toFloatArray()));
        }
        Fixtures.safetensors(m.resolve("model.safetensors"), DType.BF16, ts);
        try (GgufFile g = GgufFile.open(export(m, OutType.Q4_K_M))) {
            assertEquals(20, g.tensorInfos().size());
            assertTrue(g.tensorInfos().stream().noneMatch(t -> t.name().equals("output.weight")));
            assertEquals(GgmlType.Q8_0, g.tensorInfo("token_embd.weight").type(), "tied token_embd is treated as the output");
        }
    }

    @Test
    void exportIsDeterministic() throws Exception {
        Path a = export(TINY, OutType.Q4_K_M);
        byte[] first = Files.readAllBytes(a);
        Files.delete(a);
        assertArrayEquals(first, Files.readAllBytes(export(TINY, OutType.Q4_K_M)));
    }

    @Test
    void refusesWhatItCannotExportFaithfully() throws Exception {
        Path m = Fixtures.copyDir(TINY, tmp.resolve("pre"));
        ObjectNode tj = (ObjectNode) new ObjectMapper().readTree(m.resolve("tokenizer.json").toFile());
        tj.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", true);
        Files.writeString(m.resolve("tokenizer.json"), tj.toString());
        var e = assertThrows(BadInputException.class, () -> export(m, OutType.F16));
        assertTrue(e.getMessage().contains("unknown pre-tokenizer") && e.getMessage().contains("llama-bpe"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("pre-f16.gguf")), "nothing written");

        Path noTok = Fixtures.copyDir(TINY, tmp.resolve("notok"));
        Files.delete(noTok.resolve("tokenizer.json"));
        assertTrue(assertThrows(BadInputException.class, () -> export(noTok, OutType.F16)).getMessage().contains("tokenizer.json"));

        Path gpt2 = TestPaths.checkpoint("tiny-conv1d-base");
        assertTrue(assertThrows(BadInputException.class, () -> export(gpt2, OutType.F16)).getMessage().contains("not a Llama model"));

        Path yarn = Fixtures.copyDir(TINY, tmp.resolve("yarn"));
        ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(yarn.resolve("config.json").toFile());
        cfg.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
        Files.writeString(yarn.resolve("config.json"), cfg.toPrettyString());
        assertTrue(assertThrows(BadInputException.class, () -> export(yarn, OutType.F16)).getMessage().contains("yarn"));
    }
}
