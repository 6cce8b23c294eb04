package org.llavapack.convert.gguf;

import org.llavapack.convert.names.NameMap;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
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
 * {@code llavapack export mmproj}: an HF CLIP vision tower plus a two-layer MLP projector to llama.cpp's mmproj GGUF
 * (clip.cpp, projector type {@code mlp}; gguf spec 6). Only the encoder layers the projector consumes are stored
 * (LLaVA's {@code vision_feature_layer}, default −2), with {@code block_count} and {@code feature_layer} set to that
 * count, and {@code post_layernorm} is left out. A Q-Former connector (PA-LLaVA) is refused: llama.cpp has no projector
 * type for it.
 */
public final class MmprojExport {
    private MmprojExport() {}

    public static final String VISION_MAP = "hf-clip-to-mmproj.json";
    public static final String PROJECTOR_MAP = "projector-to-mmproj.json";
    static final double[] CLIP_MEAN = {0.48145466, 0.4578275, 0.40821073};
    static final double[] CLIP_STD = {0.26862954, 0.26130258, 0.27577711};

    public record Options(OutType outType, int featureLayer, boolean force, int threads, String name) {}

    public record Result(int tensors, long bytes, int layers, long projectionDim, Map<GgmlType, Integer> types) {}

    private record Planned(String name, GgmlType type, long[] shape, TensorStore store, TensorInfo src, int order) {}

    public static Result run(Path visionDir, Path projectorDir, Path out, Options o, Progress progress) {
        if (o.outType() != OutType.F32 && o.outType() != OutType.F16) {
            throw new IllegalArgumentException("export mmproj writes f32 or f16");
        }
        refuseQFormer(projectorDir);
        JsonNode vc = visionConfig(visionDir);
        int hidden = vc.path("hidden_size").asInt(768), inter = vc.path("intermediate_size").asInt(3072);
        int nLayers = vc.path("num_hidden_layers").asInt(12), heads = vc.path("num_attention_heads").asInt(12);
        int image = vc.path("image_size").asInt(224), patch = vc.path("patch_size").asInt(16);
        double eps = vc.path("layer_norm_eps").asDouble(1e-5);
        String act = vc.path("hidden_act").asText("quick_gelu");
        int keep = o.featureLayer() < 0 ? nLayers + 1 + o.featureLayer() : o.featureLayer();
        if (keep < 1 || keep > nLayers) {
            throw new BadInputException(visionDir, "feature layer " + o.featureLayer() + " selects " + keep + " of " + nLayers + " encoder layers");
        }
        NameMap vmap = NameMap.fromResource("converters/" + VISION_MAP), pmap = NameMap.fromResource("converters/" + PROJECTOR_MAP);
        try (TensorStore vision = TensorStores.open(visionDir); TensorStore proj = TensorStores.open(projectorDir);
             SourceRows.Channels channels = new SourceRows.Channels()) {
            List<Planned> plan = new ArrayList<>();
            for (TensorInfo t : vision.tensors()) {
                if (vmap.ignored(t.name())) continue;
                NameMap.Mapped m = vmap.map(t.name()).orElseThrow(() -> new BadInputException(vision.source(),
                        "tensor '" + t.name() + "' has no mmproj name (no rule in converters/" + VISION_MAP + ")"));
                if (m.layer() >= keep) continue;
                int order = m.target().startsWith("v.blk.") ? 1000 + m.layer() : m.target().startsWith("v.pre_ln") ? 500 : 0;
                plan.add(new Planned(m.target(), type(o.outType(), m.target(), t, m.forceF32()), t.shape(), vision, t, order));
            }
            long projDim = -1, mm0In = -1, mm0Out = -1, mm2In = -1;
            for (TensorInfo t : proj.tensors()) {
                if (pmap.ignored(t.name())) continue;
                NameMap.Mapped m = pmap.map(t.name()).orElseThrow(() -> new BadInputException(proj.source(),
                        "tensor '" + t.name() + "' is not part of a two-layer MLP projector (model.0 / model.2)"));
                long[] s = t.shape();
                if (m.target().equals("mm.0.weight")) {
                    mm0Out = s[0];
                    mm0In = s[1];
                }
                if (m.target().equals("mm.2.weight")) {
                    projDim = s[0];
                    mm2In = s[1];
                }
                plan.add(new Planned(m.target(), type(o.outType(), m.target(), t, m.forceF32()), s, proj, t, 100000 + (m.target().startsWith("mm.0") ? 0 : 1)));
            }
            if (mm0In < 0 || projDim < 0) {
                throw new BadInputException(projectorDir, "the projector needs mm.0 and mm.2 (Linear, GELU, Linear): "
                        + (mm0In < 0 ? "no first Linear found" : "a single-Linear projector cannot be written as llama.cpp's 'mlp' type"));
            }
            if (mm0In != hidden) throw new BadInputException(projectorDir, "projector input width " + mm0In + " differs from the vision hidden size " + hidden);
            if (mm2In != mm0Out) throw new BadInputException(projectorDir, "projector layers do not chain: " + mm0Out + " → " + mm2In);
            long patches = (long) (image / patch) * (image / patch);
            plan.stream().filter(p -> p.name().equals("v.position_embd.weight")).findFirst().ifPresent(p -> {
                if (p.shape()[0] < patches + 1) {
                    throw new BadInputException(visionDir, "position embedding has " + p.shape()[0] + " rows for " + patches + " patches + CLS");
                }
            });
            plan.sort(Comparator.comparingInt(Planned::order).thenComparing(Planned::name));

            GgufWriter w = new GgufWriter();
            w.put("general.architecture", GgufValue.str("clip"));
            w.put("general.type", GgufValue.str("mmproj"));
            w.put("general.name", GgufValue.str(o.name() != null ? o.name() : visionDir.toAbsolutePath().normalize().getFileName().toString()));
            w.put("general.file_type", GgufValue.u32(o.outType().fileType()));
            w.put("clip.has_text_encoder", GgufValue.bool(false));
            w.put("clip.has_vision_encoder", GgufValue.bool(true));
            w.put("clip.has_llava_projector", GgufValue.bool(true));
            w.put("clip.projector_type", GgufValue.str("mlp"));
            w.put("clip.vision.image_size", GgufValue.u32(image));
            w.put("clip.vision.patch_size", GgufValue.u32(patch));
            w.put("clip.vision.embedding_length", GgufValue.u32(hidden));
            w.put("clip.vision.feed_forward_length", GgufValue.u32(inter));
            w.put("clip.vision.projection_dim", GgufValue.u32(projDim));
            w.put("clip.vision.attention.head_count", GgufValue.u32(heads));
            w.put("clip.vision.attention.layer_norm_epsilon", GgufValue.f32((float) eps));
            w.put("clip.vision.block_count", GgufValue.u32(keep));
            double[][] ms = meanStd(visionDir);
            w.put("clip.vision.image_mean", f32s(ms[0]));
            w.put("clip.vision.image_std", f32s(ms[1]));
            w.put("clip.use_gelu", GgufValue.bool(act.equals("gelu") || act.equals("gelu_new") || act.equals("gelu_pytorch_tanh")));
            w.put("clip.vision.feature_layer", GgufValue.i32s(keep));
            w.put("general.quantization_version", GgufValue.u32(2));
            Map<GgmlType, Integer> types = new EnumMap<>(GgmlType.class);
            for (Planned p : plan) {
                long rowLen = p.shape()[p.shape().length - 1];
                w.addTensor(p.name(), p.type(), p.shape(), new SourceRows(p.store(), p.src(), p.type(), rowLen, 0, null, channels, null, 1f));
                types.merge(p.type(), 1, Integer::sum);
            }
            GgufWriter.Layout layout = w.write(out, o.force(), progress, o.threads());
            return new Result(w.tensors().size(), layout.fileSize(), keep, projDim, types);
        }
    }

    private static GgmlType type(OutType out, String name, TensorInfo t, boolean forceF32) {
        long[] ne = LlamaGgufExport.reverse(t.shape());
        if (name.equals("v.patch_embd.weight")) return out == OutType.F16 ? GgmlType.F16 : GgmlType.F32;
        return TensorTypes.converter(out, name, ne, forceF32);
    }

    private static GgufValue f32s(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return GgufValue.f32s(f);
    }

    /** PA-LLaVA's connector is a BERT Q-Former: no llama.cpp projector type can run it. */
    static void refuseQFormer(Path projectorDir) {
        String why = null;
        Path cfg = projectorDir.resolve("config.json");
        if (Files.isRegularFile(cfg)) {
            String mt = HfFolder.readJson(cfg).path("model_type").asText("").toLowerCase(java.util.Locale.ROOT);
            if (mt.contains("q_former") || mt.contains("qformer")) why = "config.json model_type '" + mt + "'";
        }
        if (why == null && Files.exists(projectorDir)) {
            try (TensorStore s = TensorStores.open(projectorDir)) {
                for (TensorInfo t : s.tensors()) {
                    if (t.name().contains("bert.encoder") || t.name().contains("qformer")) {
                        why = "tensor '" + t.name() + "'";
                        break;
                    }
                }
            }
        }
        if (why != null) {
            throw new BadInputException(projectorDir, "this is a Q-Former projector (" + why + "); llama.cpp has no mmproj projector type for a "
                    + "multi-layer BERT Q-Former, so it cannot be exported as mmproj. Export the vision side (vision tower + Q-Former) "
                    + "with the ONNX export (llavapack export onnx) instead; the LLM itself exports with export gguf / gguf-lora.");
        }
    }

    private static JsonNode visionConfig(Path dir) {
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) throw new BadInputException(dir, "no config.json (expected a Hugging Face CLIP vision model folder)");
        JsonNode c = HfFolder.readJson(cfg);
        String mt = c.path("model_type").asText("");
        if (c.has("vision_config")) return c.get("vision_config");
        if (!mt.equals("clip_vision_model") && !mt.equals("clip")) {
            throw new BadInputException(cfg, "model_type '" + mt + "' is not a CLIP vision model (clip_vision_model or clip)");
        }
        return c;
    }

    private static double[][] meanStd(Path dir) {
        double[] mean = CLIP_MEAN, std = CLIP_STD;
        Path pp = dir.resolve("preprocessor_config.json");
        if (Files.isRegularFile(pp)) {
            JsonNode p = HfFolder.readJson(pp);
            if (p.path("image_mean").size() == 3) mean = new double[] {p.get("image_mean").get(0).asDouble(), p.get("image_mean").get(1).asDouble(), p.get("image_mean").get(2).asDouble()};
            if (p.path("image_std").size() == 3) std = new double[] {p.get("image_std").get(0).asDouble(), p.get("image_std").get(1).asDouble(), p.get("image_std").get(2).asDouble()};
        }
        return new double[][] {mean, std};
    }
}
