package org.llavapack.llamacpp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.cli.CliRunner;
import org.llavapack.convert.WeightTransform;
import org.llavapack.convert.gguf.Fixtures;
import org.llavapack.convert.gguf.LlamaGgufExport;
import org.llavapack.convert.gguf.LoraGgufExport;
import org.llavapack.convert.gguf.MmprojExport;
import org.llavapack.convert.gguf.OutType;
import org.llavapack.formats.gguf.BlockCodec;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorStore;

/**
 * The independent check with real llama.cpp (b4916 inside de.kherud:llama 4.2.0), always in a forked JVM
 * ({@link LlamaCpp}): its C GGUF reader accepts every file llavapack writes, its reference quantizers produce the
 * same bytes, it tokenizes as Hugging Face does, and its greedy continuation equals the reference forward's.
 */
class LlamaCppIT {
    @TempDir
    static Path tmp;

    static final Path TINY = TestPaths.checkpoint("tiny-llama");
    static int[] promptIds;
    static int[] expectedGreedy;
    static float[] expectedLastLogits;

    @BeforeAll
    static void reference() {
        try (SafetensorsFile exp = SafetensorsFile.open(TestPaths.checkpoint("expected/llama-logits.safetensors"))) {
            promptIds = new int[14];
            for (int i = 0; i < 14; i++) promptIds[i] = (int) exp.tensor("input_ids").getLong(i);
            expectedGreedy = new int[16];
            for (int i = 0; i < 16; i++) expectedGreedy[i] = (int) exp.tensor("greedy").getLong(i);
            float[] all = exp.tensor("logits").toFloatArray();
            expectedLastLogits = Arrays.copyOfRange(all, 13 * 512, 14 * 512);
        }
    }

    private static Path cliExport(String outtype) {
        Path out = tmp.resolve("tiny-" + outtype + ".gguf");
        if (Files.exists(out)) return out;
        var r = CliRunner.run("export", "gguf", TINY.toString(), out.toString(), "--outtype", outtype);
        assertEquals(0, r.exit(), r.stderr());
        return out;
    }

    private static int agreement(int[] a, int[] b) {
        int k = 0;
        while (k < Math.min(a.length, b.length) && a[k] == b[k]) k++;
        return k;
    }

    private static String[] greedyArgs(Path model, String lora, float scale, int steps, Path logits, int[] prompt) {
        List<String> a = new ArrayList<>(List.of("greedy", model.toString(), lora, Float.toString(scale), Integer.toString(steps), logits.toString()));
        for (int id : prompt) a.add(Integer.toString(id));
        return a.toArray(String[]::new);
    }

    @Test
    void theCReaderAcceptsEveryFileLlavapackWrites() {
        List<String> files = new ArrayList<>();
        Map<String, Integer> tensors = new HashMap<>();
        for (String t : List.of("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m")) {
            Path p = cliExport(t);
            files.add(p.toString());
            tensors.put(p.getFileName().toString(), 21);
        }
        Path lora = tmp.resolve("lora-q8.gguf");
        LoraGgufExport.run(TestPaths.checkpoint("tiny-llama-lora"), TINY, lora, new LoraGgufExport.Options(OutType.Q8_0, true, 2, null), Progress.NONE);
        files.add(lora.toString());
        tensors.put("lora-q8.gguf", 28);
        Path proj = tmp.resolve("proj");
        org.llavapack.convert.gguf.LoraAndMmprojExportTestAccess.projector(proj);
        Path mm = tmp.resolve("mmproj.gguf");
        MmprojExport.run(TestPaths.checkpoint("tiny-plip"), proj, mm, new MmprojExport.Options(OutType.F16, -2, true, 2, null), Progress.NONE);
        files.add(mm.toString());
        tensors.put("mmproj.gguf", 41);
        List<String> args = new ArrayList<>(List.of("gguf-check"));
        args.addAll(files);
        var r = LlamaCpp.run(args.toArray(String[]::new));
        tensors.forEach((f, n) -> {
            String v = r.get("gguf:" + f);
            assertTrue(v.startsWith("ok " + n + " "), f + ": " + v);
            try (GgufFile g = GgufFile.open(tmp.resolve(f))) {
                assertEquals("ok " + n + " " + g.kv().size() + " " + g.dataStart(), v, f + ": same counts and data offset as llavapack's reader");
            }
        });
    }

