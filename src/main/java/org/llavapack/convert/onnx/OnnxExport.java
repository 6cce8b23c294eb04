package org.llavapack.convert.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.bundle.Toolkit;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.onnx.OnnxGraph;
import org.llavapack.formats.onnx.OnnxModelWriter;
import org.llavapack.io.AtomicOutput;
import org.llavapack.json.PythonJson;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.llama.Llama;
import org.llavapack.parity.ComponentSource;
import org.llavapack.parity.ComponentSources;
import org.llavapack.parity.SourceOptions;

/**
 * {@code llavapack export onnx}: builds ONNX graphs directly from the weights (no tracing) and writes them, each with
 * one external data file, plus {@code export_config.json} (the I/O contract a runtime needs), {@code genai_config.json}
 * and the LLM's tokenizer files, into OUT_DIR atomically.
 *
 * <p>MODEL_DIR is anything {@code parity} recognises as holding components (see {@link ComponentSources}): an HF Llama
 * folder (e.g. {@code merge-lora}'s output), a projector folder, a CLIP/PLIP folder, or a folder holding several of
 * them as sub-folders ({@code llm/}, {@code projector/}, {@code visual_encoder/}, as {@code pth-to-hf} writes them);
 * the frozen vision tower can come from {@code --vision}. An LLM that is still an unmerged LoRA adapter is refused
 * with a pointer to {@code merge-lora}.
 */
public final class OnnxExport {
    private OnnxExport() {}

    public static final String EXPORT_CONFIG = "export_config.json";
    public static final String GENAI_CONFIG = "genai_config.json";
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json");

    /**
     * @param components what to export; {@code all} = every component MODEL_DIR holds (at least one)
     * @param source where the frozen vision tower is, the Q-Former head count
     * @param maxPositions RoPE cache length; 0 = {@code max_position_embeddings} of the LLM config (8192 if absent)
     */
    public record Options(Set<Component> components, boolean all, Precision precision, boolean force, SourceOptions source, int maxPositions) {
        public Options {
            components = components.isEmpty() ? EnumSet.noneOf(Component.class) : EnumSet.copyOf(components);
        }
    }

    /**
     * What was written.
     *
     * @param files every file in OUT_DIR, in name order, as final paths
     * @param quantized int4 MatMulNBits initializers → the source tensors stacked in them (empty unless int4)
     */
    public record Result(Path outDir, Set<Component> components, Precision precision, List<Path> files, long bytes,
                         Map<String, List<String>> quantized, List<String> notes) {}

    /** The entry point other pipelines use. A set with every component means "all that MODEL_DIR holds". */
    public static Result run(Path modelDir, Path outDir, Set<Component> components, Precision precision, boolean force) {
        boolean all = components.containsAll(EnumSet.allOf(Component.class));
        return run(modelDir, outDir, new Options(components, all, precision, force, SourceOptions.NONE, 0));
    }

    public static Result run(Path modelDir, Path outDir, Options o) {
        try (ComponentSource src = ComponentSources.open(modelDir, o.source())) {
            return run(src, outDir, o);
        }
    }

