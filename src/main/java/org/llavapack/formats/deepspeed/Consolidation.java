package org.llavapack.formats.deepspeed;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The consolidated state dict, in zero_to_fp32's order (buffers, frozen, trainable, shared), plus its report. */
public record Consolidation(List<ReconstructedTensor> tensors, ConsolidationReport report) {

    public Consolidation {
        tensors = List.copyOf(tensors);
    }

    public Optional<ReconstructedTensor> get(String name) {
        return tensors.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /** name → tensor, in output order. */
    public Map<String, ReconstructedTensor> byName() {
        Map<String, ReconstructedTensor> m = new LinkedHashMap<>();
        for (ReconstructedTensor t : tensors) m.put(t.name(), t);
        return m;
    }

    public List<ReconstructedTensor> withRole(ReconstructedTensor.Role role) {
        return tensors.stream().filter(t -> t.role() == role).toList();
    }
}