    @Test
    void quantizersAreByteIdenticalToLlamaCppsReference() throws Exception {
        float[] x = new float[256 * 256];
        Random r = new Random(2024);
        for (int i = 0; i < x.length; i++) {
            int block = i / 256;
            x[i] = switch (block % 6) {
                case 0 -> (float) r.nextGaussian() * 0.02f;
                case 1 -> (float) r.nextGaussian();
                case 2 -> (i % 32 == 3 ? 40f : (float) r.nextGaussian() * 0.5f);
                case 3 -> block % 12 == 3 ? 0f : (float) r.nextGaussian() * 1e-5f;
                case 4 -> (float) (r.nextDouble() * 0.1);
                default -> (i % 2 == 0 ? 1 : -1) * (i % 17) / 8f;
            };
        }
        try (TensorStore s = org.llavapack.formats.TensorStores.open(TINY)) {
            float[] w = s.tensor("model.layers.0.mlp.down_proj.weight").toFloatArray(); // real bf16 weights, 10240 values
            System.arraycopy(w, 0, x, 0, w.length);
        }
        Path in = tmp.resolve("quant-in.f32");
        LlamaCpp.writeFloats(in, x);
        Map<String, GgmlType> types = Map.of("q8_0", GgmlType.Q8_0, "q4_0", GgmlType.Q4_0, "q5_0", GgmlType.Q5_0, "q4_K", GgmlType.Q4_K, "q6_K", GgmlType.Q6_K);
        List<String> args = new ArrayList<>(List.of("quantize"));
        types.keySet().forEach(t -> args.addAll(List.of(t, in.toString(), tmp.resolve("ref-" + t + ".bin").toString())));
        var res = LlamaCpp.run(args.toArray(String[]::new));
        for (var e : types.entrySet()) {
            res.get("quantized:ref-" + e.getKey() + ".bin");
            byte[] ref = Files.readAllBytes(tmp.resolve("ref-" + e.getKey() + ".bin"));
            byte[] mine = new byte[(int) e.getValue().rowBytes(x.length)];
            BlockCodec.of(e.getValue()).quantize(x, 0, x.length, mine, 0);
            int firstDiff = -1;
            for (int i = 0; i < ref.length && firstDiff < 0; i++) if (ref[i] != mine[i]) firstDiff = i;
            assertEquals(-1, firstDiff, e.getKey() + ": first differing byte " + firstDiff + " (block " + (firstDiff / Math.max(1, e.getValue().typeSize())) + ")");
            assertArrayEquals(ref, mine, e.getKey());
        }
    }

