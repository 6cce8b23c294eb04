package org.llavapack.convert.xtuner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.llavapack.BadInputException;

/** Reads a {@link ConnectorLayout} off projector tensor names and shapes. */
final class ConnectorDetector {
    private ConnectorDetector() {}

    static final Pattern MLP_KEY = Pattern.compile("model\\.(\\d{1,4})\\.(weight|bias)");
    static final Pattern QF_LAYER = Pattern.compile("model\\.bert\\.encoder\\.layer\\.(\\d{1,4})\\.(.+)");
    static final Pattern QF_MLP_KEY = Pattern.compile("model\\.mlp\\.model\\.(\\d{1,4})\\.(weight|bias)");

    /** The tensors every Q-Former layer has (the query path; the text path was removed in PA-LLaVA). */
    static final List<String> QF_LAYER_TENSORS = List.of(
            "attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight", "attention.self.key.bias",
            "attention.self.value.weight", "attention.self.value.bias", "attention.output.dense.weight",
            "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
            "intermediate_query.dense.weight", "intermediate_query.dense.bias", "output_query.dense.weight",
            "output_query.dense.bias", "output_query.LayerNorm.weight", "output_query.LayerNorm.bias");

    /** The ten tensors a cross-attention block adds to a layer. */
    static final List<String> QF_XATTN_TENSORS = QF_LAYER_TENSORS.subList(0, 10).stream()
            .map(s -> s.replaceFirst("^attention\\.", "crossattention.")).toList();

    static ConnectorLayout detect(Map<String, long[]> shapes, String origin) {
        if (shapes.isEmpty()) throw new BadInputException(origin, "the checkpoint has no projector.* tensors", null);
        boolean allMlp = shapes.keySet().stream().allMatch(k -> MLP_KEY.matcher(k).matches());
        if (allMlp) {
            MlpStack s = mlpStack(shapes, MLP_KEY, "model.", origin);
            return new ConnectorLayout.Mlp(s.depth, s.in, s.out, s.bias);
        }
        if (shapes.keySet().stream().anyMatch(k -> k.startsWith("model.bert."))) return qformer(shapes, origin);
        throw new BadInputException(origin, "the projector tensors fit neither XTuner's MLP projector (model.0, model.2 …) "
                + "nor PA-LLaVA's Q-Former (model.bert.…); first names: " + String.join(", ",
                        shapes.keySet().stream().sorted().limit(5).toList()), null);
    }

