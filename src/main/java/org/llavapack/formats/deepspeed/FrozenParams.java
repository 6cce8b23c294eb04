package org.llavapack.formats.deepspeed;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.llavapack.tensor.Tensor;

/**
 * {@code frozen_param_shapes} and {@code frozen_param_fragments} of the model-states file(s). DeepSpeed writes them
 * only for stage ≥ 2 without {@code exclude_frozen_parameters} (XTuner runs exclude them, so they are usually absent).
 *
 * @param shapes          name → shape, in output order
 * @param fragmentsByRank ZeRO-2: one map (from {@code mp_rank_00_model_states.pt}) holding whole tensors;
 *                        ZeRO-3: one map per rank, in rank order, each holding that rank's 1-D partition of every
 *                        frozen parameter
 */
public record FrozenParams(LinkedHashMap<String, long[]> shapes, List<Map<String, Tensor>> fragmentsByRank) {

    public FrozenParams {
        shapes = ZeroModelStates.copyShapes(shapes);
        List<Map<String, Tensor>> copy = new ArrayList<>();
        for (Map<String, Tensor> m : fragmentsByRank) copy.add(Collections.unmodifiableMap(new LinkedHashMap<>(m)));
        fragmentsByRank = List.copyOf(copy);
    }

    @Override
    public LinkedHashMap<String, long[]> shapes() {
        return ZeroModelStates.copyShapes(shapes);
    }
}