    @Test
    void tinyLlamaTokenizesAndContinuesLikeThePyTorchReference() throws Exception {
        Path f16 = cliExport("f16");
        // tokenization: llama.cpp vs the committed cases (the generator's BPE) and vs HF tokenizers (DJL)
        JsonNode cases = new ObjectMapper().readTree(TestPaths.checkpoint("expected/tokenizer-cases.json").toFile()).get("cases");
        List<String> args = new ArrayList<>(List.of("model", f16.toString()));
        for (JsonNode c : cases) args.addAll(List.of("encode", LlamaCpp.b64(c.get("text").asText())));
        args.addAll(List.of("generate", "16", LlamaCpp.b64("The tumor cells show nuclear pleomorphism and")));
        var r = LlamaCpp.run(args.toArray(String[]::new));
        assertEquals("ok", r.get("loaded"), r.stderr());
        try (HuggingFaceTokenizer hf = hf(TINY.resolve("tokenizer.json"))) {
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                int[] want = new int[c.get("ids").size()];
                for (int i = 0; i < want.length; i++) want[i] = c.get("ids").get(i).asInt();
                String v = r.get("encode:" + LlamaCpp.b64(text));
                assertArrayEquals(want, LlamaCpp.ids(v), "llama.cpp tokenization of '" + text + "'");
                assertArrayEquals(want, Arrays.stream(hf.encode(text).getIds()).mapToInt(l -> (int) l).toArray(), "HF tokenization of '" + text + "'");
            }
        }
        // the binding's own greedy generation, as text, equals the decoded reference continuation
        StringBuilder got = new StringBuilder();
        for (String piece : r.get("generate").split(",")) if (!piece.isEmpty()) got.append(LlamaCpp.unb64(piece));
        assertEquals(decode(TINY, expectedGreedy), got.toString());
    }

    @Test
    void tinyLlamaGreedyTokensAndLogitsPerOuttype() throws Exception {
        StringBuilder report = new StringBuilder("tiny-llama in llama.cpp b4916 (prompt of 14 tokens, 16 greedy steps):\n");
        for (String t : List.of("f32", "f16", "bf16", "q8_0", "q4_k_m", "q4_0")) {
            Path logits = tmp.resolve("logits-" + t + ".f32");
            var r = LlamaCpp.run(greedyArgs(cliExport(t), "-", 1f, 16, logits, promptIds));
            int[] got = LlamaCpp.ids(r.get("greedy"));
            float[] lg = LlamaCpp.floats(logits);
            double maxDiff = 0;
            for (int v = 0; v < 512; v++) maxDiff = Math.max(maxDiff, Math.abs(lg[v] - expectedLastLogits[v]));
            int agree = agreement(got, expectedGreedy);
            report.append(String.format(Locale.ROOT, "  %-7s greedy agrees on %2d/16 tokens; step-0 max |Δlogit| vs PyTorch %.4f%n", t, agree, maxDiff));
            switch (t) {
                case "f32", "f16", "bf16" -> {
                    assertArrayEquals(expectedGreedy, got, t);
                    // llama.cpp rounds activations to the weight type for its dot products (f16, bf16)
                    assertTrue(maxDiff < (t.equals("f32") ? 0.01 : t.equals("f16") ? 0.05 : 0.2), t + " logits differ by " + maxDiff);
                }
                case "q8_0" -> assertTrue(agree >= 15, "q8_0 agrees on " + agree + "/16 (needs >= 90%)");
                // 4-bit types on a 64-wide toy model lose the argmax early (q4_0 measured 2/16, q4_k_m 13/16): they are
                // checked for loading and running here, and their bytes against llama.cpp's quantizers elsewhere
                default -> assertTrue(agree >= 1, t + " agrees on no token");
            }
        }
        System.out.print(report);
    }

    @Test
    void loraAdapterAppliedByLlamaCppMatchesTheUnmergedReference() throws Exception {
        Path base = cliExport("f32");
        Path lora = tmp.resolve("tiny-lora-f32.gguf");
        LoraGgufExport.run(TestPaths.checkpoint("tiny-llama-lora"), TINY, lora, new LoraGgufExport.Options(OutType.F32, true, 2, null), Progress.NONE);
        LlamaReference ref = LlamaReferenceTest.tiny();
        try (SafetensorsFile a = SafetensorsFile.open(TestPaths.checkpoint("tiny-llama-lora/adapter_model.safetensors"))) {
            for (String n : a.tensors().stream().map(t -> t.name()).filter(n -> n.contains("lora_A")).toList()) {
                String module = n.substring("base_model.model.".length(), n.indexOf(".lora_A"));
                ref.addLora(module, a.tensor(n).toFloatArray(), a.tensor(n.replace("lora_A", "lora_B")).toFloatArray(), 2.0);
            }
        }
        LlamaReference.Greedy want = ref.greedy(promptIds, 16);
        try (SafetensorsFile exp = SafetensorsFile.open(TestPaths.checkpoint("expected/llama-lora-logits.safetensors"))) {
            float[] l = exp.tensor("logits").toFloatArray();
            float[][] mine = ref.forward(promptIds);
            for (int v = 0; v < 512; v++) assertEquals(l[13 * 512 + v], mine[13][v], 1e-3, "reference LoRA forward vs PyTorch, logit " + v);
        }
        Path logits = tmp.resolve("lora-logits.f32");
        var r = LlamaCpp.run(greedyArgs(base, lora.toString(), 1f, 16, logits, promptIds));
        assertEquals("ok", r.get("lora"));
        int[] got = LlamaCpp.ids(r.get("greedy"));
        int agree = agreement(got, want.ids());
        System.out.printf(Locale.ROOT, "tiny-llama + LoRA GGUF (alpha 16, r 8) in llama.cpp: %d/16 greedy tokens equal the unmerged fp32 reference (min margin %.3f)%n",
                agree, want.minMargin());
        // compare up to the first step whose reference margin is too thin to decide
        int decisive = 0;
        while (decisive < 16 && want.margins()[decisive] > 0.05f) decisive++;
        assertTrue(agree >= decisive, "agreement " + agree + " < decisive prefix " + decisive + ": " + Arrays.toString(got) + " vs " + Arrays.toString(want.ids()));
        float[] lg = LlamaCpp.floats(logits);
        float[][] mine = ref.forward(promptIds);
        double maxDiff = 0;
        for (int v = 0; v < 512; v++) maxDiff = Math.max(maxDiff, Math.abs(lg[v] - mine[13][v]));
        assertTrue(maxDiff < 0.05, "step-0 logits with the adapter differ by " + maxDiff);

        // the same adapter merged during export (export gguf --adapter) runs in llama.cpp without --lora
        Path merged = tmp.resolve("tiny-merged-f32.gguf");
        var e = CliRunner.run("export", "gguf", TINY.toString(), merged.toString(), "--outtype", "f32", "--adapter", TestPaths.checkpoint("tiny-llama-lora").toString());
        assertEquals(0, e.exit(), e.stderr());
        Path mergedLogits = tmp.resolve("merged-logits.f32");
        int[] gotMerged = LlamaCpp.ids(LlamaCpp.run(greedyArgs(merged, "-", 1f, 16, mergedLogits, promptIds)).get("greedy"));
        assertTrue(agreement(gotMerged, want.ids()) >= decisive, "export --adapter in llama.cpp: " + Arrays.toString(gotMerged) + " vs " + Arrays.toString(want.ids()));
        float[] ml = LlamaCpp.floats(mergedLogits);
        double mergedDiff = 0;
        for (int v = 0; v < 512; v++) mergedDiff = Math.max(mergedDiff, Math.abs(ml[v] - mine[13][v]));
        System.out.printf(Locale.ROOT, "export gguf --adapter (f32) in llama.cpp: %d/16 greedy tokens equal, step-0 max |Δlogit| %.5f%n",
                agreement(gotMerged, want.ids()), mergedDiff);
        assertTrue(mergedDiff < 0.05, "step-0 logits of the merged export differ by " + mergedDiff);
    }

    /** The acceptance run with the real Llama-3 vocabulary (128256 tokens) on a tiny random model. */
    @Test
    void realLlama3TokenizerModelTokenizesAndContinuesLikeTheReference() throws Exception {
        var folder = Llama3Tokenizer.folder();
        Assumptions.assumeTrue(folder.isPresent() || Boolean.getBoolean("llavapack.requireNpm") && fail(Llama3Tokenizer.failure()),
                () -> "skipped: " + Llama3Tokenizer.failure());
        Path tok = folder.get();
        Path model = tmp.resolve("llama3-vocab-tiny");
        Files.createDirectories(model);
        Files.copy(tok.resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        Files.copy(tok.resolve("tokenizer_config.json"), model.resolve("tokenizer_config.json"));
        Files.writeString(model.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "vocab_size": 128256, "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "max_position_embeddings": 1024,
                 "bos_token_id": 128000, "eos_token_id": 128001, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
                 "hidden_act": "silu", "rope_scaling": null}
                """);
        int[] prompt = {128000, 9906, 1917, 0, 61885, 420, 77041, 2217, 13}; // BOS + "Hello world! Describe this pathology image."
        LlamaReference ref = null;
        LlamaReference.Greedy want = null;
        long seed;
        // seeds 1-16 leave some greedy step with a top-1/top-2 gap below 1.0; start at 17 and search on if the
        // generator changes
        for (seed = 17; seed <= 60; seed++) {
            writeRandomLlama(model.resolve("model.safetensors"), seed);
            try (TensorStore s = org.llavapack.formats.TensorStores.open(model)) {
                ref = new LlamaReference(s, 64, 128, 2, 4, 2, 16, 128256, 500000.0, 1e-5);
            }
            want = ref.greedy(prompt, 16);
            if (want.minMargin() >= 1.0f && Arrays.stream(want.ids()).allMatch(i -> i < 128000)) break;
        }
        assertTrue(seed <= 60, "no seed gave clear margins");
        Path f16 = tmp.resolve("llama3-f16.gguf"), q8 = tmp.resolve("llama3-q8_0.gguf");
        LlamaGgufExport.run(model, f16, new LlamaGgufExport.Options(OutType.F16, WeightTransform.IDENTITY, true, 2, null), Progress.NONE);
        LlamaGgufExport.run(model, q8, new LlamaGgufExport.Options(OutType.Q8_0, WeightTransform.IDENTITY, true, 2, null), Progress.NONE);

        List<String> texts = List.of("Hello world! Describe this pathology image.",
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat is shown?<|eot_id|>",
                "Nuclear pleomorphism, 12345 mitoses/10 HPF; don't   over-call it.\n\n\tÉtude: 肿瘤细胞 🔬",
                "  leading spaces and trailing   ", "I'm sure they'll say it's 3.14159 vs 2,718");
        List<String> args = new ArrayList<>(List.of("model", f16.toString()));
        for (String t : texts) args.addAll(List.of("encode", LlamaCpp.b64(t)));
        var r = LlamaCpp.run(args.toArray(String[]::new));
        assertEquals("ok", r.get("loaded"), r.stderr());
        try (HuggingFaceTokenizer hf = hf(model.resolve("tokenizer.json"))) {
            for (String t : texts) {
                int[] hfIds = Arrays.stream(hf.encode(t).getIds()).mapToInt(l -> (int) l).toArray();
                assertArrayEquals(hfIds, LlamaCpp.ids(r.get("encode:" + LlamaCpp.b64(t))), "tokenization of '" + t + "'");
            }
            assertArrayEquals(Arrays.copyOfRange(prompt, 1, prompt.length), Arrays.stream(hf.encode(texts.get(0)).getIds()).mapToInt(l -> (int) l).toArray());
        }
        StringBuilder report = new StringBuilder(String.format(Locale.ROOT,
                "Llama-3 vocabulary model (seed %d, min reference margin %.2f) in llama.cpp:%n", seed, want.minMargin()));
        for (Path p : List.of(f16, q8)) {
            Path logits = tmp.resolve(p.getFileName() + ".logits");
            var g = LlamaCpp.run(greedyArgs(p, "-", 1f, 16, logits, prompt));
            int[] got = LlamaCpp.ids(g.get("greedy"));
            assertEquals("128256", g.get("n_vocab"));
            int agree = agreement(got, want.ids());
            float[] lg = LlamaCpp.floats(logits);
            float[][] mine = ref.forward(prompt);
            double maxDiff = 0;
            for (int v = 0; v < 128256; v++) maxDiff = Math.max(maxDiff, Math.abs(lg[v] - mine[prompt.length - 1][v]));
            report.append(String.format(Locale.ROOT, "  %-18s greedy agrees on %2d/16; step-0 max |Δlogit| %.4f%n", p.getFileName(), agree, maxDiff));
            if (p == f16) assertArrayEquals(want.ids(), got, "f16 greedy");
            else assertTrue(agree >= 15, "q8_0 agrees on " + agree + "/16");
        }
        System.out.print(report);
    }

    private static boolean fail(String why) {
        throw new AssertionError(why);
    }

    /** bf16 weights with clear greedy margins: large lm_head, as the committed generator does. */
    static void writeRandomLlama(Path file, long seed) {
        Random r = new Random(seed);
        List<Fixtures.T> ts = new ArrayList<>();
        ts.add(new Fixtures.T("model.embed_tokens.weight", new long[] {128256, 64}, gauss(r, 128256 * 64, 0.5f, 0)));
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            ts.add(new Fixtures.T(p + "input_layernorm.weight", new long[] {64}, gauss(r, 64, 0.1f, 1)));
            ts.add(new Fixtures.T(p + "post_attention_layernorm.weight", new long[] {64}, gauss(r, 64, 0.1f, 1)));
            ts.add(new Fixtures.T(p + "self_attn.q_proj.weight", new long[] {64, 64}, gauss(r, 64 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "self_attn.k_proj.weight", new long[] {32, 64}, gauss(r, 32 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "self_attn.v_proj.weight", new long[] {32, 64}, gauss(r, 32 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "self_attn.o_proj.weight", new long[] {64, 64}, gauss(r, 64 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "mlp.gate_proj.weight", new long[] {128, 64}, gauss(r, 128 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "mlp.up_proj.weight", new long[] {128, 64}, gauss(r, 128 * 64, 0.1f, 0)));
            ts.add(new Fixtures.T(p + "mlp.down_proj.weight", new long[] {64, 128}, gauss(r, 64 * 128, 0.08f, 0)));
        }
        ts.add(new Fixtures.T("model.norm.weight", new long[] {64}, gauss(r, 64, 0.1f, 1)));
        ts.add(new Fixtures.T("lm_head.weight", new long[] {128256, 64}, gauss(r, 128256 * 64, 3f, 0)));
        Fixtures.safetensors(file, DType.BF16, ts);
    }

    private static float[] gauss(Random r, int n, float std, float mean) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = mean + (float) r.nextGaussian() * std;
        return f;
    }

    static HuggingFaceTokenizer hf(Path tokenizerJson) throws java.io.IOException {
        System.setProperty("DJL_CACHE_DIR", TestPaths.repo().resolve("target/djl-cache").toString());
        System.setProperty("ai.djl.offline", "true");
        return HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of("addSpecialTokens", "false"));
    }

    /** Byte-level BPE decoding (GPT-2's bytes_to_unicode inverse), the bytes read as UTF-8 with replacement. */
    static String decode(Path model, int[] ids) throws java.io.IOException {
        JsonNode tj = new ObjectMapper().readTree(model.resolve("tokenizer.json").toFile());
        Map<Integer, String> inv = new HashMap<>();
        tj.get("model").get("vocab").properties().forEach(e -> inv.put(e.getValue().asInt(), e.getKey()));
        Map<Integer, Integer> charToByte = new HashMap<>();
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            charToByte.put(printable ? b : 256 + n++, b);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int id : ids) inv.get(id).codePoints().forEach(c -> out.write(charToByte.get(c)));
        return out.toString(StandardCharsets.UTF_8);
    }
}