    private static ConnectorLayout.QFormer qformer(Map<String, long[]> shapes, String origin) {
        TreeMap<Integer, TreeSet<String>> layers = new TreeMap<>();
        List<String> unrecognised = new ArrayList<>();
        long maxPositions = 0;
        boolean hasNorm = false;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String k = e.getKey();
            Matcher lm = QF_LAYER.matcher(k);
            if (lm.matches()) {
                layers.computeIfAbsent(Integer.parseInt(lm.group(1)), x -> new TreeSet<>()).add(lm.group(2));
            } else if (k.equals("model.bert.embeddings.position_ids")) {
                long[] s = e.getValue();
                maxPositions = s.length == 0 ? 0 : s[s.length - 1];
            } else if (k.equals("model.norm.weight") || k.equals("model.norm.bias")) {
                hasNorm = true;
            } else if (!QF_MLP_KEY.matcher(k).matches() && !k.startsWith("model.bert.embeddings.LayerNorm.")) {
                unrecognised.add(k);
            }
        }
        if (layers.isEmpty()) throw new BadInputException(origin, "Q-Former projector without encoder layers", null);
        int n = layers.size();
        if (layers.firstKey() != 0 || layers.lastKey() != n - 1) {
            throw new BadInputException(origin, "Q-Former layers are not numbered 0.." + (n - 1) + ": " + layers.keySet(), null);
        }
        List<Integer> xattn = new ArrayList<>();
        for (Map.Entry<Integer, TreeSet<String>> l : layers.entrySet()) {
            TreeSet<String> have = l.getValue();
            List<String> missing = QF_LAYER_TENSORS.stream().filter(t -> !have.contains(t)).toList();
            if (!missing.isEmpty()) {
                throw new BadInputException(origin, "Q-Former layer " + l.getKey() + " lacks " + String.join(", ", missing), null);
            }
            boolean anyX = have.stream().anyMatch(t -> t.startsWith("crossattention."));
            if (anyX) {
                List<String> missingX = QF_XATTN_TENSORS.stream().filter(t -> !have.contains(t)).toList();
                if (!missingX.isEmpty()) {
                    throw new BadInputException(origin, "Q-Former layer " + l.getKey() + " has a partial crossattention block, lacking "
                            + String.join(", ", missingX), null);
                }
                xattn.add(l.getKey());
            }
            for (String t : have) {
                if (!QF_LAYER_TENSORS.contains(t) && !QF_XATTN_TENSORS.contains(t)) {
                    unrecognised.add("model.bert.encoder.layer." + l.getKey() + "." + t);
                }
            }
        }
        int freq = 0;
        if (!xattn.isEmpty()) {
            for (int f = 1; f <= n && freq == 0; f++) {
                List<Integer> rule = new ArrayList<>();
                for (int j = 0; j < n; j++) if (j % f == 0) rule.add(j);
                if (rule.equals(xattn)) freq = f;
            }
            if (freq == 0) {
                throw new BadInputException(origin, "cross-attention in Q-Former layers " + xattn
                        + " follows no cross_attention_freq (BLIP-2 puts it in every layer j with j % freq == 0)", null);
            }
        }
        String l0 = "model.bert.encoder.layer.0.";
        long hidden = shapes.get(l0 + "attention.self.query.weight")[0];
        long inter = shapes.get(l0 + "intermediate_query.dense.weight")[0];
        long width = xattn.isEmpty() ? hidden : dim(shapes, "model.bert.encoder.layer." + xattn.getFirst()
                + ".crossattention.self.key.weight", 1, origin);
        if (!hasNorm) throw new BadInputException(origin, "Q-Former projector without model.norm", null);
        MlpStack mlp = mlpStack(shapes, QF_MLP_KEY, "model.mlp.model.", origin);
        return new ConnectorLayout.QFormer(n, xattn, freq, hidden, width, inter, mlp.in, mlp.out, mlp.depth, mlp.bias, maxPositions,
                unrecognised.stream().sorted().toList());
    }

    private record MlpStack(int depth, long in, long out, boolean bias) {}

    /** Linear layers at indices 0, 2, 4 … (activations between them have no weights), chained by shape. */
    private static MlpStack mlpStack(Map<String, long[]> shapes, Pattern key, String prefix, String origin) {
        TreeSet<Integer> idx = new TreeSet<>();
        for (String k : shapes.keySet()) {
            Matcher m = key.matcher(k);
            if (m.matches()) idx.add(Integer.parseInt(m.group(1)));
        }
        if (idx.isEmpty()) throw new BadInputException(origin, "no MLP layers (" + prefix + "0.weight)", null);
        int depth = idx.size();
        List<Integer> want = new ArrayList<>();
        for (int i = 0; i < depth; i++) want.add(2 * i);
        if (!new ArrayList<>(idx).equals(want)) {
            throw new BadInputException(origin, "MLP layers " + prefix + idx + " are not at 0, 2, 4 …", null);
        }
        long in = -1;
        long out = -1;
        int biases = 0;
        for (int i : idx) {
            long[] w = shapes.get(prefix + i + ".weight");
            if (w == null || w.length != 2) {
                throw new BadInputException(origin, prefix + i + ".weight is " + (w == null ? "missing" : Arrays.toString(w))
                        + ", expected a 2-D Linear weight", null);
            }
            if (in < 0) in = w[1];
            else if (w[1] != out) {
                throw new BadInputException(origin, prefix + i + ".weight " + Arrays.toString(w) + " does not follow the previous "
                        + "layer's output width " + out, null);
            }
            out = w[0];
            long[] b = shapes.get(prefix + i + ".bias");
            if (b != null) {
                if (b.length != 1 || b[0] != w[0]) {
                    throw new BadInputException(origin, prefix + i + ".bias is " + Arrays.toString(b), null);
                }
                biases++;
            }
        }
        if (biases != 0 && biases != depth) {
            throw new BadInputException(origin, "only some MLP layers have a bias (" + biases + " of " + depth + ")", null);
        }
        return new MlpStack(depth, in, out, biases == depth);
    }

    private static long dim(Map<String, long[]> shapes, String name, int axis, String origin) {
        long[] s = shapes.get(name);
        if (s == null || s.length <= axis) throw new BadInputException(origin, name + " has an unexpected shape", null);
        return s[axis];
    }
}
