package org.llavapack.parity;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.llavapack.BadInputException;
import org.llavapack.model.clip.ClipImageProcessor;
import org.llavapack.model.clip.VisionTower;
import org.llavapack.model.connector.Connector;
import org.llavapack.model.connector.QFormer;
import org.llavapack.model.llama.Llama;
import org.llavapack.parity.ParityReport.Component;
import org.llavapack.parity.ParityReport.ComponentResult;
import org.llavapack.parity.ParityReport.LayerError;
import org.llavapack.parity.ParityReport.Status;
import org.llavapack.tensor.DType;

/**
 * Runs each requested component of the reference and the candidate on the same inputs and judges the difference.
 * Components are isolated: the connector of both sides gets the reference vision tower's features, and both LLMs get
 * the same token ids with the reference connector's rows at the image placeholder, so an error is charged to the
 * component that made it.
 */
public final class ParityRunner {
    private ParityRunner() {}

    public record Options(Set<Component> components, boolean explicit, String device, ParityInputs inputs, Tolerance.Overrides overrides,
                          long maxResidentBytes, String llavapackVersion, int threads) {}

    /** Models below this many parameters run on one PyTorch thread (see {@link TorchEngine#threads(int)}). */
    static final long SMALL_MODEL_PARAMS = 50_000_000L;

    static long parameters(ComponentSource s) {
        long n = 0;
        if (s.llm().isPresent()) {
            var c = s.llm().get().config();
            n += (long) c.layers() * c.layerParameters() + 2L * c.vocabSize() * c.hiddenSize();
        }
        if (s.vision().isPresent()) {
            var c = s.vision().get().config();
            n += (long) c.layers() * (4L * c.hiddenSize() * c.hiddenSize() + 2L * c.hiddenSize() * c.intermediateSize());
        }
        return n;
    }

