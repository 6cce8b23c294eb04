package org.llavapack.convert.xtuner;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Optional;
import org.llavapack.json.PythonJson;
import org.llavapack.tensor.DType;

/**
 * {@code projector/config.json}: the fields transformers' {@code save_pretrained} writes for XTuner's
 * {@code ProjectorConfig} or PA-LLaVA's {@code QFormerProjectorConfig} (spec §5.2), computed from the detected
 * {@link ConnectorLayout}, plus a {@code llavapack} object recording what was detected and how. Keys sorted, indent 2,
 * trailing newline, as transformers writes config files.
 */
public final class ProjectorConfig {
    private ProjectorConfig() {}

    /** Values tensor shapes cannot give (head count, activation), from the XTuner config when it states them. */
    public record Hints(Optional<Integer> numAttentionHeads, Optional<Integer> crossAttentionFreq, Optional<String> hiddenAct,
                        Optional<Integer> numHiddenLayers, Optional<Integer> depth, Optional<Boolean> addCrossAttention) {
        public static Hints none() {
            return new Hints(Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                    Optional.empty());
        }

        public static Hints from(XtunerConfig config) {
            XtunerConfig.ProjectorSettings p = config.projector();
            return new Hints(Optional.empty(), p.crossAttentionFreq(), Optional.empty(), p.numHiddenLayers(), p.depth(),
                    p.addCrossAttention());
        }
    }

    /**
     * The config object. Disagreements between {@code hints} and the weights are appended to {@code warnings}; the
     * weights win.
     */
    public static ObjectNode toJson(ConnectorLayout layout, DType dtype, Hints hints, List<String> warnings) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        ObjectNode ours = f.objectNode();
        ours.put("layout_from", "tensor names and shapes");
        hints.depth().filter(d -> d != layout.depth()).ifPresent(d ->
                warnings.add("the config says projector_depth " + d + ", the weights have " + layout.depth() + " linear layer(s)"));
        switch (layout) {
            case ConnectorLayout.Mlp m -> {
                root.put("model_type", "projector");
                root.putArray("architectures").add("ProjectorModel");
                ObjectNode auto = root.putObject("auto_map");
                auto.put("AutoConfig", "configuration_projector.ProjectorConfig");
                auto.put("AutoModel", "modeling_projector.ProjectorModel");
                ours.put("connector", "mlp");
            }
            case ConnectorLayout.QFormer q -> {
                root.put("model_type", "q_former_projector");
                root.putArray("architectures").add("QFormerProjectorModel");
                ObjectNode auto = root.putObject("auto_map");
                auto.put("AutoConfig", "projector.QFormerProjectorConfig");
                auto.put("AutoModel", "projector.QFormerProjectorModel");
                root.put("num_hidden_layers", q.numHiddenLayers());
                root.put("add_cross_attention", q.crossAttention());
                int freq = q.crossAttention() ? q.crossAttentionFreq() : hints.crossAttentionFreq().orElse(1);
                root.put("cross_attention_freq", freq);
                hints.numAttentionHeads().ifPresent(h -> root.put("num_attention_heads", h));
                hints.addCrossAttention().filter(a -> a != q.crossAttention()).ifPresent(a -> warnings.add(
                        "the config says add_cross_attention=" + (a ? "True" : "False") + ", the weights have "
                                + (q.crossAttention() ? "crossattention blocks in layers " + q.crossAttentionLayers() : "no crossattention blocks")
                                + "; config.json follows the weights"));
                hints.crossAttentionFreq().filter(c -> q.crossAttention() && c != q.crossAttentionFreq()).ifPresent(c -> warnings.add(
                        "the config says cross_attention_freq " + c + ", the weights follow " + q.crossAttentionFreq()));
                hints.numHiddenLayers().filter(n -> n != q.numHiddenLayers()).ifPresent(n -> warnings.add(
                        "the config says num_hidden_layers " + n + ", the weights have " + q.numHiddenLayers() + " Q-Former layers"));
                ours.put("connector", "q_former");
                ArrayNode layers = ours.putArray("cross_attention_layers");
                q.crossAttentionLayers().forEach(layers::add);
                ours.put("hidden_size", q.hiddenSize());
                ours.put("encoder_width", q.encoderWidth());
                ours.put("intermediate_size", q.intermediateSize());
                if (q.maxPositions() > 0) ours.put("max_position_embeddings", q.maxPositions());
                if (!q.unrecognised().isEmpty()) {
                    ArrayNode u = ours.putArray("unrecognised_tensors");
                    q.unrecognised().forEach(u::add);
                    warnings.add(q.unrecognised().size() + " projector tensor(s) fit no known Q-Former part: "
                            + String.join(", ", q.unrecognised().subList(0, Math.min(5, q.unrecognised().size()))));
                }
            }
        }
        root.put("visual_hidden_size", layout.visualHiddenSize());
        root.put("llm_hidden_size", layout.llmHiddenSize());
        root.put("depth", layout.depth());
        root.put("hidden_act", hints.hiddenAct().orElse("gelu"));
        root.put("bias", layout.bias());
        root.put("torch_dtype", dtype.torchName());
        root.set("llavapack", ours);
        return root;
    }

    /** The file text. */
    public static String toText(ObjectNode config) {
        return PythonJson.dumps(config, 2, true) + "\n";
    }
}
