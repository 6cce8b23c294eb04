package org.llavapack.formats.deepspeed;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;

/**
 * What the model-states file ({@code mp_rank_00_model_states.pt}; rank 0's {@code zero_pp_rank_0_…} for ZeRO-3) holds
 * that reconstruction needs (spec §3.2, §4.1 step 4).
 *
 * @param file          the model-states file, for error messages
 * @param stage         {@code ds_config.zero_optimization.stage}
 * @param paramShapes   {@code param_shapes}: one ordered map per param group (per sub-group for ZeRO-3); the order
 *                      inside each map is the flat order in the partitions. A shape may be a torch.Size or a list
 *                      in the file; both arrive here as {@code long[]}
 * @param bufferNames   {@code buffer_names}
 * @param module        {@code module}: the state dict (16-bit views for ZeRO-1/2, placeholders for ZeRO-3, buffers
 *                      in full), in file order
 * @param sharedParams  {@code shared_params}: alias → owner
 * @param frozen        frozen parameters, when the file has them
 * @param dsVersion     {@code ds_version}, or empty
 * @param trainDtype    BF16 when {@code ds_config.bf16.enabled}, F16 when {@code fp16.enabled}, else empty
 */
public record ZeroModelStates(Path file, int stage, List<LinkedHashMap<String, long[]>> paramShapes,
                              List<String> bufferNames, Map<String, Tensor> module, Map<String, String> sharedParams,
                              Optional<FrozenParams> frozen, String dsVersion, Optional<DType> trainDtype) {

    public ZeroModelStates {
        Objects.requireNonNull(file, "file");
        List<LinkedHashMap<String, long[]>> shapes = new ArrayList<>();
        for (LinkedHashMap<String, long[]> g : paramShapes) shapes.add(copyShapes(g));
        paramShapes = Collections.unmodifiableList(shapes);
        bufferNames = List.copyOf(bufferNames);
        module = Collections.unmodifiableMap(new LinkedHashMap<>(module));
        sharedParams = Collections.unmodifiableMap(new LinkedHashMap<>(sharedParams));
        Objects.requireNonNull(frozen, "frozen");
        dsVersion = dsVersion == null ? "" : dsVersion;
        Objects.requireNonNull(trainDtype, "trainDtype");
    }

    @Override
    public List<LinkedHashMap<String, long[]>> paramShapes() {
        List<LinkedHashMap<String, long[]>> out = new ArrayList<>();
        for (LinkedHashMap<String, long[]> g : paramShapes) out.add(copyShapes(g));
        return out;
    }

    /** Shapes of group {@code g} without copying (read-only use inside this package). */
    LinkedHashMap<String, long[]> group(int g) {
        return paramShapes.get(g);
    }

    int groupCount() {
        return paramShapes.size();
    }

    static LinkedHashMap<String, long[]> copyShapes(Map<String, long[]> shapes) {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        shapes.forEach((k, v) -> out.put(Objects.requireNonNull(k), v.clone()));
        return out;
    }
}