    public static ParityReport run(ComponentSource ref, ComponentSource cand, Options o) {
        try (TorchEngine engine = TorchEngine.open(o.device())) {
            int threads = o.threads() > 0 ? o.threads()
                    : Math.max(parameters(ref), parameters(cand)) < SMALL_MODEL_PARAMS ? 1 : Runtime.getRuntime().availableProcessors();
            TorchEngine.threads(threads);
            List<ComponentResult> results = new ArrayList<>();
            ParityInputs in = o.inputs();
            String pixelSource = "-", connectorSource = "-", prompt = "-";
            int[] ids = new int[0];
            int imageTokens = 0;

            // Vision.
            Optional<VisionForward.Output> refVision = Optional.empty();
            if (o.components().contains(Component.PLIP)) {
                Optional<String> missing = missing(ref.vision(), cand.vision(), "vision tower");
                if (missing.isPresent()) results.add(skip(o, Component.PLIP, missing.get()));
                else {
                    long t0 = System.nanoTime();
                    VisionTower rv = ref.vision().get(), cv = cand.vision().get();
                    if (!rv.config().equals(cv.config())) {
                        results.add(fail(Component.PLIP, "configs differ: " + rv.config() + " vs " + cv.config(), t0));
                    } else {
                        int s = rv.config().imageSize(), c = rv.config().channels();
                        float[] pixels;
                        if (in.image().isPresent()) {
                            pixels = new ClipImageProcessor(rv.processor()).preprocess(in.image().get());
                            if (pixels.length != c * s * s) {
                                throw new BadInputException(in.image().get(), "preprocessing gives " + pixels.length + " values but the tower takes " + c + "×" + s + "×" + s
                                        + " (crop_size in preprocessor_config.json differs from image_size)");
                            }
                            pixelSource = in.image().get() + " (CLIPImageProcessor: resize " + rv.processor().shortestEdge() + ", crop "
                                    + rv.processor().cropHeight() + "×" + rv.processor().cropWidth() + ")";
                        } else {
                            pixels = in.pixels(c * s * s);
                            pixelSource = "seeded uniform [-1.8, 2.1], seed " + in.seed() + ", [1," + c + "," + s + "," + s + "]";
                        }
                        VisionForward.Output a = vision(engine, ref, rv, pixels);
                        VisionForward.Output b = vision(engine, cand, cv, pixels);
                        refVision = Optional.of(a);
                        List<LayerError> layers = new ArrayList<>();
                        for (int i = 0; i < a.hiddenStates().size(); i++) {
                            // An ONNX encoder only outputs the selected hidden state; the others are null.
                            if (a.hiddenStates().get(i) == null || i >= b.hiddenStates().size() || b.hiddenStates().get(i) == null) continue;
                            Metrics m = Metrics.of(a.hiddenStates().get(i), b.hiddenStates().get(i));
                            layers.add(new LayerError(i == 0 ? "embeddings" : "layer." + (i - 1), m.relL2(), m.maxAbs()));
                        }
                        if (a.pooled() != null && b.pooled() != null) {
                            Metrics m = Metrics.of(a.pooled(), b.pooled());
                            layers.add(new LayerError("pooled (post_layrnorm)", m.relL2(), m.maxAbs()));
                        }
                        results.add(judge(Component.PLIP, rv.precision(), cv.precision(), o, a.selected(), b.selected(), layers, null, t0));
                    }
                }
            } else if (ref.vision().isPresent() && (o.components().contains(Component.CONNECTOR) || o.components().contains(Component.LLM))) {
                // Feed the connector real features even when the tower itself is not being compared.
                VisionTower rv = ref.vision().get();
                refVision = Optional.of(vision(engine, ref, rv, in.pixels(rv.config().channels() * rv.config().imageSize() * rv.config().imageSize())));
            }

            // Connector.
            Optional<ConnectorForward.Output> refConnector = Optional.empty();
            if (o.components().contains(Component.CONNECTOR) || o.components().contains(Component.LLM)) {
                Optional<String> missing = missing(ref.connector(), cand.connector(), "connector");
                boolean compare = o.components().contains(Component.CONNECTOR);
                if (missing.isPresent() && compare) results.add(skip(o, Component.CONNECTOR, missing.get()));
                if (ref.connector().isPresent()) {
                    long t0 = System.nanoTime();
                    Connector rc = ref.connector().get();
                    ConnectorForward.Input input;
                    if (refVision.isPresent() && refVision.get().hidden() == rc.inputDim()) {
                        input = ConnectorForward.Input.of(1, refVision.get().tokens() - 1, refVision.get().selected());
                        connectorSource = "reference vision tower, hidden_states[-2][:, 1:]";
                    } else {
                        int n = 196;
                        input = ConnectorForward.Input.of(1, n, in.normals(n * rc.inputDim(), 1));
                        connectorSource = "seeded N(0,1) [1," + n + "," + rc.inputDim() + "], seed " + in.seed();
                    }
                    input = withPatches(input, rc, cand.connector(), in);
                    ConnectorForward.Output a = connector(engine, ref, rc, input);
                    refConnector = Optional.of(a);
                    if (compare && missing.isEmpty()) {
                        Connector cc = cand.connector().get();
                        if (cc.inputDim() != rc.inputDim() || cc.outputDim() != rc.outputDim() || !cc.kind().equals(rc.kind())) {
                            results.add(fail(Component.CONNECTOR, "connectors differ: " + rc.kind() + " " + rc.inputDim() + "→" + rc.outputDim() + " vs "
                                    + cc.kind() + " " + cc.inputDim() + "→" + cc.outputDim(), t0));
                        } else {
                            ConnectorForward.Output b = connector(engine, cand, cc, input);
                            List<LayerError> layers = new ArrayList<>();
                            for (Map.Entry<String, float[]> e : a.trace().entrySet()) {
                                float[] other = b.trace().get(e.getKey());
                                if (other == null) continue;
                                Metrics m = Metrics.of(e.getValue(), other);
                                layers.add(new LayerError(e.getKey(), m.relL2(), m.maxAbs()));
                            }
                            Metrics out = Metrics.of(a.output(), b.output());
                            layers.add(new LayerError("output", out.relL2(), out.maxAbs()));
                            results.add(judge(Component.CONNECTOR, rc.precision(), cc.precision(), o, a.output(), b.output(), layers, null, t0));
                        }
                    }
                }
            }

            // LLM.
            if (o.components().contains(Component.LLM)) {
                Optional<String> missing = missing(ref.llm(), cand.llm(), "Llama LLM");
                if (missing.isPresent()) results.add(skip(o, Component.LLM, missing.get()));
                else {
                    long t0 = System.nanoTime();
                    Llama rl = ref.llm().get(), cl = cand.llm().get();
                    if (rl.config().vocabSize() != cl.config().vocabSize() || rl.config().hiddenSize() != cl.config().hiddenSize()) {
                        results.add(fail(Component.LLM, "configs differ (vocab/hidden)", t0));
                    } else {
                        prompt = in.prompt();
                        if (in.inputIds().isPresent()) ids = in.inputIds().get();
                        else {
                            java.nio.file.Path tokDir = rl.tokenizerDir().or(cl::tokenizerDir).orElseThrow(() -> new BadInputException((String) null,
                                    "neither LLM folder has a tokenizer.json; give input_ids in --inputs", null));
                            try (PromptTokenizer tok = PromptTokenizer.load(tokDir)) {
                                ids = tok.encode(prompt);
                            }
                        }
                        LlamaForward.Sequence seq = sequence(ids, refConnector, rl);
                        imageTokens = seq.imageTokens();
                        if (seq.tokens().length != ids.length) prompt += "  [image placeholder dropped: no connector rows of the LLM's width]";
                        try (LlmRunner fa = llm(engine, ref, rl, o.maxResidentBytes());
                             LlmRunner fb = llm(engine, cand, cl, o.maxResidentBytes())) {
                            LlamaForward.Output a = fa.forward(seq), b = fb.forward(seq);
                            List<LayerError> layers = new ArrayList<>();
                            for (Map.Entry<String, float[]> e : a.hiddenStates().entrySet()) {
                                float[] other = b.hiddenStates().get(e.getKey());
                                if (other == null || other.length != e.getValue().length) continue;
                                Metrics m = Metrics.of(e.getValue(), other);
                                layers.add(new LayerError(e.getKey(), m.relL2(), m.maxAbs()));
                            }
                            Metrics lm = Metrics.of(a.logits(), b.logits());
                            layers.add(new LayerError("logits", lm.relL2(), lm.maxAbs()));
                            int[] ga = fa.greedy(seq, in.greedyTokens()), gb = fb.greedy(seq, in.greedyTokens());
                            LlmMetrics llm = LlmMetrics.of(a.logits(), b.logits(), a.seq(), a.vocab(), ga, gb);
                            Optional<String> quant = cl.quantization().or(rl::quantization);
                            Tolerance base = quant.map(Tolerance::forQuantization).orElse(Tolerance.forPair(rl.precision(), cl.precision()));
                            results.add(judge(Component.LLM, base, rl.precisionLabel() + " vs " + cl.precisionLabel(), o, a.logits(), b.logits(), layers, llm, t0));
                        }
                    }
                }
            }
            ParityReport.Inputs inputs = new ParityReport.Inputs(in.seed(), pixelSource, prompt, ids, imageTokens, in.greedyTokens(), connectorSource);
            return new ParityReport(o.llavapackVersion(), engine.describe() + ", " + threads + " thread" + (threads == 1 ? "" : "s"),
                    engine.device().toString(), source(ref), source(cand), inputs, results);
        }
    }

