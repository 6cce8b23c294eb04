package org.llavapack.model.connector;

import java.util.ArrayList;
import java.util.List;
import org.llavapack.BadInputException;
import org.llavapack.model.Weights;

/**
 * XTuner's {@code ProjectorModel} (LLaVA's mlp{depth}x_gelu): {@code model.0} Linear(in→out), then for each further
 * depth GELU and Linear(out→out) at {@code model.2}, {@code model.4}, … . Depth 1 is one Linear without activation.
 *
 * @param prefix name prefix before {@code model.N} (empty for a projector folder)
 */
public record MlpProjector(String prefix, int depth, int inputDim, int outputDim, boolean bias, String activation, Weights weights,
                           String description) implements Connector {

    public String linear(int k) {
        return prefix + "model." + (2 * k);
    }

    @Override
    public String kind() {
        return "mlp" + depth + "x_" + activation;
    }

    /** Finds the Linear layers {@code prefix + model.0, model.2, …} and checks they chain. */
    public static MlpProjector detect(Weights w, String prefix, String activation, String description) {
        List<long[]> shapes = new ArrayList<>();
        for (int k = 0; w.has(prefix + "model." + (2 * k) + ".weight"); k++) shapes.add(w.shape(prefix + "model." + (2 * k) + ".weight"));
        if (shapes.isEmpty()) throw new BadInputException(description, "no " + prefix + "model.0.weight: not an MLP projector", null);
        for (int k = 0; k < shapes.size(); k++) {
            long[] s = shapes.get(k);
            if (s.length != 2 || (k > 0 && s[1] != shapes.get(k - 1)[0])) {
                throw new BadInputException(description, prefix + "model." + (2 * k) + ".weight has shape " + java.util.Arrays.toString(s)
                        + ", which does not chain with the layer before", null);
            }
        }
        if (!activation.equals("gelu")) throw new BadInputException(description, "projector hidden_act '" + activation + "' is not supported (gelu)", null);
        return new MlpProjector(prefix, shapes.size(), (int) shapes.getFirst()[1], (int) shapes.getLast()[0],
                w.has(prefix + "model.0.bias"), activation, w, description);
    }
}
