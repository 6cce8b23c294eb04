package org.llavapack.convert.gguf;

import org.llavapack.convert.names.NameMap;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.formats.gguf.GgufWriter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * {@code llavapack export gguf-lora}: a PEFT LoRA adapter for an HF Llama base to a llama.cpp LoRA GGUF
 * (convert_lora_to_gguf.py, src/llama-adapter.cpp): {@code general.type adapter}, {@code adapter.type lora},
 * {@code adapter.lora.alpha} (FLOAT32), tensors {@code <base GGUF name>.lora_a} ({@code ne [in, r]}) and
 * {@code .lora_b} ({@code ne [r, out]}), B's rows permuted for Q/K like the base weight.
 *
 * <p>llama.cpp applies {@code s = alpha / r} per tensor with one alpha per file. PEFT's per-module alphas
 * ({@code alpha_pattern}) and rsLoRA ({@code alpha / sqrt(r)}) are expressed exactly where possible by choosing the
 * file's alpha, and otherwise by scaling that module's B so that llama.cpp computes PEFT's scale.
 */
public final class LoraGgufExport {
    private LoraGgufExport() {}

    public record Options(OutType outType, boolean force, int threads, String name) {}

    public record Result(int tensors, long bytes, float alpha, int scaledModules, Map<GgmlType, Integer> types) {}

    private static final Pattern LORA_KEY = Pattern.compile("base_model\\.model\\.(.+)\\.lora_(A|B)(?:\\.default)?\\.weight");

    private record Module(String module, TensorInfo a, TensorInfo b) {}

