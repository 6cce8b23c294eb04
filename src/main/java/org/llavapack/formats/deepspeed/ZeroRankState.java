package org.llavapack.formats.deepspeed;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What one {@code *_optim_states.pt} holds that weight reconstruction needs (spec §3.3, §4.1 step 4), already decoded
 * from the pickle.
 *
 * @param file           the rank file, for error messages
 * @param rank           the data-parallel rank parsed from the file name ({@code zero_pp_rank_(\d+)}), numerically
 * @param stage          {@code optimizer_state_dict.zero_stage} (1, 2 or 3); BF16_Optimizer files, which have no
 *                       {@code zero_stage} but do have {@code single_partition_of_fp32_groups}, are passed as 1
 * @param partitionCount {@code partition_count}: one entry per group for ZeRO-1/2 (a list in the file), one entry for
 *                       ZeRO-3 (an int in the file)
 * @param groups         ZeRO-1/2: {@code single_partition_of_fp32_groups}, one slice per param group;
 *                       ZeRO-3: {@code fp32_flat_groups}, one flat vector per sub-group
 * @param groupPaddings  ZeRO-1/2: {@code group_paddings}, one per group; empty for ZeRO-3
 * @param sliceMappings  ZeRO-1/2: {@code param_slice_mappings} (one ordered map per group), or empty when the file has
 *                       none; used only for the consistency check of spec §4.6 item 3
 */
public record ZeroRankState(Path file, int rank, int stage, List<Integer> partitionCount, List<FlatPartition> groups,
                            List<Long> groupPaddings, List<Map<String, FragmentAddress>> sliceMappings) {

    public ZeroRankState {
        Objects.requireNonNull(file, "file");
        partitionCount = List.copyOf(partitionCount);
        groups = List.copyOf(groups);
        groupPaddings = List.copyOf(groupPaddings);
        List<Map<String, FragmentAddress>> maps = new ArrayList<>();
        for (Map<String, FragmentAddress> m : sliceMappings) maps.add(Collections.unmodifiableMap(new LinkedHashMap<>(m)));
        sliceMappings = List.copyOf(maps);
    }

    /** A ZeRO-1/2 rank. */
    public static ZeroRankState zero12(Path file, int rank, int stage, List<Integer> partitionCount,
                                       List<FlatPartition> groups, List<Long> groupPaddings,
                                       List<Map<String, FragmentAddress>> sliceMappings) {
        return new ZeroRankState(file, rank, stage, partitionCount, groups, groupPaddings, sliceMappings);
    }

    /** A ZeRO-3 rank. */
    public static ZeroRankState zero3(Path file, int rank, int partitionCount, List<FlatPartition> flatGroups) {
        return new ZeroRankState(file, rank, 3, List.of(partitionCount), flatGroups, List.of(), List.of());
    }
}
