package org.llavapack.formats.deepspeed;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.formats.pickle.PyDict;
import org.llavapack.formats.pickle.PyEnumMember;
import org.llavapack.formats.pickle.PyList;
import org.llavapack.formats.pickle.PyObject;
import org.llavapack.formats.pickle.PyTuple;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.formats.torch.TorchTensor;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;

/**
 * A DeepSpeed checkpoint folder read through the safe torch reader: the pickled dicts of the model-states and
 * optimizer files decoded into the records the consolidator takes. Files stay memory-mapped while the checkpoint is
 * open; reconstruction then touches only the byte ranges each parameter covers, so resident memory follows the tensor
 * being written, not the rank files.
 */
public final class DeepSpeedCheckpoint implements AutoCloseable {
    private final DeepSpeedFiles files;
    private final List<TorchCheckpoint> open = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    private final ZeroModelStates model;
    private final List<ZeroRankState> ranks;
    private final Map<String, Object> dsConfig;
    private final Optional<String> configText;

    private DeepSpeedCheckpoint(DeepSpeedFiles files) {
        this.files = files;
        try {
            Path modelFile = files.modelStates().orElseGet(() -> files.rankModelStates().isEmpty()
                    ? null : files.rankModelStates().getFirst().path());
            if (modelFile == null) throw new BadInputException(files.tagDir(), "no model-states file in this checkpoint folder");
            PyDict root = dict(openFile(modelFile).root(), modelFile, "the file's top level");
            this.dsConfig = asMap(root.get("ds_config"));
            this.configText = metaConfig(root);
            this.model = modelStates(modelFile, root);
            this.ranks = new ArrayList<>();
            for (DeepSpeedFiles.RankFile rf : files.optimStates()) ranks.add(rankState(rf));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Opens a tag folder, a folder with {@code latest}, or an XTuner work dir with {@code last_checkpoint}. */
    public static DeepSpeedCheckpoint open(Path path) {
        return new DeepSpeedCheckpoint(DeepSpeedFiles.locate(path));
    }

    public DeepSpeedFiles files() {
        return files;
    }

    public ZeroModelStates model() {
        return model;
    }

    public List<ZeroRankState> ranks() {
        return ranks;
    }

    /** The fp32 masters from the optimizer partitions (needs every rank file). */
    public Consolidation masters() {
        if (ranks.isEmpty()) {
            throw new BadInputException(files.tagDir(), "no *_optim_states.pt files: the fp32 masters are there "
                    + "(use --source module to convert the 16-bit copies in the model-states file instead)");
        }
        return ZeroConsolidator.fromMasters(model, ranks);
    }

    /** The 16-bit copies stored in the model-states file (ZeRO-1/2). */
    public Consolidation module() {
        return ZeroConsolidator.fromModule(model);
    }

    private TorchCheckpoint openFile(Path p) {
        TorchCheckpoint t = TorchCheckpoint.open(p);
        open.add(t);
        return t;
    }

    private ZeroModelStates modelStates(Path file, PyDict root) {
        int stage = (int) longOf(path(dsConfig, "zero_optimization", "stage"), file, "ds_config.zero_optimization.stage", -1);
        List<LinkedHashMap<String, long[]>> shapes = new ArrayList<>();
        for (Object g : list(root.get("param_shapes"), file, "param_shapes")) shapes.add(shapeMap(g, file, "param_shapes"));
        List<String> buffers = new ArrayList<>();
        Object bn = root.get("buffer_names");
        if (bn == null) throw new BadInputException(file, "no buffer_names: not a DeepSpeed model-states file");
        for (Object o : list(bn, file, "buffer_names")) buffers.add(string(o, file, "buffer_names"));
        Map<String, Tensor> module = new LinkedHashMap<>();
        Object m = root.get("module");
        if (m instanceof PyDict md) {
            for (Map.Entry<Object, Object> e : md.entrySet()) {
                if (e.getValue() instanceof TorchTensor t) {
                    String name = string(e.getKey(), file, "module");
                    module.put(name, t.toTensor(name, arena));
                }
            }
        }
        Map<String, String> shared = new LinkedHashMap<>();
        if (root.get("shared_params") instanceof PyDict sp) {
            sp.forEach((k, v) -> shared.put(string(k, file, "shared_params"), string(v, file, "shared_params")));
        }
        Optional<FrozenParams> frozen = frozen(file, root);
        String version = root.get("ds_version") instanceof String s ? s : "";
        return new ZeroModelStates(file, stage < 0 ? 2 : stage, shapes, buffers, module, shared, frozen, version, trainDtype(module));
    }

    private Optional<FrozenParams> frozen(Path file, PyDict root) {
        if (!(root.get("frozen_param_shapes") instanceof PyDict fs) || fs.isEmpty()) return Optional.empty();
        LinkedHashMap<String, long[]> shapes = shapeMap(fs, file, "frozen_param_shapes");
        List<Map<String, Tensor>> byRank = new ArrayList<>();
        if (files.rankModelStates().isEmpty()) {
            byRank.add(fragments(root, file));
        } else {
            for (DeepSpeedFiles.RankFile rf : files.rankModelStates()) {
                PyDict r = rf.path().equals(file) ? root : dict(openFile(rf.path()).root(), rf.path(), "the file's top level");
                byRank.add(fragments(r, rf.path()));
            }
        }
        return Optional.of(new FrozenParams(shapes, byRank));
    }

    private Map<String, Tensor> fragments(PyDict root, Path file) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        if (root.get("frozen_param_fragments") instanceof PyDict f) {
            for (Map.Entry<Object, Object> e : f.entrySet()) {
                String name = string(e.getKey(), file, "frozen_param_fragments");
                if (!(e.getValue() instanceof TorchTensor t)) throw new BadInputException(file, "frozen_param_fragments['" + name + "'] is not a tensor");
                out.put(name, t.toTensor(name, arena));
            }
        }
        return out;
    }

    /** bf16/fp16 from ds_config; "auto" or absent falls back to the dtype of the stored 16-bit copies. */
    private Optional<DType> trainDtype(Map<String, Tensor> module) {
        if (Boolean.TRUE.equals(path(dsConfig, "bf16", "enabled"))) return Optional.of(DType.BF16);
        if (Boolean.TRUE.equals(path(dsConfig, "fp16", "enabled"))) return Optional.of(DType.F16);
        return module.values().stream().map(Tensor::dtype).filter(t -> t == DType.BF16 || t == DType.F16).findFirst();
    }

    private ZeroRankState rankState(DeepSpeedFiles.RankFile rf) {
        Path file = rf.path();
        PyDict root = dict(openFile(file).root(), file, "the file's top level");
        PyDict osd = dict(root.get("optimizer_state_dict"), file, "optimizer_state_dict");
        int stage = zeroStage(osd.get("zero_stage"), osd, file);
        if (stage == 3) {
            int count = (int) longOf(osd.get("partition_count"), file, "partition_count", -1);
            List<FlatPartition> flats = new ArrayList<>();
            for (Object t : list(osd.get("fp32_flat_groups"), file, "fp32_flat_groups")) flats.add(partition(t, file, "fp32_flat_groups"));
            return ZeroRankState.zero3(file, rf.rank(), count, flats);
        }
        List<Integer> counts = new ArrayList<>();
        Object pc = osd.get("partition_count");
        if (pc instanceof PyList l) for (Object o : l) counts.add((int) longOf(o, file, "partition_count", -1));
        else counts.add((int) longOf(pc, file, "partition_count", -1));
        List<FlatPartition> groups = new ArrayList<>();
        for (Object t : list(osd.get("single_partition_of_fp32_groups"), file, "single_partition_of_fp32_groups")) {
            groups.add(partition(t, file, "single_partition_of_fp32_groups"));
        }
        List<Long> paddings = new ArrayList<>();
        Object gp = osd.get("group_paddings");
        if (gp != null) for (Object o : list(gp, file, "group_paddings")) paddings.add(longOf(o, file, "group_paddings", -1));
        else for (int i = 0; i < groups.size(); i++) paddings.add(0L);
        List<Map<String, FragmentAddress>> mappings = new ArrayList<>();
        if (osd.get("param_slice_mappings") instanceof PyList maps) {
            for (Object g : maps) {
                Map<String, FragmentAddress> m = new LinkedHashMap<>();
                for (Map.Entry<Object, Object> e : dict(g, file, "param_slice_mappings").entrySet()) {
                    String name = string(e.getKey(), file, "param_slice_mappings");
                    if (!(e.getValue() instanceof PyObject fa)) throw new BadInputException(file, "param_slice_mappings['" + name + "'] is not a fragment_address");
                    m.put(name, new FragmentAddress(longOf(fa.attribute("numel").orElse(null), file, "fragment_address.numel", -1),
                            longOf(fa.attribute("start").orElse(null), file, "fragment_address.start", -1)));
                }
                mappings.add(m);
            }
        }
        return ZeroRankState.zero12(file, rf.rank(), stage, counts, groups, paddings, mappings);
    }

    /**
     * {@code zero_stage} is an int in old files, {@code ZeroStageEnum(n)} (decoded to n) under Python ≤ 3.10, and
     * {@code getattr(ZeroStageEnum, 'gradients')} under Python ≥ 3.11. BF16_Optimizer files have none: ZeRO-1.
     */
    private static int zeroStage(Object value, PyDict osd, Path file) {
        if (value == null) {
            if (osd.containsKey("single_partition_of_fp32_groups")) return 1;
            throw new BadInputException(file, "not a ZeRO optimizer file: no zero_stage and no single_partition_of_fp32_groups");
        }
        if (value instanceof PyEnumMember em) {
            return switch (em.name()) {
                case "disabled" -> 0;
                case "optimizer_states" -> 1;
                case "gradients" -> 2;
                case "weights" -> 3;
                default -> throw new BadInputException(file, "unknown ZeroStageEnum member '" + em.name() + "'");
            };
        }
        return (int) longOf(value, file, "zero_stage", -1);
    }

    private FlatPartition partition(Object value, Path file, String field) {
        if (!(value instanceof TorchTensor t)) throw new BadInputException(file, field + " holds a non-tensor");
        if (t.dtype() != DType.F32) throw new BadInputException(file, field + " holds " + t.dtype() + ", expected fp32 masters");
        if (t.rank() != 1) throw new BadInputException(file, field + " holds a " + t.rank() + "-d tensor, expected flat 1-d");
        return FlatPartition.of(t.toTensor(field, arena));
    }

    // ---- decoding pickled values --------------------------------------------------------------------------------------

    private static PyDict dict(Object v, Path file, String what) {
        if (v instanceof PyDict d) return d;
        throw new BadInputException(file, what + " is not a dict (" + (v == null ? "missing" : v.getClass().getSimpleName()) + ")");
    }

    private static List<?> list(Object v, Path file, String what) {
        if (v instanceof PyList l) return l;
        if (v instanceof PyTuple t) return t;
        throw new BadInputException(file, what + " is not a list (" + (v == null ? "missing" : v.getClass().getSimpleName()) + ")");
    }

    private static String string(Object v, Path file, String what) {
        if (v instanceof String s) return s;
        throw new BadInputException(file, what + " holds a non-string name");
    }

    private static long longOf(Object v, Path file, String what, long fallback) {
        if (v instanceof Long l) return l;
        if (v instanceof Integer i) return i;
        if (v == null && fallback >= 0) return fallback;
        throw new BadInputException(file, what + " is not an integer");
    }

    /** {@code name → torch.Size((d0, …))} or a plain list (DeepSpeed accepts both). */
    private static LinkedHashMap<String, long[]> shapeMap(Object v, Path file, String what) {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : dict(v, file, what).entrySet()) {
            String name = string(e.getKey(), file, what);
            List<?> dims = list(e.getValue(), file, what + "['" + name + "']");
            long[] shape = new long[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = longOf(dims.get(i), file, what + "['" + name + "']", -1);
                if (shape[i] < 0) throw new BadInputException(file, what + "['" + name + "'] has a negative dimension");
            }
            out.put(name, shape);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object v) {
        if (!(v instanceof PyDict d)) return Map.of();
        Map<String, Object> out = new LinkedHashMap<>();
        d.forEach((k, val) -> {
            if (k instanceof String s) out.put(s, val);
        });
        return out;
    }

    private static Object path(Map<String, Object> m, String... keys) {
        Object cur = m;
        for (String k : keys) {
            if (!(cur instanceof Map<?, ?> map)) return null;
            cur = map.get(k);
        }
        return cur;
    }

    /** mmengine stores the training config's text under {@code meta.cfg}; it is read as text, never run. */
    public static Optional<String> metaConfig(Object root) {
        if (root instanceof PyDict d && d.get("meta") instanceof PyDict meta && meta.get("cfg") instanceof String cfg) {
            return Optional.of(cfg);
        }
        return Optional.empty();
    }

    public Optional<String> configText() {
        return configText;
    }

    /** Settings the run trained with, for conversion.json. */
    public Map<String, Object> dsConfig() {
        return dsConfig;
    }

    @Override
    public void close() {
        for (TorchCheckpoint t : open) t.close();
        open.clear();
        arena.close();
    }
}
