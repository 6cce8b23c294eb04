package org.llavapack.formats.safetensors;

import java.util.ArrayList;
import java.util.List;

/**
 * How tensors are spread over shard files, decided as huggingface_hub's {@code split_state_dict_into_shards_factory}
 * does: greedy in state-dict order, a new shard when the next tensor would tip the current one over the limit, and a
 * tensor larger than the limit alone in a shard of its own.
 */
public record ShardPlan(List<List<org.llavapack.tensor.TensorInfo>> shards, long totalBytes) {

    public static ShardPlan of(List<org.llavapack.tensor.TensorInfo> tensors, long maxShardBytes) {
        List<List<org.llavapack.tensor.TensorInfo>> shards = new ArrayList<>();
        List<org.llavapack.tensor.TensorInfo> current = new ArrayList<>();
        long currentSize = 0;
        long total = 0;
        for (var t : tensors) {
            long size = t.byteSize();
            total += size;
            if (size > maxShardBytes) {
                shards.add(List.of(t));
                continue;
            }
            if (currentSize + size > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentSize = 0;
            }
            current.add(t);
            currentSize += size;
        }
        if (!current.isEmpty()) shards.add(current);
        return new ShardPlan(List.copyOf(shards.stream().map(List::copyOf).toList()), total);
    }

    /** File name of shard {@code i} (0-based) for a model called {@code prefix} ("model", "adapter_model"). */
    public String fileName(String prefix, int i) {
        if (shards.size() == 1) return prefix + ".safetensors";
        return String.format("%s-%05d-of-%05d.safetensors", prefix, i + 1, shards.size());
    }
}