    public static Result run(ComponentSource src, Path outDir, Options o) {
        Set<Component> want = EnumSet.noneOf(Component.class);
        if (o.all()) {
            if (src.vision().isPresent()) want.add(Component.VISION);
            if (src.connector().isPresent()) want.add(Component.CONNECTOR);
            if (src.llm().isPresent()) {
                want.add(Component.LLM);
                want.add(Component.EMBED);
            }
        } else {
            want.addAll(o.components());
            for (Component c : want) {
                boolean has = switch (c) {
                    case VISION -> src.vision().isPresent();
                    case CONNECTOR -> src.connector().isPresent();
                    case LLM, EMBED -> src.llm().isPresent();
                };
                if (!has) {
                    throw new BadInputException(src.path(), "--component " + c.cliName + ": found no " + switch (c) {
                        case VISION -> "CLIP/PLIP vision tower (a folder with model_type clip_vision_model, a visual_encoder/ sub-folder, or --vision DIR)";
                        case CONNECTOR -> "connector (a projector folder or a projector/ sub-folder)";
                        case LLM, EMBED -> "Llama LLM (an HF Llama folder or an llm/ sub-folder)";
                    } + " in " + src.kind());
                }
            }
        }
        if (want.isEmpty()) throw new BadInputException(src.path(), "holds no vision tower, connector or Llama to export");
        Optional<Llama> llm = want.contains(Component.LLM) || want.contains(Component.EMBED) ? src.llm() : Optional.empty();
        if (llm.isPresent() && llm.get().lora().isPresent()) {
            throw new BadInputException(src.path(), "the LLM is an unmerged LoRA adapter (" + llm.get().lora().get().source()
                    + "): merge it first with `llavapack merge-lora BASE_DIR ADAPTER_DIR MERGED_DIR`, then export the merged folder");
        }
        llm.ifPresent(l -> DecoderGraph.checkSupported(l.config(), l.description()));
        Map<String, Int4Source> quantized = new LinkedHashMap<>();
        GraphWeightsFactory weights = new GraphWeightsFactory(o.precision(), quantized);
        List<String> notes = new ArrayList<>(src.notes());
        String version = Toolkit.version();
        int maxPositions = o.maxPositions() > 0 ? o.maxPositions() : llm.map(l -> maxPositions(l)).orElse(0);
        ObjectNode cfg = exportConfig(src, want, o.precision(), maxPositions, version, outDir);
        try (AtomicOutput out = AtomicOutput.directory(outDir, o.force())) {
            Path dir = out.path();
            Map<String, String> meta = Map.of("llavapack.precision", o.precision().label, "llavapack.source", src.kind());
            if (want.contains(Component.VISION)) {
                write(VisionGraph.build(src.vision().get(), weights.forEncoder()), dir, Component.VISION, version, meta);
                // The image preprocessing runtimes need (resize, crop, mean/std) travels with the encoder.
                Path pp = Path.of(src.vision().get().description()).resolve("preprocessor_config.json");
                if (Files.isRegularFile(pp)) copy(pp, dir.resolve("preprocessor_config.json"));
            }
            if (want.contains(Component.CONNECTOR)) {
                write(ConnectorGraph.build(src.connector().get(), weights.forEncoder()), dir, Component.CONNECTOR, version, meta);
            }
            if (want.contains(Component.EMBED)) write(EmbedGraph.build(llm.get(), o.precision()), dir, Component.EMBED, version, meta);
            if (want.contains(Component.LLM)) {
                write(DecoderGraph.build(llm.get(), weights, maxPositions), dir, Component.LLM, version, meta);
                writeJson(dir.resolve(GENAI_CONFIG), GenaiConfig.of(llm.get().config(), maxPositions, want.contains(Component.EMBED)));
            }
            if (llm.isPresent() && llm.get().tokenizerDir().isPresent()) {
                for (String f : TOKENIZER_FILES) {
                    Path s = llm.get().tokenizerDir().get().resolve(f);
                    if (Files.isRegularFile(s)) copy(s, dir.resolve(f));
                }
            }
            writeJson(dir.resolve(EXPORT_CONFIG), cfg);
            List<Path> files = listFiles(dir);
            long bytes = 0;
            for (Path f : files) bytes += size(f);
            out.commit();
            List<Path> finals = files.stream().map(f -> outDir.resolve(f.getFileName().toString())).toList();
            Map<String, List<String>> q = new LinkedHashMap<>();
            quantized.forEach((k, v) -> q.put(k, v.names()));
            return new Result(outDir, want, o.precision(), finals, bytes, q, notes);
        }
    }

    private static void write(OnnxGraph g, Path dir, Component c, String version, Map<String, String> meta) {
        OnnxModelWriter.write(g, dir, c.fileName, version, meta);
    }

    /** {@code max_position_embeddings} from the LLM folder's config.json (the description is that folder), else 8192. */
    static int maxPositions(Llama l) {
        String d = l.description();
        Path cfg = Path.of(d.contains(" + ") ? d.substring(0, d.indexOf(" + ")) : d).resolve("config.json");
        if (Files.isRegularFile(cfg)) {
            JsonNode c = HfFolder.readJson(cfg);
            if (c.path("max_position_embeddings").canConvertToInt() && c.get("max_position_embeddings").asInt() > 0) {
                return c.get("max_position_embeddings").asInt();
            }
        }
        return 8192;
    }

    /** The contract a runtime needs beyond the graphs: what each file expects and produces, and the model settings. */
    /**
     * A source folder next to OUT_DIR (a release folder's {@code merged/} beside its {@code onnx/}) is recorded relative
     * to their common parent, so the file does not depend on where the release was built; anything else as given.
     */
    static String sourceLabel(String description, Path outDir) {
        Path parent = outDir.toAbsolutePath().normalize().getParent();
        try {
            Path p = Path.of(description).toAbsolutePath().normalize();
            if (parent != null && p.startsWith(parent) && Files.exists(p)) return parent.relativize(p).toString().replace('\\', '/');
        } catch (java.nio.file.InvalidPathException e) {
            // a description that is not a path (e.g. "dir + LoRA …"): keep it
        }
        return description;
    }

