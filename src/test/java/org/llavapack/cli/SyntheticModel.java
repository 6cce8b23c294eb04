package org.llavapack.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.llavapack.TestPaths;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/**
 * A Llama-shaped bf16 model of a few tens of MB plus an r=16 LoRA adapter, written in Java so the fault and load
 * tests need no Python. Large enough that merge-lora, export gguf and bundle take seconds (so a kill lands mid-way),
 * small enough for CI. Tokenizer and generation files come from test-checkpoints/tiny-llama (same vocabulary).
 */
final class SyntheticModel {
    private SyntheticModel() {}

    static final int HIDDEN = 512, INTERMEDIATE = 1408, HEADS = 8, KV_HEADS = 4, VOCAB = 512, RANK = 16;

    static final String[] TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

    /** [out, in] of each projection. */
    private static long[] shape(String module) {
        int kv = KV_HEADS * (HIDDEN / HEADS);
        return switch (module) {
            case "q_proj", "o_proj" -> new long[] {HIDDEN, HIDDEN};
            case "k_proj", "v_proj" -> new long[] {kv, HIDDEN};
            case "gate_proj", "up_proj" -> new long[] {INTERMEDIATE, HIDDEN};
            case "down_proj" -> new long[] {HIDDEN, INTERMEDIATE};
            default -> throw new IllegalArgumentException(module);
        };
    }

    private static String part(String module) {
        return module.startsWith("gate") || module.startsWith("up") || module.startsWith("down") ? "mlp" : "self_attn";
    }

    /** Writes the base model folder; {@code layers} sets the size (about 5.9 MB of bf16 per layer). */
    static Path base(Path dir, int layers) {
        try {
            Files.createDirectories(dir);
            Path tiny = TestPaths.checkpoint("tiny-llama");
            try (Stream<Path> s = Files.list(tiny)) {
                for (Path p : s.toList()) {
                    String n = p.getFileName().toString();
                    if (!n.contains("safetensors") && !n.equals("config.json")) Files.copy(p, dir.resolve(n));
                }
            }
            String config = Files.readString(tiny.resolve("config.json"))
                    .replace("\"head_dim\": 16", "\"head_dim\": " + HIDDEN / HEADS)
                    .replace("\"hidden_size\": 64", "\"hidden_size\": " + HIDDEN)
                    .replace("\"intermediate_size\": 160", "\"intermediate_size\": " + INTERMEDIATE)
                    .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": " + HEADS)
                    .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": " + layers)
                    .replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": " + KV_HEADS);
            if (!config.contains("\"num_hidden_layers\": " + layers)) throw new IllegalStateException("tiny-llama config changed: " + config);
            Files.writeString(dir.resolve("config.json"), config);
            List<TensorInfo> infos = new ArrayList<>();
            infos.add(new TensorInfo("model.embed_tokens.weight", DType.BF16, new long[] {VOCAB, HIDDEN}));
            for (int l = 0; l < layers; l++) {
                String p = "model.layers." + l + ".";
                infos.add(new TensorInfo(p + "input_layernorm.weight", DType.BF16, new long[] {HIDDEN}));
                infos.add(new TensorInfo(p + "post_attention_layernorm.weight", DType.BF16, new long[] {HIDDEN}));
                for (String m : TARGETS) infos.add(new TensorInfo(p + part(m) + "." + m + ".weight", DType.BF16, shape(m)));
            }
            infos.add(new TensorInfo("model.norm.weight", DType.BF16, new long[] {HIDDEN}));
            infos.add(new TensorInfo("lm_head.weight", DType.BF16, new long[] {VOCAB, HIDDEN}));
            write(dir.resolve("model.safetensors"), infos, 1);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A PEFT LoRA adapter on every projection of every layer, fp32 like PEFT saves it. */
    static Path adapter(Path dir, int layers) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("adapter_config.json"), Files.readString(TestPaths.checkpoint("tiny-llama-lora").resolve("adapter_config.json"))
                    .replace("\"r\": 8", "\"r\": " + RANK).replace("\"base_model_name_or_path\": \"tiny-llama\"", "\"base_model_name_or_path\": \"synthetic\""));
            List<TensorInfo> infos = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                for (String m : TARGETS) {
                    String p = "base_model.model.model.layers." + l + "." + part(m) + "." + m + ".";
                    long[] s = shape(m);
                    infos.add(new TensorInfo(p + "lora_A.weight", DType.F32, new long[] {RANK, s[1]}));
                    infos.add(new TensorInfo(p + "lora_B.weight", DType.F32, new long[] {s[0], RANK}));
                }
            }
            write(dir.resolve("adapter_model.safetensors"), infos, 2);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path file, List<TensorInfo> infos, long seed) {
        Random rnd = new Random(seed);
        SafetensorsWriter.writeFile(file, SafetensorsWriter.PT_METADATA, infos, (info, sink) -> {
            float[] v = new float[Math.toIntExact(info.numel())];
            boolean norm = info.name().contains("norm");
            for (int i = 0; i < v.length; i++) v[i] = norm ? 1f + 0.01f * (float) rnd.nextGaussian() : 0.02f * (float) rnd.nextGaussian();
            sink.writeFloats(v, 0, v.length);
        }, Progress.NONE);
    }
}
