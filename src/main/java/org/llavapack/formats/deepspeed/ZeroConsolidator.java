package org.llavapack.formats.deepspeed;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.llavapack.BadInputException;
import org.llavapack.formats.deepspeed.ReconstructedTensor.Role;
import org.llavapack.tensor.Tensor;

/**
 * DeepSpeed's {@code zero_to_fp32} as a pure algorithm over already-decoded pickles (spec §4): validates the rank files
 * against each other and against the model states, then describes every output tensor and where its values lie,
 * without reading any values. Values are read later, tensor by tensor, through {@link TensorSource}; so memory stays
 * near one output tensor however many ranks and groups there are.
 *
 * <p>Ranks may be supplied in any order: they are sorted by their numeric rank (a lexicographic file sort would put
 * rank 10 before rank 2 and silently corrupt every weight).
 */
public final class ZeroConsolidator {
    private ZeroConsolidator() {}

    /** Most names an error message lists before "…". */
    private static final int LIST_LIMIT = 8;

    /** Reconstructs from the fp32 masters in the optimizer files ({@code --source master}). */
    public static Consolidation fromMasters(ZeroModelStates model, List<ZeroRankState> rankStates) {
        List<String> warnings = new ArrayList<>();
        List<ZeroRankState> ranks = validateRanks(model, rankStates);
        int w = ranks.getFirst().partitionCount().getFirst();
        int stage = ranks.getFirst().stage();

        Map<String, ReconstructedTensor> out = new LinkedHashMap<>();
        addBuffers(model, out);
        addFrozen(model, stage, w, out);

        List<ReconstructedTensor> trainable = stage == 3
                ? zero3Trainable(model, ranks, w, warnings)
                : zero12Trainable(model, ranks, w, warnings);
        long elements = 0;
        for (ReconstructedTensor t : trainable) {
            putUnique(out, t, model.file());
            elements += t.numel();
        }
        addShared(model, out, warnings);

        ConsolidationReport report = new ConsolidationReport(ConsolidationReport.Source.MASTER, stage, w,
                model.groupCount(), model.dsVersion(), trainable.size(), elements,
                ranks.stream().map(ZeroRankState::file).toList(), warnings);
        return new Consolidation(new ArrayList<>(out.values()), report);
    }