    /** The vision forward of a source: DJL on its weights, or onnxruntime on its exported encoder (selected state only). */
    static VisionForward.Output vision(TorchEngine engine, ComponentSource s, VisionTower t, float[] pixels) {
        if (s.onnx().isEmpty()) return VisionForward.run(engine, t, pixels, 1);
        var c = t.config();
        float[] sel = s.onnx().get().run("vision_encoder.onnx",
                Map.of("pixel_values", new OnnxModels.Input.Floats(pixels, 1, c.channels(), c.imageSize(), c.imageSize())), "vision_hidden_states");
        List<float[]> states = new ArrayList<>();
        for (int i = 0; i <= c.layers(); i++) states.add(i == t.selectedIndex() ? sel : null);
        int tok = c.tokens(), h = c.hiddenSize();
        return new VisionForward.Output(1, tok, h, states, java.util.Arrays.copyOfRange(sel, h, tok * h), null);
    }

    /** The connector forward of a source; the ONNX connector takes the encoder's output, class-token row included (a zero row here). */
    static ConnectorForward.Output connector(TorchEngine engine, ComponentSource s, Connector c, ConnectorForward.Input in) {
        if (s.onnx().isEmpty()) return ConnectorForward.run(engine, c, in);
        int d = c.inputDim();
        float[] withCls = new float[in.batch() * (in.tokens() + 1) * d];
        for (int b = 0; b < in.batch(); b++) System.arraycopy(in.features(), b * in.tokens() * d, withCls, (b * (in.tokens() + 1) + 1) * d, in.tokens() * d);
        Map<String, OnnxModels.Input> feed = new LinkedHashMap<>();
        feed.put("vision_hidden_states", new OnnxModels.Input.Floats(withCls, in.batch(), in.tokens() + 1, d));
        if (c instanceof QFormer q && q.config().crossAttention()) {
            feed.put("patch_features", new OnnxModels.Input.Floats(in.patches(), in.batch(), in.patchTokens(), q.config().encoderWidth()));
            feed.put("patch_mask", new OnnxModels.Input.Longs(in.patchMask(), in.batch(), in.patchTokens()));
        }
        float[] out = s.onnx().get().run("connector.onnx", feed, "image_features");
        return new ConnectorForward.Output(in.batch(), in.tokens(), c.outputDim(), out, new LinkedHashMap<>());
    }

