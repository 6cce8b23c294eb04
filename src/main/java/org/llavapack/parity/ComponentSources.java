package org.llavapack.parity;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.FileKind;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.deepspeed.DeepSpeedStore;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.pickle.PyDict;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.model.Weights;
import org.llavapack.model.clip.ClipVisionConfig;
import org.llavapack.model.clip.ImageProcessorConfig;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.MlpProjector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.connector.QFormerConfig;
import org.llavapack.model.llama.GgufLlama;
import org.llavapack.model.llama.Llama;
import org.llavapack.model.llama.LlamaConfig;
import org.llavapack.model.llama.LoraAdapter;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.tensor.TensorStore;

/** Recognises what a path holds and opens it as a {@link ComponentSource}. */
public final class ComponentSources {
    private ComponentSources() {}

    /** Opens a folder or file; throws {@link BadInputException} naming what was expected when nothing fits. */
    public static ComponentSource open(Path path, SourceOptions opts) {
        if (!Files.exists(path)) throw new BadInputException(path, "no such file or folder");
        if (OnnxSource.recognises(path)) return new OnnxSource(path);
        if (Files.isDirectory(path) && TensorStores.isDeepSpeedFolder(path)) {
            // ZeRO shards consolidate to the fp32 masters under XTuner names; the config text comes from meta.cfg.
            DeepSpeedStore ds = DeepSpeedStore.open(path);
            return fromXtunerStore(path, ds, ds.configText().orElse(""), opts);
        }
        Parts parts = new Parts(path);
        try {
            if (Files.isDirectory(path)) openFolder(path, opts, parts);
            else openFile(path, opts, parts);
            if (parts.llm.isEmpty() && parts.connector.isEmpty() && parts.vision.isEmpty()) {
                Optional<Path> inner = Files.isDirectory(path) ? innerDeepSpeed(path) : Optional.empty();
                if (inner.isPresent()) {
                    throw new BadInputException(path, "holds the DeepSpeed checkpoint " + inner.get().getFileName() + "/: pass that folder");
                }
                throw new BadInputException(path, "holds no Llama, connector or vision tower that parity can run (expected an HF Llama folder, a PEFT "
                        + "adapter folder, a projector folder, a CLIP/PLIP folder, a pth-to-hf output folder, an XTuner .pth or a llavapack ONNX export)");
            }
            return parts;
        } catch (RuntimeException e) {
            parts.close();
            throw e;
        }
    }

    // ---- folders --------------------------------------------------------------------------------------------------

    private static void openFolder(Path dir, SourceOptions opts, Parts parts) {
        Optional<JsonNode> config = json(dir.resolve("config.json"));
        String type = config.map(c -> c.path("model_type").asText("")).orElse("");
        List<String> found = new ArrayList<>();
        // LLM: a merged HF Llama here or under llm/, or a PEFT adapter here or under llm_adapter/ (pth-to-hf output).
        if (type.equals("llama")) {
            parts.llm = Optional.of(hfLlama(dir, Optional.empty(), parts));
            found.add("merged Llama");
        } else if (Files.isRegularFile(dir.resolve("adapter_config.json"))) {
            parts.llm = Optional.of(peftLlama(dir, opts, parts));
            found.add("PEFT adapter");
        } else if (isType(dir.resolve("llm"), "llama")) {
            // A merged llm/ wins over llm_adapter/: next to each other, llm/ is that adapter merged (merge-lora's output).
            parts.llm = Optional.of(hfLlama(dir.resolve("llm"), Optional.empty(), parts));
            found.add("llm/");
        } else if (Files.isRegularFile(dir.resolve("llm_adapter/adapter_config.json"))) {
            parts.llm = Optional.of(peftLlama(dir.resolve("llm_adapter"), opts, parts));
            found.add("llm_adapter/");
        }
        // Connector: a projector folder here or under projector/.
        if (type.equals("q_former_projector") || type.equals("projector") || (config.isEmpty() && hasConnectorWeights(dir))) {
            parts.connector = Optional.of(projectorFolder(dir, config, opts, parts));
            found.add("projector");
        } else if (Files.isDirectory(dir.resolve("projector"))) {
            parts.connector = Optional.of(projectorFolder(dir.resolve("projector"), json(dir.resolve("projector/config.json")), opts, parts));
            found.add("projector/");
        }
        // Vision: a CLIP/PLIP folder here or in a sub-folder, else --vision.
        if (type.equals("clip_vision_model") || type.equals("clip")) {
            parts.vision = Optional.of(visionFolder(dir, parts));
            found.add("vision tower");
        } else {
            for (String sub : new String[] {"visual_encoder", "vision_tower", "vision"}) {
                if (isType(dir.resolve(sub), "clip_vision_model") || isType(dir.resolve(sub), "clip")) {
                    parts.vision = Optional.of(visionFolder(dir.resolve(sub), parts));
                    found.add(sub + "/");
                    break;
                }
            }
            if (parts.vision.isEmpty() && opts.vision().isPresent() && !found.isEmpty()) {
                parts.vision = Optional.of(visionFolder(opts.vision().get(), parts));
                parts.notes.add("vision tower from --vision " + opts.vision().get());
            }
        }
        parts.kind = "folder (" + String.join(", ", found) + ")";
    }