    /**
     * Takes the trainable parameters from the 16-bit copies in {@code module} ({@code --source module}, spec §4.5):
     * exact 16-bit output from the model-states file alone, no optimizer files needed. ZeRO-1/2 only.
     */
    public static Consolidation fromModule(ZeroModelStates model) {
        if (model.stage() == 3) {
            throw new BadInputException(model.file(), "ZeRO-3 keeps only empty placeholders in 'module'; "
                    + "the weights live in the optimizer files (use --source master)");
        }
        List<String> warnings = new ArrayList<>();
        Map<String, ReconstructedTensor> out = new LinkedHashMap<>();
        addBuffers(model, out);
        addFrozen(model, model.stage(), 1, out);
        int count = 0;
        long elements = 0;
        for (int g = 0; g < model.groupCount(); g++) {
            for (Map.Entry<String, long[]> e : model.group(g).entrySet()) {
                String name = e.getKey();
                long numel = numel(model.file(), name, e.getValue());
                Tensor t = model.module().get(name);
                if (t == null) {
                    throw new BadInputException(model.file(), "'module' has no tensor '" + name
                            + "' although param_shapes lists it (use --source master)");
                }
                if (t.numel() != numel || !Arrays.equals(t.info().shape(), e.getValue())) {
                    throw new BadInputException(model.file(), "'module' tensor '" + name + "' has shape "
                            + t.info().shapeString() + " but param_shapes says " + Arrays.toString(e.getValue()));
                }
                if (!t.dtype().isFloatingPoint()) {
                    throw new BadInputException(model.file(), "'module' tensor '" + name + "' is " + t.dtype()
                            + ", not a floating-point parameter");
                }
                putUnique(out, new ReconstructedTensor(name, e.getValue(), Role.TRAINABLE, new TensorSource.Stored(t)),
                        model.file());
                count++;
                elements += numel;
            }
        }
        addShared(model, out, warnings);
        ConsolidationReport report = new ConsolidationReport(ConsolidationReport.Source.MODULE, model.stage(), 0,
                model.groupCount(), model.dsVersion(), count, elements, List.of(), warnings);
        return new Consolidation(new ArrayList<>(out.values()), report);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // validation shared by all stages (spec §4.1)

    private static List<ZeroRankState> validateRanks(ZeroModelStates model, List<ZeroRankState> rankStates) {
        Path dir = folderOf(model.file());
        if (rankStates.isEmpty()) {
            throw new BadInputException(dir, "no *_optim_states.pt files: the fp32 master weights are in them "
                    + "(use --source module to take the 16-bit copies from " + model.file().getFileName() + " instead)");
        }
        List<ZeroRankState> ranks = new ArrayList<>(rankStates);
        ranks.sort(Comparator.comparingInt(ZeroRankState::rank));
        for (int i = 0; i < ranks.size(); i++) {
            ZeroRankState r = ranks.get(i);
            if (r.rank() < 0) throw new BadInputException(r.file(), "negative rank " + r.rank());
            if (i > 0 && ranks.get(i - 1).rank() == r.rank()) {
                throw new BadInputException(dir, "two optimizer files for rank " + r.rank() + ": "
                        + ranks.get(i - 1).file().getFileName() + " and " + r.file().getFileName());
            }
        }
        // stages
        Map<Integer, Path> stages = new LinkedHashMap<>();
        for (ZeroRankState r : ranks) {
            if (r.stage() < 1 || r.stage() > 3) {
                throw new BadInputException(r.file(), "unsupported zero_stage " + r.stage() + " (expected 1, 2 or 3)");
            }
            stages.putIfAbsent(r.stage(), r.file());
        }
        if (stages.size() > 1) {
            throw new BadInputException(dir, "mixed ZeRO stages: " + stages.entrySet().stream()
                    .map(e -> e.getValue().getFileName() + " has stage " + e.getKey()).collect(Collectors.joining(", ")));
        }
        int stage = ranks.getFirst().stage();
        if ((model.stage() == 3) != (stage == 3)) {
            throw new BadInputException(dir, "mixed ZeRO stages: " + model.file().getFileName() + " says stage "
                    + model.stage() + ", " + ranks.getFirst().file().getFileName() + " says stage " + stage);
        }
        // world size
        Map<Integer, Path> sizes = new LinkedHashMap<>();
        for (ZeroRankState r : ranks) {
            if (r.partitionCount().isEmpty()) throw new BadInputException(r.file(), "no partition_count");
            Set<Integer> distinct = new TreeSet<>(r.partitionCount());
            if (distinct.size() > 1) {
                throw new BadInputException(r.file(), "partition_count differs between param groups " + distinct
                        + " (MoE / expert-parallel checkpoints are not supported)");
            }
            int w = r.partitionCount().getFirst();
            if (w < 1) throw new BadInputException(r.file(), "partition_count " + w);
            sizes.putIfAbsent(w, r.file());
        }
        if (sizes.size() > 1) {
            throw new BadInputException(dir, "mixed world sizes: " + sizes.entrySet().stream()
                    .map(e -> e.getValue().getFileName() + " has partition_count " + e.getKey())
                    .collect(Collectors.joining(", ")) + " — are these files from one run?");
        }
        int w = ranks.getFirst().partitionCount().getFirst();
        if (ranks.size() != w) {
            throw new BadInputException(dir, "expected " + w + " optimizer files (partition_count), found " + ranks.size()
                    + " — copy all *_optim_states.pt into one directory");
        }
        Set<Integer> present = new HashSet<>();
        for (ZeroRankState r : ranks) present.add(r.rank());
        List<Integer> missing = new ArrayList<>();
        for (int r = 0; r < w; r++) if (!present.contains(r)) missing.add(r);
        if (!missing.isEmpty()) {
            throw new BadInputException(dir, "expected ranks 0.." + (w - 1) + " (partition_count " + w + "), missing rank(s) "
                    + limited(missing) + " — copy all *_optim_states.pt into one directory");
        }
        return ranks;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // ZeRO-1/2 (spec §4.2)

    private static List<ReconstructedTensor> zero12Trainable(ZeroModelStates model, List<ZeroRankState> ranks, int w,
                                                             List<String> warnings) {
        int groups = model.groupCount();
        for (ZeroRankState r : ranks) {
            if (r.groups().size() != groups) {
                throw new BadInputException(r.file(), "group count mismatch: single_partition_of_fp32_groups has "
                        + r.groups().size() + " param groups, param_shapes in " + model.file().getFileName() + " has " + groups);
            }
            if (r.groupPaddings().size() != groups) {
                throw new BadInputException(r.file(), "group count mismatch: group_paddings has "
                        + r.groupPaddings().size() + " entries for " + groups + " param groups");
            }
            if (!r.sliceMappings().isEmpty() && r.sliceMappings().size() != groups) {
                throw new BadInputException(r.file(), "group count mismatch: param_slice_mappings has "
                        + r.sliceMappings().size() + " entries for " + groups + " param groups");
            }
        }
        long align = 2L * w; // DeepSpeed's nccl_start_alignment_factor (2) × world size
        List<ReconstructedTensor> out = new ArrayList<>();
        List<Integer> tolerated = new ArrayList<>();
        List<Integer> paddingOff = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            List<FlatPartition> slices = new ArrayList<>(w);
            for (ZeroRankState r : ranks) slices.add(r.groups().get(g));
            VirtualVector full = new VirtualVector(slices);
            long avail = full.length();
            long need = 0;
            for (Map.Entry<String, long[]> e : model.group(g).entrySet()) {
                need = Math.addExact(need, numel(model.file(), e.getKey(), e.getValue()));
            }
            if (need > avail) {
                throw new BadInputException(folderOf(model.file()), "total numel mismatch in param group " + g
                        + ": param_shapes needs " + need + " elements, the " + w + " rank slices hold " + avail);
            }
            if (need != avail) {
                if (alignUp(need, align) != alignUp(avail, align)) {
                    throw new BadInputException(folderOf(model.file()), "leftover elements in param group " + g
                            + ": consumed " + need + " numels out of " + avail + " (more than DeepSpeed's alignment of 2·W = "
                            + align + " allows)");
                }
                tolerated.add(g);
            }
            long offset = 0;
            Map<String, long[]> ranges = new LinkedHashMap<>();
            for (Map.Entry<String, long[]> e : model.group(g).entrySet()) {
                long n = numel(model.file(), e.getKey(), e.getValue());
                out.add(new ReconstructedTensor(e.getKey(), e.getValue(), Role.TRAINABLE,
                        TensorSource.MasterPieces.of(full.pieces(offset, n))));
                ranges.put(e.getKey(), new long[] {offset, n});
                offset += n;
            }
            checkSliceMappings(ranks, g, full, ranges);
            long paddingSum = 0;
            for (ZeroRankState r : ranks) {
                long p = r.groupPaddings().get(g);
                if (p < 0) throw new BadInputException(r.file(), "negative group_paddings[" + g + "] = " + p);
                paddingSum += p;
            }
            if (paddingSum != alignUp(need, align) - need) paddingOff.add(g);
        }
        if (!tolerated.isEmpty()) {
            warnings.add(tolerated.size() + " param group(s) " + limited(tolerated) + " hold more elements than their "
                    + "parameters; the extra ones are alignment padding (within DeepSpeed's 2·W tolerance) and were skipped");
        }
        if (!paddingOff.isEmpty()) {
            warnings.add("group_paddings summed over ranks differ from the 2·W alignment padding in param group(s) "
                    + limited(paddingOff) + " (older DeepSpeed?); reconstruction follows param_shapes");
        }
        return out;
    }

    /** Spec §4.6 item 3: each rank's param_slice_mappings must describe exactly the params its slice overlaps. */
    private static void checkSliceMappings(List<ZeroRankState> ranks, int g, VirtualVector full, Map<String, long[]> ranges) {
        for (int r = 0; r < ranks.size(); r++) {
            ZeroRankState rank = ranks.get(r);
            if (rank.sliceMappings().isEmpty()) continue;
            Map<String, FragmentAddress> actual = rank.sliceMappings().get(g);
            long s = full.startOf(r);
            long e = s + full.lengthOf(r);
            Map<String, FragmentAddress> expected = new LinkedHashMap<>();
            for (Map.Entry<String, long[]> p : ranges.entrySet()) {
                long p0 = p.getValue()[0];
                long p1 = p0 + p.getValue()[1];
                if (p0 < e && p1 > s) {
                    long fs = Math.max(p0, s);
                    long fe = Math.min(p1, e);
                    expected.put(p.getKey(), new FragmentAddress(fe - fs, fs - s));
                }
            }
            if (!expected.equals(actual)) {
                String detail = describeMappingDifference(expected, actual);
                throw new BadInputException(rank.file(), "param_slice_mappings[" + g + "] disagree with param_shapes for rank "
                        + rank.rank() + " (" + detail + ") — wrong rank order, or files from different runs?");
            }
        }
    }

    private static String describeMappingDifference(Map<String, FragmentAddress> expected, Map<String, FragmentAddress> actual) {
        for (Map.Entry<String, FragmentAddress> e : expected.entrySet()) {
            FragmentAddress a = actual.get(e.getKey());
            if (a == null) return "'" + e.getKey() + "' overlaps this rank's slice but is not mapped";
            if (!a.equals(e.getValue())) {
                return "'" + e.getKey() + "': file says numel " + a.numel() + " at " + a.start() + ", param_shapes give numel "
                        + e.getValue().numel() + " at " + e.getValue().start();
            }
        }
        for (String name : actual.keySet()) {
            if (!expected.containsKey(name)) return "'" + name + "' is mapped but does not overlap this rank's slice";
        }
        return "different";
    }

    // ---------------------------------------------------------------------------------------------------------------
    // ZeRO-3 (spec §4.3)

    private static List<ReconstructedTensor> zero3Trainable(ZeroModelStates model, List<ZeroRankState> ranks, int w,
                                                            List<String> warnings) {
        LinkedHashMap<String, long[]> merged = new LinkedHashMap<>();
        for (int g = 0; g < model.groupCount(); g++) {
            for (Map.Entry<String, long[]> e : model.group(g).entrySet()) {
                if (merged.put(e.getKey(), e.getValue()) != null) {
                    throw new BadInputException(model.file(), "param_shapes lists '" + e.getKey() + "' twice");
                }
            }
        }
        List<VirtualVector> perRank = new ArrayList<>(w);
        for (ZeroRankState r : ranks) {
            if (r.groups().size() != ranks.getFirst().groups().size()) {
                throw new BadInputException(r.file(), "group count mismatch: fp32_flat_groups has " + r.groups().size()
                        + " sub-groups, " + ranks.getFirst().file().getFileName() + " has " + ranks.getFirst().groups().size());
            }
            perRank.add(new VirtualVector(r.groups()));
        }
        if (ranks.getFirst().groups().size() != model.groupCount()) {
            warnings.add("fp32_flat_groups has " + ranks.getFirst().groups().size() + " sub-groups, param_shapes "
                    + model.groupCount() + "; both are read as one vector per rank, as zero_to_fp32 does");
        }
        List<ReconstructedTensor> out = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, long[]> e : merged.entrySet()) {
            long n = numel(model.file(), e.getKey(), e.getValue());
            long p = ceilDiv(n, w); // each parameter is padded on its own to a multiple of W
            List<TensorSource.Piece> pieces = new ArrayList<>();
            for (int r = 0; r < w; r++) {
                VirtualVector v = perRank.get(r);
                if (offset + p > v.length()) {
                    throw new BadInputException(ranks.get(r).file(), "total numel mismatch: fp32_flat_groups hold "
                            + v.length() + " elements, param_shapes needs at least " + (offset + p) + " on every rank (at '"
                            + e.getKey() + "')");
                }
                long take = Math.max(0, Math.min(p, n - r * p)); // keep the first numel; the tail is padding
                pieces.addAll(v.pieces(offset, take));
            }
            out.add(new ReconstructedTensor(e.getKey(), e.getValue(), Role.TRAINABLE, TensorSource.MasterPieces.of(pieces)));
            offset += p;
        }
        for (int r = 0; r < w; r++) {
            if (perRank.get(r).length() != offset) {
                throw new BadInputException(ranks.get(r).file(), "leftover elements: consumed " + offset
                        + " numels out of " + perRank.get(r).length() + " in fp32_flat_groups");
            }
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // buffers, frozen, shared (spec §4.4)

    private static void addBuffers(ZeroModelStates model, Map<String, ReconstructedTensor> out) {
        Set<String> names = new HashSet<>(model.bufferNames());
        for (Map.Entry<String, Tensor> e : model.module().entrySet()) {
            if (names.contains(e.getKey())) {
                Tensor t = e.getValue();
                putUnique(out, new ReconstructedTensor(e.getKey(), t.info().shape(), Role.BUFFER, new TensorSource.Stored(t)),
                        model.file());
            }
        }
    }

    private static void addFrozen(ZeroModelStates model, int stage, int w, Map<String, ReconstructedTensor> out) {
        if (model.frozen().isEmpty()) return;
        FrozenParams frozen = model.frozen().get();
        LinkedHashMap<String, long[]> shapes = frozen.shapes();
        if (shapes.isEmpty()) return;
        if (stage == 3) {
            if (frozen.fragmentsByRank().size() != w) {
                throw new BadInputException(folderOf(model.file()), "frozen_param_fragments from "
                        + frozen.fragmentsByRank().size() + " model-states files, expected one per rank (" + w + ")");
            }
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                long n = numel(model.file(), e.getKey(), e.getValue());
                List<Tensor> parts = new ArrayList<>(w);
                long total = 0;
                for (int r = 0; r < w; r++) {
                    Tensor t = frozen.fragmentsByRank().get(r).get(e.getKey());
                    if (t == null) {
                        throw new BadInputException(folderOf(model.file()), "rank " + r + "'s frozen_param_fragments has no '"
                                + e.getKey() + "'");
                    }
                    parts.add(t);
                    total += t.numel();
                }
                if (total < n) {
                    throw new BadInputException(folderOf(model.file()), "frozen parameter '" + e.getKey() + "' needs " + n
                            + " elements, its fragments hold " + total);
                }
                if (!parts.stream().allMatch(t -> t.dtype() == parts.getFirst().dtype())) {
                    throw new BadInputException(folderOf(model.file()), "fragments of frozen parameter '" + e.getKey()
                            + "' differ in dtype");
                }
                putUnique(out, new ReconstructedTensor(e.getKey(), e.getValue(), Role.FROZEN, new TensorSource.Concat(parts, n)),
                        model.file());
            }
        } else {
            Map<String, Tensor> fragments = frozen.fragmentsByRank().isEmpty() ? Map.of() : frozen.fragmentsByRank().getFirst();
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                long n = numel(model.file(), e.getKey(), e.getValue());
                Tensor t = fragments.get(e.getKey());
                if (t == null) {
                    throw new BadInputException(model.file(), "frozen_param_fragments has no '" + e.getKey() + "'");
                }
                if (t.numel() != n) {
                    throw new BadInputException(model.file(), "frozen parameter '" + e.getKey() + "' has " + t.numel()
                            + " elements, frozen_param_shapes says " + Arrays.toString(e.getValue()));
                }
                putUnique(out, new ReconstructedTensor(e.getKey(), e.getValue(), Role.FROZEN, new TensorSource.Stored(t)),
                        model.file());
            }
        }
    }