    static LlmRunner llm(TorchEngine engine, ComponentSource s, Llama l, long maxResident) {
        return s.onnx().isPresent() ? new OnnxLlm(s.onnx().get(), l.config()) : new LlamaForward(engine, l, maxResident);
    }

    /** Cross-attention needs sub-patch tokens: three seeded tiles, the last one marked as padding (mask 0). */
    private static ConnectorForward.Input withPatches(ConnectorForward.Input in, Connector ref, Optional<Connector> cand, ParityInputs inputs) {
        int width = ref instanceof QFormer q && q.config().crossAttention() ? q.config().encoderWidth()
                : cand.filter(c -> c instanceof QFormer q && q.config().crossAttention()).map(c -> ((QFormer) c).config().encoderWidth()).orElse(0);
        if (width == 0) return in;
        int t = 3 * in.tokens();
        long[] mask = new long[in.batch() * t];
        for (int b = 0; b < in.batch(); b++) for (int i = 0; i < t; i++) mask[b * t + i] = i < 2 * in.tokens() ? 1 : 0;
        return new ConnectorForward.Input(in.batch(), in.tokens(), in.features(), t, inputs.normals(in.batch() * t * width, 2), mask);
    }

    /** The ids with the reference connector's rows at the placeholder, or without the placeholder when there are none to splice. */
    private static LlamaForward.Sequence sequence(int[] ids, Optional<ConnectorForward.Output> connector, Llama llm) {
        boolean hasImage = java.util.Arrays.stream(ids).anyMatch(t -> t == LlamaForward.IMAGE_TOKEN);
        if (!hasImage) return LlamaForward.Sequence.ofTokens(ids);
        if (connector.isPresent() && connector.get().dim() == llm.config().hiddenSize()) {
            return new LlamaForward.Sequence(ids, connector.get().output(), connector.get().tokens());
        }
        return LlamaForward.Sequence.ofTokens(java.util.Arrays.stream(ids).filter(t -> t != LlamaForward.IMAGE_TOKEN).toArray());
    }

    private static Optional<String> missing(Optional<?> ref, Optional<?> cand, String what) {
        if (ref.isEmpty() && cand.isEmpty()) return Optional.of("neither side has a " + what);
        if (ref.isEmpty()) return Optional.of("the reference has no " + what);
        if (cand.isEmpty()) return Optional.of("the candidate has no " + what);
        return Optional.empty();
    }