    static ObjectNode exportConfig(ComponentSource src, Set<Component> want, Precision p, int maxPositions, String version, Path outDir) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("format", "llavapack-onnx");
        root.put("format_version", 1);
        root.put("llavapack_version", version);
        root.put("onnxruntime", org.llavapack.formats.onnx.OnnxLimits.ONNXRUNTIME_VERSION);
        root.put("ir_version", org.llavapack.formats.onnx.OnnxLimits.IR_VERSION);
        ObjectNode ops = root.putObject("opsets");
        ops.put("ai.onnx", org.llavapack.formats.onnx.OnnxLimits.DEFAULT_OPSET);
        ops.put("com.microsoft", org.llavapack.formats.onnx.OnnxLimits.MICROSOFT_OPSET);
        root.put("precision", p.label);
        root.put("activations", "float32");
        ObjectNode files = root.putObject("files");
        for (Component c : want) files.put(c.cliName, c.fileName);
        if (want.contains(Component.VISION)) {
            VisionTower v = src.vision().get();
            ObjectNode n = root.putObject("vision");
            var c = v.config();
            n.put("model_type", "clip_vision_model");
            n.put("hidden_size", c.hiddenSize());
            n.put("intermediate_size", c.intermediateSize());
            n.put("num_hidden_layers", c.layers());
            n.put("num_attention_heads", c.heads());
            n.put("image_size", c.imageSize());
            n.put("patch_size", c.patchSize());
            n.put("num_channels", c.channels());
            n.put("hidden_act", c.hiddenAct());
            n.put("layer_norm_eps", c.layerNormEps());
            n.put("visual_select_layer", v.selectLayer());
            n.put("layers_in_graph", v.selectedIndex());
            n.put("input", VisionGraph.INPUT);
            n.put("output", VisionGraph.OUTPUT);
            n.put("output_tokens", c.tokens());
            n.put("class_token_row", 0);
            ObjectNode pp = n.putObject("image_processor");
            pp.put("shortest_edge", v.processor().shortestEdge());
            pp.put("crop_height", v.processor().cropHeight());
            pp.put("crop_width", v.processor().cropWidth());
            n.put("source", sourceLabel(v.description(), outDir));
            n.put("source_dtype", v.precision().torchName());
        }
        if (want.contains(Component.CONNECTOR)) {
            Connector c = src.connector().get();
            ObjectNode n = root.putObject("connector");
            n.put("kind", c.kind());
            n.put("input_dim", c.inputDim());
            n.put("output_dim", c.outputDim());
            n.put("input", ConnectorGraph.INPUT);
            n.put("input_drops_row", 0);
            n.put("output", ConnectorGraph.OUTPUT);
            if (c instanceof org.llavapack.model.connector.MlpProjector m) n.put("depth", m.depth());
            if (c instanceof org.llavapack.model.connector.QFormer q) {
                n.put("layers", q.config().layers());
                n.put("num_attention_heads", q.config().heads());
                n.put("intermediate_size", q.config().intermediateSize());
                n.put("layer_norm_eps", q.config().layerNormEps());
                n.put("cross_attention", q.config().crossAttention());
                if (q.config().crossAttention()) {
                    n.put("encoder_width", q.config().encoderWidth());
                    n.put("patch_features", ConnectorGraph.PATCHES);
                    n.put("patch_mask", ConnectorGraph.PATCH_MASK);
                }
            }
            n.put("source", sourceLabel(c.description(), outDir));
            n.put("source_dtype", c.precision().torchName());
        }
        if (want.contains(Component.LLM) || want.contains(Component.EMBED)) {
            Llama l = src.llm().get();
            var c = l.config();
            ObjectNode n = root.putObject("llm");
            n.put("model_type", "llama");
            n.put("hidden_size", c.hiddenSize());
            n.put("intermediate_size", c.intermediateSize());
            n.put("num_hidden_layers", c.layers());
            n.put("num_attention_heads", c.heads());
            n.put("num_key_value_heads", c.kvHeads());
            n.put("head_dim", c.headDim());
            n.put("vocab_size", c.vocabSize());
            n.put("rope_theta", c.ropeTheta());
            n.put("rms_norm_eps", c.rmsNormEps());
            n.put("tie_word_embeddings", c.tieWordEmbeddings());
            if (c.ropeScaling().isPresent()) {
                var s = c.ropeScaling().get();
                ObjectNode rs = n.putObject("rope_scaling");
                rs.put("rope_type", s.type());
                rs.put("factor", s.factor());
                if (s.type().equals("llama3")) {
                    rs.put("low_freq_factor", s.lowFreqFactor());
                    rs.put("high_freq_factor", s.highFreqFactor());
                    rs.put("original_max_position_embeddings", s.originalMaxPositions());
                }
            }
            n.put("max_position_embeddings", maxPositions);
            n.put("bos_token_id", c.bosTokenId());
            var eos = n.putArray("eos_token_id");
            c.eosTokenIds().forEach(eos::add);
            n.put("image_token_index", -200);
            n.put("rope_in", "GroupQueryAttention (do_rotary=1, rotate_half); positions from attention_mask, right padding only");
            n.put("kv_cache", "growing, BNSH [batch, kv_heads, length, head_dim]; first step has length 0");
            n.put("source", sourceLabel(l.description(), outDir));
            n.put("source_dtype", l.precision().torchName());
        }
        return root;
    }

    static void writeJson(Path file, JsonNode node) {
        try {
            Files.writeString(file, PythonJson.dumps(node, 2, false) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
    }

    private static void copy(Path s, Path d) {
        try {
            Files.copy(s, d);
        } catch (IOException e) {
            throw OutputException.of(d, e);
        }
    }

    private static List<Path> listFiles(Path dir) {
        try (var s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw OutputException.of(dir, e);
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw OutputException.of(p, e);
        }
    }
}