    private static void addShared(ZeroModelStates model, Map<String, ReconstructedTensor> out, List<String> warnings) {
        List<String> orphans = new ArrayList<>();
        Map<String, ReconstructedTensor> aliases = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : model.sharedParams().entrySet()) {
            ReconstructedTensor owner = out.get(e.getValue());
            if (owner == null) {
                orphans.add(e.getKey() + " → " + e.getValue());
            } else if (out.containsKey(e.getKey())) {
                warnings.add("shared param alias '" + e.getKey() + "' is also a tensor of its own; kept that one");
            } else {
                // safetensors cannot share storage: the alias is written as a copy of the owner's values
                aliases.put(e.getKey(), new ReconstructedTensor(e.getKey(), owner.shape(), Role.SHARED, owner.source()));
            }
        }
        out.putAll(aliases);
        if (!orphans.isEmpty()) {
            warnings.add("shared_params whose owner was not reconstructed (left out): " + limitedStrings(orphans));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static void putUnique(Map<String, ReconstructedTensor> out, ReconstructedTensor t, Path file) {
        ReconstructedTensor old = out.putIfAbsent(t.name(), t);
        if (old != null) {
            throw new BadInputException(file, "'" + t.name() + "' occurs twice (" + old.role() + " and " + t.role() + ")");
        }
    }

    static long numel(Path file, String name, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new BadInputException(file, "'" + name + "' has a negative dimension in " + Arrays.toString(shape));
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new BadInputException(file, "'" + name + "' has an impossible shape " + Arrays.toString(shape));
            }
        }
        return n;
    }

    static long alignUp(long x, long align) {
        return ceilDiv(x, align) * align;
    }

    static long ceilDiv(long x, long d) {
        return Math.ceilDiv(x, d);
    }

    private static Path folderOf(Path file) {
        Path parent = file.getParent();
        return parent == null ? file : parent;
    }

    private static String limited(List<Integer> values) {
        return limitedStrings(values.stream().map(String::valueOf).toList());
    }

    private static String limitedStrings(List<String> values) {
        if (values.size() <= LIST_LIMIT) return String.join(", ", values);
        return String.join(", ", values.subList(0, LIST_LIMIT)) + ", … (" + values.size() + " in all)";
    }
}
