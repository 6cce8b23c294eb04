package org.llavapack.parity;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.model.Weights;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.ImageProcessorConfig;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/**
 * A llavapack ONNX export (a folder with {@code export_config.json}, or one of its {@code .onnx} files) as a parity
 * source. The components' configs come from {@code export_config.json}; their weights are inside the graphs, so the
 * model records carry a stand-in {@link Weights} that only reports the export precision (for the tolerance), and
 * {@link ParityRunner} runs them through {@link OnnxModels} instead of the DJL forwards.
 */
final class OnnxSource implements ComponentSource {
    static final String CONFIG = "export_config.json";
    private final Path path;
    private final OnnxModels models;
    private final Optional<VisionTower> vision;
    private final Optional<Connector> connector;
    private final Optional<Llama> llm;
    private final List<String> notes = new ArrayList<>();

    /** A folder holding a llavapack export_config.json, or an .onnx file inside such a folder. */
    static boolean recognises(Path p) {
        Path dir = Files.isDirectory(p) ? p : p.toAbsolutePath().getParent();
        if (!Files.isDirectory(p) && !p.getFileName().toString().endsWith(".onnx")) return false;
        Path cfg = dir.resolve(CONFIG);
        return Files.isRegularFile(cfg) && HfFolder.readJson(cfg).path("format").asText("").equals("llavapack-onnx");
    }

    OnnxSource(Path p) {
        this.path = p;
        Path dir = Files.isDirectory(p) ? p : p.toAbsolutePath().getParent();
        Path cfgFile = dir.resolve(CONFIG);
        JsonNode cfg = HfFolder.readJson(cfgFile);
        String only = Files.isDirectory(p) ? null : p.getFileName().toString();
        JsonNode files = cfg.path("files");
        String precision = cfg.path("precision").asText("fp32");
        // int4 quantizes only the decoder's matrices (MatMulNBits); vision, connector and embedding stay fp32
        boolean int4 = precision.startsWith("int4");
        DType dtype = switch (precision) {
            case "fp32" -> DType.F32;
            case "fp16" -> DType.F16;
            default -> {
                if (!int4) throw new BadInputException(cfgFile, "unknown export precision '" + precision + "'");
                yield DType.F32;
            }
        };
        this.models = new OnnxModels(dir, Runtime.getRuntime().availableProcessors());
        this.vision = has(files, "vision", only) ? Optional.of(vision(cfg.path("vision"), cfgFile, dir, effective(dtype, cfg.path("vision")))) : Optional.empty();
        this.connector = has(files, "connector", only) ? Optional.of(connector(cfg.path("connector"), cfgFile, effective(dtype, cfg.path("connector")))) : Optional.empty();
        boolean llmFile = has(files, "llm", only);
        if (llmFile && !files.has("embed")) {
            throw new BadInputException(dir, "parity needs embed_tokens.onnx next to the decoder to embed the prompt: export with --component llm,embed");
        }
        this.llm = llmFile ? Optional.of(llm(cfg.path("llm"), cfgFile, dir, effective(dtype, cfg.path("llm")), int4 ? Optional.of("int4") : Optional.empty()))
                : Optional.empty();
        if (only != null && vision.isEmpty() && connector.isEmpty() && llm.isEmpty()) {
            throw new BadInputException(p, "is not one of the export's vision, connector or decoder files (" + files + ")");
        }
    }

    /**
     * The weights carry the rounding of the narrower of the export precision and the source dtype: a bf16 checkpoint
     * exported as fp32 holds bf16 values exactly, and is judged as bf16.
     */
    private static DType effective(DType export, JsonNode component) {
        String src = component.path("source_dtype").asText("float32");
        DType s = java.util.Arrays.stream(DType.values()).filter(d -> d.isFloatingPoint() && d.torchName().equals(src)).findFirst().orElse(DType.F32);
        return Weights.precisionBits(s) < Weights.precisionBits(export) ? s : export;
    }

    private static boolean has(JsonNode files, String key, String only) {
        return files.has(key) && (only == null || files.get(key).asText().equals(only));
    }

    private static VisionTower vision(JsonNode v, Path cfgFile, Path dir, DType dtype) {
        ClipVisionConfig c = ClipVisionConfig.fromJson(v, cfgFile);
        return new VisionTower(c, new StandIn(dir + " [vision_encoder.onnx]", dtype), ImageProcessorConfig.readOrDefault(dir, c.imageSize()),
                v.path("visual_select_layer").asInt(VisionTower.PALLAVA_SELECT_LAYER), dir.resolve("vision_encoder.onnx").toString());
    }

    private static Connector connector(JsonNode c, Path cfgFile, DType dtype) {
        String kind = c.path("kind").asText("");
        int in = c.path("input_dim").asInt(), out = c.path("output_dim").asInt();
        Path file = cfgFile.resolveSibling("connector.onnx");
        Weights w = new StandIn(file.toString(), dtype);
        if (kind.startsWith("qformer")) {
            int layers = c.path("layers").asInt();
            boolean[] cross = new boolean[layers];
            java.util.Arrays.fill(cross, c.path("cross_attention").asBoolean(false));
            QFormerConfig qc = new QFormerConfig(in, c.path("encoder_width").asInt(in), layers, c.path("num_attention_heads").asInt(),
                    c.path("intermediate_size").asInt(), c.path("layer_norm_eps").asDouble(1e-12), cross);
            return new QFormer(qc, new MlpProjector("model.mlp.", 1, in, out, true, "gelu", w, file.toString()), w, file.toString());
        }
        if (kind.startsWith("mlp")) {
            return new MlpProjector("", c.path("depth").asInt(kind.length() > 3 ? Character.getNumericValue(kind.charAt(3)) : 1), in, out, true, "gelu", w, file.toString());
        }
        throw new BadInputException(cfgFile, "unknown connector kind '" + kind + "'");
    }

    private static Llama llm(JsonNode l, Path cfgFile, Path dir, DType dtype, Optional<String> quantization) {
        LlamaConfig c = LlamaConfig.fromJson(l, cfgFile);
        Optional<Path> tok = Files.isRegularFile(dir.resolve("tokenizer.json")) ? Optional.of(dir) : Optional.empty();
        return new Llama(c, new StandIn(dir + " [decoder_model_merged.onnx]", dtype, quantization), Optional.empty(), tok, dir.resolve("decoder_model_merged.onnx").toString());
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String kind() {
        return "llavapack ONNX export (onnxruntime " + ai.onnxruntime.OrtEnvironment.getEnvironment().getVersion() + ")";
    }

    @Override
    public Optional<Llama> llm() {
        return llm;
    }

    @Override
    public Optional<Connector> connector() {
        return connector;
    }

    @Override
    public Optional<VisionTower> vision() {
        return vision;
    }

    @Override
    public List<String> notes() {
        return List.copyOf(notes);
    }

    @Override
    public Optional<OnnxModels> onnx() {
        return Optional.of(models);
    }

    @Override
    public void close() {
        models.close();
    }

    /** The weights live inside the ONNX files: this only tells parity their precision. */
    private record StandIn(String describe, DType dtype, Optional<String> quantization) implements Weights {
        StandIn(String describe, DType dtype) {
            this(describe, dtype, Optional.empty());
        }

        @Override
        public List<String> names() {
            return List.of("onnx");
        }

        @Override
        public Optional<TensorInfo> info(String name) {
            return name.equals("onnx") ? Optional.of(new TensorInfo("onnx", dtype, new long[] {1})) : Optional.empty();
        }

        @Override
        public float[] floats(String name) {
            throw new IllegalStateException("ONNX weights are read by onnxruntime, not by parity");
        }
    }
}