    /** Asked for explicitly, a missing component is an input error; under {@code all} it is skipped. */
    private static ComponentResult skip(Options o, Component c, String why) {
        if (o.explicit()) throw new BadInputException((String) null, "--component " + c.label + ": " + why, null);
        return ComponentResult.skipped(c, why);
    }

    private static ComponentResult fail(Component c, String why, long t0) {
        return new ComponentResult(c, Status.FAIL, why, null, null, null, List.of(), null, null, null, List.of(why), seconds(t0));
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static ComponentResult judge(Component c, DType refType, DType candType, Options o, float[] ref, float[] cand,
                                         List<LayerError> layers, LlmMetrics llm, long t0) {
        return judge(c, Tolerance.forPair(refType, candType), Tolerance.pairLabel(refType, candType), o, ref, cand, layers, llm, t0);
    }

    /** {@code base} is the default tolerance of the pair (before the user's overrides); {@code pair} labels the two sides. */
    private static ComponentResult judge(Component c, Tolerance base, String pair, Options o, float[] ref, float[] cand,
                                         List<LayerError> layers, LlmMetrics llm, long t0) {
        Tolerance tol = o.overrides().apply(base);
        Metrics m = Metrics.of(ref, cand);
        List<String> failures = new ArrayList<>();
        if (!(m.relL2() <= tol.maxRelL2())) failures.add(String.format(Locale.ROOT, "relative L2 %.3e > %.3e", m.relL2(), tol.maxRelL2()));
        if (!(m.cosine() >= tol.minCosine())) failures.add(String.format(Locale.ROOT, "cosine %.8f < %.8f", m.cosine(), tol.minCosine()));
        if (llm != null) {
            LlmMetrics.Top1 top1 = llm.decisiveTop1(tol.maxRelL2());
            if (!(top1.agreement() >= tol.minTop1())) {
                failures.add(String.format(Locale.ROOT, "top-1 agreement %.4f < %.4f over %d decisive positions", top1.agreement(), tol.minTop1(), top1.decisivePositions()));
            }
            if (!Double.isNaN(tol.maxKlMean()) && !(llm.klMean() <= tol.maxKlMean())) {
                failures.add(String.format(Locale.ROOT, "mean KL %.3e > %.3e", llm.klMean(), tol.maxKlMean()));
            }
            int need = Math.min(tol.minGreedy(), llm.greedyReference().length);
            if (tol.minGreedy() >= 0 && llm.greedyPrefix() < need) {
                failures.add("greedy continuation agrees for " + llm.greedyPrefix() + " of " + llm.greedyReference().length + " tokens (needs " + need + ")");
            }
        }
        double[] edges = Metrics.histogramEdges();
        long[] hist = Metrics.absDiffHistogram(ref, cand, edges);
        Status s = failures.isEmpty() ? Status.PASS : Status.FAIL;
        return new ComponentResult(c, s, failures.isEmpty() ? "within " + tol.name() + " tolerance" : String.join("; ", failures),
                pair, tol, m, layers, edges, hist, llm, failures, seconds(t0));
    }

    private static ParityReport.Source source(ComponentSource s) {
        Map<String, String> comps = new LinkedHashMap<>();
        s.vision().ifPresent(v -> comps.put("plip", v.description() + " (" + v.precision().torchName() + ", " + v.config().layers() + " layers)"));
        s.connector().ifPresent(c -> comps.put("connector", c.description() + " (" + c.kind() + ", " + c.precision().torchName() + ")"));
        s.llm().ifPresent(l -> comps.put("llm", l.description() + " (" + l.precisionLabel() + ", " + l.config().layers() + " layers"
                + l.lora().map(x -> ", LoRA unmerged: " + x.modules().size() + " modules").orElse("") + ")"));
        return new ParityReport.Source(s.path().toString(), s.kind(), comps, s.notes());
    }
}