    /** A DeepSpeed tag folder one level down (an XTuner work dir without last_checkpoint). */
    private static Optional<Path> innerDeepSpeed(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory).filter(TensorStores::isDeepSpeedFolder).sorted().findFirst();
        } catch (IOException e) {
            throw OutputException.of(dir, e);
        }
    }

    private static boolean isType(Path dir, String modelType) {
        return json(dir.resolve("config.json")).map(c -> c.path("model_type").asText("").equals(modelType)).orElse(false);
    }

    private static Optional<JsonNode> json(Path file) {
        return Files.isRegularFile(file) ? Optional.of(HfFolder.readJson(file)) : Optional.empty();
    }

    private static boolean hasConnectorWeights(Path dir) {
        if (!Files.isRegularFile(dir.resolve("model.safetensors")) && !Files.isRegularFile(dir.resolve("model.safetensors.index.json"))) return false;
        try (TensorStore s = TensorStores.open(dir)) {
            return s.contains(QFormer.layer(0, "attention.self.query.weight")) || s.contains("model.0.weight");
        }
    }

    private static Llama hfLlama(Path dir, Optional<LoraAdapter> lora, Parts parts) {
        return hfLlama(dir, parts.keep(TensorStores.open(dir)), lora, Map.of(), parts);
    }

    /** {@code replacements}: base tensor → adapter tensor saved in full (PEFT modules_to_save), read instead of the base's. */
    private static Llama hfLlama(Path dir, TensorStore store, Optional<LoraAdapter> lora, Map<String, String> replacements, Parts parts) {
        LlamaConfig cfg = LlamaConfig.read(dir.resolve("config.json"));
        Weights w = Weights.of(store, "");
        if (!replacements.isEmpty()) w = w.overlay(Weights.renamed(lora.orElseThrow().weights(), replacements));
        Weights weights = w;
        lora.ifPresent(l -> l.checkAgainst(cfg, weights));
        Optional<Path> tok = Files.isRegularFile(dir.resolve("tokenizer.json")) ? Optional.of(dir) : Optional.empty();
        return new Llama(cfg, weights, lora, tok, dir + lora.map(l -> " + LoRA " + l.source()).orElse(""));
    }

    /** A PEFT adapter folder, read and validated against its base exactly as merge-lora reads it. */
    private static Llama peftLlama(Path adapterDir, SourceOptions opts, Parts parts) {
        JsonNode cfg = HfFolder.readJson(adapterDir.resolve("adapter_config.json"));
        Path base = baseModel(opts, cfg.path("base_model_name_or_path").asText(""), adapterDir, parts);
        TensorStore baseStore = parts.keep(TensorStores.open(base));
        PeftAdapter adapter = PeftAdapter.open(adapterDir, baseStore, base);
        parts.keep(adapter.weights());
        adapter.warnings().forEach(w -> parts.notes.add("adapter: " + w));
        return hfLlama(base, baseStore, Optional.of(LoraAdapter.fromPeft(adapter)), adapter.replacements(), parts);
    }

    /** --base, else the adapter's base_model_name_or_path when it names an existing folder (as given, or next to the adapter). */
    private static Path baseModel(SourceOptions opts, String named, Path near, Parts parts) {
        if (opts.base().isPresent()) {
            parts.notes.add("base LLM from --base " + opts.base().get());
            return opts.base().get();
        }
        Optional<Path> p = resolveNear(named, near);
        if (p.isPresent() && isType(p.get(), "llama")) {
            parts.notes.add("base LLM " + p.get() + " (from the checkpoint's base model name '" + named + "')");
            return p.get();
        }
        throw new BadInputException(near, "LoRA adapter without its base model: pass --base BASE_DIR (the HF Llama folder"
                + (named.isEmpty() ? "" : "; '" + named + "' is not a local folder") + ")");
    }

    /** A path from a config, tried as given (relative to the working directory) and relative to each folder above {@code near}. */
    static Optional<Path> resolveNear(String named, Path near) {
        if (named == null || named.isBlank()) return Optional.empty();
        Path p = Path.of(named);
        if (Files.isDirectory(p)) return Optional.of(p);
        if (p.isAbsolute()) return Optional.empty();
        for (Path d = near.toAbsolutePath().getParent(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve(p))) return Optional.of(d.resolve(p));
        }
        return Optional.empty();
    }

    private static Connector projectorFolder(Path dir, Optional<JsonNode> config, SourceOptions opts, Parts parts) {
        Weights w = Weights.of(parts.keep(TensorStores.open(dir)), "");
        OptionalInt heads = opts.qformerHeads();
        if (heads.isEmpty() && config.isPresent()) {
            JsonNode c = config.get();
            for (String k : new String[] {"num_attention_heads", "qformer_num_attention_heads"}) {
                if (c.path(k).canConvertToInt()) {
                    heads = OptionalInt.of(c.get(k).asInt());
                    break;
                }
            }
        }
        OptionalDouble eps = config.filter(c -> c.has("layer_norm_eps")).map(c -> OptionalDouble.of(c.get("layer_norm_eps").asDouble())).orElse(OptionalDouble.empty());
        String act = config.map(c -> c.path("hidden_act").asText("gelu")).orElse("gelu");
        return connector(w, heads, eps, act, dir.toString(), parts);
    }

    static Connector connector(Weights w, OptionalInt heads, OptionalDouble eps, String act, String description, Parts parts) {
        if (w.has(QFormer.layer(0, "attention.self.query.weight"))) {
            QFormerConfig cfg = QFormerConfig.detect(w, heads, eps, description);
            if (heads.isEmpty()) parts.notes.add("Q-Former heads " + cfg.heads() + " = hidden/64 (BERT head size); override with --qformer-heads");
            return new QFormer(cfg, MlpProjector.detect(w, "model.mlp.", "gelu", description), w, description);
        }
        return MlpProjector.detect(w, "", act, description);
    }

    private static VisionTower visionFolder(Path dir, Parts parts) {
        if (!Files.isDirectory(dir)) throw new BadInputException(dir, "vision tower folder not found");
        ClipVisionConfig cfg = ClipVisionConfig.read(dir.resolve("config.json"));
        Weights w = Weights.of(parts.keep(TensorStores.open(dir)), "");
        return new VisionTower(cfg, w, ImageProcessorConfig.readOrDefault(dir, cfg.imageSize()), VisionTower.PALLAVA_SELECT_LAYER, dir.toString());
    }

    // ---- single files ---------------------------------------------------------------------------------------------

    private static void openFile(Path file, SourceOptions opts, Parts parts) {
        FileKind kind = FileKind.detect(file);
        TensorStore store = parts.keep(TensorStores.open(file));
        if (store instanceof GgufFile g) {
            parts.llm = Optional.of(GgufLlama.open(g, file.toString()));
            parts.kind = "GGUF (" + g.getString("general.name").orElse("llama") + ")";
            parts.llm.get().quantization().ifPresent(q -> parts.notes.add("GGUF weights dequantized from " + q));
            return;
        }
        boolean xtuner = store.tensors().stream().anyMatch(t -> t.name().startsWith("llm.") || t.name().startsWith("projector."));
        if (xtuner) {
            openXtuner(file, store, store instanceof TorchCheckpoint t ? configText(t) : "", opts, parts);
            return;
        }
        Weights w = Weights.of(store, "");
        if (w.has(QFormer.layer(0, "attention.self.query.weight")) || w.has("model.0.weight")) {
            Path parent = file.toAbsolutePath().getParent();
            Optional<JsonNode> cfg = json(parent.resolve("config.json")).filter(c -> !c.path("model_type").asText("").equals("llama"));
            parts.connector = Optional.of(projectorFromFile(w, cfg, opts, file.toString(), parts));
            parts.kind = (kind == FileKind.SAFETENSORS ? "safetensors" : "torch") + " projector weights";
            return;
        }
        throw new BadInputException(file, "a weights file without llm./projector. (XTuner) or connector tensors; for an HF model pass its folder");
    }

    private static Connector projectorFromFile(Weights w, Optional<JsonNode> cfg, SourceOptions opts, String description, Parts parts) {
        OptionalInt heads = opts.qformerHeads();
        if (heads.isEmpty() && cfg.isPresent() && cfg.get().path("num_attention_heads").canConvertToInt()) {
            heads = OptionalInt.of(cfg.get().get("num_attention_heads").asInt());
        }
        return connector(w, heads, OptionalDouble.empty(), cfg.map(c -> c.path("hidden_act").asText("gelu")).orElse("gelu"), description, parts);
    }

    /**
     * An XTuner state dict ({@code llm.} LoRA or full LLM, {@code projector.}, optional {@code visual_encoder.}).
     * Base model, vision tower, LoRA alpha and Q-Former heads come from the options, else from the training config
     * text that mmengine stores in {@code meta.cfg}.
     */
    private static void openXtuner(Path file, TensorStore store, String cfg, SourceOptions opts, Parts parts) {
        parts.kind = "XTuner state dict";
        boolean lora = store.tensors().stream().anyMatch(t -> t.name().startsWith("llm.") && t.name().contains(".lora_A."));
        boolean fullLlm = store.contains("llm.model.embed_tokens.weight");
        if (lora || fullLlm) {
            Path base = baseModel(opts, find(cfg, "llm_name_or_path\\s*=\\s*['\"]([^'\"]+)['\"]").orElse(""), file, parts);
            if (lora) {
                Weights lw = Weights.of(store, "llm.base_model.model.");
                double alpha;
                if (opts.loraAlpha().isPresent()) alpha = opts.loraAlpha().getAsDouble();
                else {
                    alpha = find(cfg, "lora_alpha\\s*=\\s*([0-9.]+)").map(Double::parseDouble).orElseThrow(() -> new BadInputException(file,
                            "LoRA alpha is not in the checkpoint's config text: pass --lora-alpha"));
                    parts.notes.add("LoRA alpha " + alpha + " from the checkpoint's config text");
                }
                boolean rs = find(cfg, "use_rslora\\s*=\\s*(True|False)").map(Boolean::parseBoolean).orElse(false);
                int r = find(cfg, "LoraConfig,\\s*r\\s*=\\s*(\\d+)").map(Integer::parseInt).orElse(-1);
                String sample = lw.names().stream().filter(n -> n.contains(".lora_A.")).findFirst().orElseThrow();
                int rank = (int) lw.shape(sample)[0];
                LoraAdapter ad = LoraAdapter.fromWeights(file + " [llm.]", lw, ".default",
                        new LoraAdapter.Hyper(r > 0 ? r : rank, alpha, rs));
                parts.llm = Optional.of(hfLlama(base, Optional.of(ad), parts));
            } else {
                LlamaConfig lc = LlamaConfig.read(base.resolve("config.json"));
                parts.llm = Optional.of(new Llama(lc, Weights.of(store, "llm."), Optional.empty(),
                        Files.isRegularFile(base.resolve("tokenizer.json")) ? Optional.of(base) : Optional.empty(), file + " [llm.]"));
            }
        }
        if (store.tensors().stream().anyMatch(t -> t.name().startsWith("projector."))) {
            Weights pw = Weights.of(store, "projector.");
            OptionalInt heads = opts.qformerHeads();
            if (heads.isEmpty()) {
                Optional<Integer> h = find(cfg, "num_attention_heads\\s*=\\s*(\\d+)").map(Integer::parseInt);
                if (h.isPresent()) {
                    heads = OptionalInt.of(h.get());
                    parts.notes.add("Q-Former heads " + h.get() + " from the checkpoint's config text");
                }
            }
            parts.connector = Optional.of(connector(pw, heads, OptionalDouble.empty(), "gelu", file + " [projector.]", parts));
        }
        if (store.tensors().stream().anyMatch(t -> t.name().startsWith("visual_encoder."))) {
            Path vdir = opts.vision().or(() -> find(cfg, "visual_encoder_name_or_path\\s*=\\s*['\"]([^'\"]+)['\"]").flatMap(n -> resolveNear(n, file)))
                    .orElseThrow(() -> new BadInputException(file, "the checkpoint holds a trained vision tower; pass --vision DIR for its config"));
            ClipVisionConfig vc = ClipVisionConfig.read(vdir.resolve("config.json"));
            parts.vision = Optional.of(new VisionTower(vc, Weights.of(store, "visual_encoder."), ImageProcessorConfig.readOrDefault(vdir, vc.imageSize()),
                    VisionTower.PALLAVA_SELECT_LAYER, file + " [visual_encoder.]"));
        } else {
            Optional<Path> vdir = opts.vision().or(() -> find(cfg, "visual_encoder_name_or_path\\s*=\\s*['\"]([^'\"]+)['\"]").flatMap(n -> resolveNear(n, file)));
            if (vdir.isPresent() && isType(vdir.get(), "clip_vision_model") || vdir.isPresent() && isType(vdir.get(), "clip")) {
                parts.vision = Optional.of(visionFolder(vdir.get(), parts));
                parts.notes.add("frozen vision tower " + vdir.get() + (opts.vision().isPresent() ? " (--vision)" : " (from the checkpoint's config text)"));
            }
        }
    }

    /**
     * The entry point for the DeepSpeed glue: any store with XTuner names ({@code llm.…lora_A.default.weight},
     * {@code projector.…}), e.g. the fp32 masters reconstructed from ZeRO shards, plus the training config text
     * ({@code meta.cfg} of the model-states file; "" if unknown). The source takes ownership of {@code store}.
     */
    public static ComponentSource fromXtunerStore(Path path, TensorStore store, String configText, SourceOptions opts) {
        Parts parts = new Parts(path);
        parts.keep(store);
        try {
            openXtuner(path, store, configText, opts, parts);
            return parts;
        } catch (RuntimeException e) {
            parts.close();
            throw e;
        }
    }

    /**
     * Components taken from several open sources, seen as one (a release exports the merged LLM with the converted
     * connector and the frozen vision tower). It owns nothing: the sources it came from stay open and are closed by
     * their owner.
     */
    public static ComponentSource combine(Path path, String kind, Optional<Llama> llm, Optional<Connector> connector, Optional<VisionTower> vision) {
        Parts parts = new Parts(path);
        parts.kind = kind;
        parts.llm = llm;
        parts.connector = connector;
        parts.vision = vision;
        return parts;
    }

    /** mmengine's {@code meta.cfg}: the training config as text (never executed). */
    private static String configText(TorchCheckpoint t) {
        if (t.root() instanceof PyDict d && d.get("meta") instanceof PyDict meta && meta.get("cfg") instanceof String s) return s;
        return "";
    }

    private static Optional<String> find(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** The components found, and the stores they read from (closed together). */
    static final class Parts implements ComponentSource {
        final Path path;
        String kind = "?";
        Optional<Llama> llm = Optional.empty();
        Optional<Connector> connector = Optional.empty();
        Optional<VisionTower> vision = Optional.empty();
        final List<String> notes = new ArrayList<>();
        private final List<TensorStore> stores = new ArrayList<>();

        Parts(Path path) {
            this.path = path;
        }

        TensorStore keep(TensorStore s) {
            if (!stores.contains(s)) stores.add(s);
            return s;
        }

        @Override
        public Path path() {
            return path;
        }

        @Override
        public String kind() {
            return kind;
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
        public void close() {
            for (TensorStore s : stores) s.close();
            stores.clear();
        }
    }
}