    public static Result run(Path adapterDir, Path baseDir, Path out, Options o, Progress progress) {
        if (o.outType().followsLlamaQuantize()) {
            throw new IllegalArgumentException("gguf-lora writes f32, f16, bf16 or q8_0");
        }
        Path cfgPath = adapterDir.resolve("adapter_config.json");
        if (!Files.isRegularFile(cfgPath)) throw new BadInputException(adapterDir, "no adapter_config.json (expected a PEFT adapter folder)");
        JsonNode cfg = HfFolder.readJson(cfgPath);
        String peftType = cfg.path("peft_type").asText("");
        if (!peftType.equals("LORA")) throw new BadInputException(cfgPath, "peft_type '" + peftType + "' is not LORA");
        if (cfg.path("use_dora").asBoolean(false)) {
            throw new BadInputException(cfgPath, "DoRA adapters (use_dora) have no llama.cpp LoRA form; merge them instead (export gguf --adapter)");
        }
        if (cfg.path("fan_in_fan_out").asBoolean(false)) throw new BadInputException(cfgPath, "fan_in_fan_out adapters (GPT-2 Conv1D) are not Llama adapters");
        double loraAlpha = cfg.path("lora_alpha").asDouble(Double.NaN);
        if (Double.isNaN(loraAlpha)) throw new BadInputException(cfgPath, "lora_alpha is missing");
        boolean rslora = cfg.path("use_rslora").asBoolean(false);
        Map<String, Double> alphaPattern = new LinkedHashMap<>();
        cfg.path("alpha_pattern").properties().forEach(e -> alphaPattern.put(e.getKey(), e.getValue().asDouble()));

        Path weights = adapterDir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(weights)) {
            throw new BadInputException(adapterDir, Files.isRegularFile(adapterDir.resolve("adapter_model.bin"))
                    ? "adapter_model.bin (pickle) is not read by export gguf-lora; save the adapter as safetensors"
                    : "no adapter_model.safetensors");
        }
        LlamaConfig base = LlamaConfig.read(baseDir);
        NameMap map = NameMap.fromResource("converters/" + LlamaGgufExport.MAP);
        try (TensorStore adapter = org.llavapack.formats.safetensors.ShardedSafetensors.open(weights); TensorStore baseStore = TensorStores.open(baseDir);
             SourceRows.Channels channels = new SourceRows.Channels()) {
            TreeMap<String, TensorInfo[]> pairs = new TreeMap<>();
            for (TensorInfo t : adapter.tensors()) {
                Matcher m = LORA_KEY.matcher(t.name());
                if (!m.matches()) {
                    String why = t.name().contains("lora_magnitude_vector") ? "a DoRA magnitude vector"
                            : t.name().contains("lora_embedding_") ? "an embedding LoRA (not supported)"
                            : "not a lora_A or lora_B tensor (modules_to_save or new tokens: a llama.cpp adapter cannot carry full weights; merge with export gguf --adapter instead)";
                    throw new BadInputException(weights, "tensor '" + t.name() + "' is " + why);
                }
                TensorInfo[] ab = pairs.computeIfAbsent(m.group(1), k -> new TensorInfo[2]);
                ab[m.group(2).equals("A") ? 0 : 1] = t;
            }
            if (pairs.isEmpty()) throw new BadInputException(weights, "no LoRA tensors");
            List<Module> modules = new ArrayList<>();
            for (Map.Entry<String, TensorInfo[]> e : pairs.entrySet()) {
                if (e.getValue()[0] == null || e.getValue()[1] == null) {
                    throw new BadInputException(weights, "module " + e.getKey() + " has only one of lora_A / lora_B");
                }
                modules.add(new Module(e.getKey(), e.getValue()[0], e.getValue()[1]));
            }
            // c_m = s_m · r_m is the alpha llama.cpp would need for module m; the most common one becomes the file's.
            Map<String, Double> needed = new LinkedHashMap<>();
            Map<Double, Integer> votes = new HashMap<>();
            for (Module md : modules) {
                long r = md.a().shape()[0];
                double alpha = loraAlpha;
                for (Map.Entry<String, Double> p : alphaPattern.entrySet()) {
                    if (Pattern.compile("(.*\\.)?(" + p.getKey() + ")").matcher(md.module()).matches()) {
                        alpha = p.getValue();
                        break;
                    }
                }
                double s = rslora ? alpha / Math.sqrt(r) : alpha / r;
                double c = s * r;
                needed.put(md.module(), c);
                votes.merge(c, 1, Integer::sum);
            }
            double fileAlpha = loraAlpha;
            int best = -1;
            for (double c : needed.values()) {
                if (votes.get(c) > best) {
                    best = votes.get(c);
                    fileAlpha = c;
                }
            }

            GgufWriter w = new GgufWriter();
            w.put("general.architecture", GgufValue.str("llama"));
            w.put("general.type", GgufValue.str("adapter"));
            w.put("general.name", GgufValue.str(o.name() != null ? o.name() : adapterDir.toAbsolutePath().normalize().getFileName().toString()));
            w.put("adapter.type", GgufValue.str("lora"));
            w.put("adapter.lora.alpha", GgufValue.f32((float) fileAlpha));
            w.put("general.quantization_version", GgufValue.u32(2));
            Map<GgmlType, Integer> types = new EnumMap<>(GgmlType.class);
            int scaled = 0;
            for (Module md : modules) {
                String baseName = md.module() + ".weight";
                if (map.ignored(baseName)) throw new BadInputException(weights, "module " + md.module() + " has no GGUF tensor");
                NameMap.Mapped mapping = map.map(baseName).orElseThrow(() -> new BadInputException(weights,
                        "module " + md.module() + " has no GGUF name (no rule in converters/" + LlamaGgufExport.MAP + ")"));
                if (mapping.forceF32()) throw new BadInputException(weights, "module " + md.module() + " is a norm; llama.cpp ignores LoRA on norms");
                TensorInfo baseInfo = baseStore.info(baseName).orElseThrow(() -> new BadInputException(baseDir,
                        "the base model has no tensor '" + baseName + "' for the adapter's module " + md.module()
                                + (baseName.equals("lm_head.weight") ? " (tied embeddings: llama.cpp cannot apply LoRA to a tied lm_head)" : "")));
                long[] a = md.a().shape(), b = md.b().shape(), w0 = baseInfo.shape();
                if (a.length != 2 || b.length != 2 || w0.length != 2 || a[1] != w0[1] || b[0] != w0[0] || a[0] != b[1]) {
                    throw new BadInputException(weights, "module " + md.module() + ": lora_A " + md.a().shapeString() + " and lora_B "
                            + md.b().shapeString() + " do not fit the base weight " + baseInfo.shapeString());
                }
                int heads = mapping.permute().isEmpty() ? 0 : mapping.permute().get().equals("n_head") ? base.heads() : base.kvHeads();
                double c = needed.get(md.module());
                float bScale = (float) (c / fileAlpha);
                if (c != fileAlpha) scaled++;
                String an = mapping.target() + ".lora_a", bn = mapping.target() + ".lora_b";
                GgmlType at = TensorTypes.converter(o.outType(), an, LlamaGgufExport.reverse(a), false);
                GgmlType bt = TensorTypes.converter(o.outType(), bn, LlamaGgufExport.reverse(b), false);
                w.addTensor(an, at, a, new SourceRows(adapter, md.a(), at, a[1], 0, null, channels, null, 1f));
                w.addTensor(bn, bt, b, new SourceRows(adapter, md.b(), bt, b[1], heads, null, channels, null, c == fileAlpha ? 1f : bScale));
                types.merge(at, 1, Integer::sum);
                types.merge(bt, 1, Integer::sum);
            }
            GgufWriter.Layout layout = w.write(out, o.force(), progress, o.threads());
            return new Result(w.tensors().size(), layout.fileSize(), (float) fileAlpha, scaled, types);
        }
    }
}
