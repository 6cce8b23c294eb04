package org.llavapack.formats.deepspeed;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;

/**
 * Builds what DeepSpeed 0.14 would save, following its partition rules to the letter, from known fp32 masters:
 * ZeRO-1/2 per {@code stage_1_and_2.py} (flat group zero-padded at the end to a multiple of 2W, W equal partitions,
 * ALL padding recorded on the last rank, every rank saving {@code partition[:partition_size - group_paddings[g]]}
 * with Python slice semantics) and ZeRO-3 per {@code partition_parameters.py} (each parameter padded on its own to a
 * multiple of W, garbage in the tail as torch.empty leaves it).
 */
final class ZeroSimulator {
    private ZeroSimulator() {}

    record Param(String name, long[] shape, float[] master) {
        int numel() {
            return master.length;
        }
    }

    static Path dir() {
        return Path.of("iter_8.pth");
    }

    static Path optimFile(int rank, boolean bf16) {
        return dir().resolve((bf16 ? "bf16_" : "") + "zero_pp_rank_" + rank + "_mp_rank_00_optim_states.pt");
    }

    static Path modelFile() {
        return dir().resolve("mp_rank_00_model_states.pt");
    }

    /** Random masters; sizes drawn to include tiny params (numel < W) so padding can exceed a partition. */
    static List<List<Param>> randomGroups(Random rnd, int groups, int maxParams, String prefix) {
        List<List<Param>> out = new ArrayList<>();
        int id = 0;
        for (int g = 0; g < groups; g++) {
            List<Param> ps = new ArrayList<>();
            int n = 1 + rnd.nextInt(maxParams);
            for (int i = 0; i < n; i++) {
                long[] shape = switch (rnd.nextInt(4)) {
                    case 0 -> new long[] {1 + rnd.nextInt(40)};
                    case 1 -> new long[] {1 + rnd.nextInt(9), 1 + rnd.nextInt(30)};
                    case 2 -> new long[] {rnd.nextInt(3) + 1, 2, rnd.nextInt(5) + 1};
                    default -> new long[] {32};
                };
                ps.add(param(prefix + "p" + (id++) + ".weight", shape, rnd));
            }
            out.add(ps);
        }
        return out;
    }

    static Param param(String name, long[] shape, Random rnd) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() * 0.3);
        return new Param(name, shape, v);
    }

    // ----------------------------------------------------------------------------------------------------------------
    // ZeRO-1/2

    /** One group's layout as DeepSpeed computes it. */
    record Layout(int numel, int padded, int partition, int padding) {}

    static Layout layout(int numel, int w) {
        int align = 2 * w;
        int padded = (int) Math.ceilDiv((long) numel, align) * align;
        return new Layout(numel, padded, padded / w, padded - numel);
    }

    /** Python's {@code part[:stop]} on a list of length {@code len}. */
    static int pySliceStop(int len, int stop) {
        if (stop < 0) stop = Math.max(0, len + stop);
        return Math.min(stop, len);
    }

    static List<ZeroRankState> zero2Ranks(List<List<Param>> groups, int w, boolean bf16, boolean withMappings) {
        List<ZeroRankState> ranks = new ArrayList<>();
        List<float[]> flats = new ArrayList<>();
        List<Layout> layouts = new ArrayList<>();
        for (List<Param> grp : groups) {
            int numel = grp.stream().mapToInt(Param::numel).sum();
            Layout lay = layout(numel, w);
            float[] flat = new float[lay.padded()]; // zero padding at the end
            int off = 0;
            for (Param p : grp) {
                System.arraycopy(p.master(), 0, flat, off, p.numel());
                off += p.numel();
            }
            flats.add(flat);
            layouts.add(lay);
        }
        for (int r = 0; r < w; r++) {
            List<FlatPartition> parts = new ArrayList<>();
            List<Long> paddings = new ArrayList<>();
            List<Map<String, FragmentAddress>> mappings = new ArrayList<>();
            for (int g = 0; g < groups.size(); g++) {
                Layout lay = layouts.get(g);
                int ps = lay.partition();
                int start = r * ps;
                int padding = r == w - 1 ? lay.padding() : 0; // all padding is recorded on the last rank
                int keep = pySliceStop(ps, ps - padding);
                float[] saved = new float[keep];
                System.arraycopy(flats.get(g), start, saved, 0, keep);
                parts.add(FlatPartition.of(saved));
                paddings.add((long) padding);
                Map<String, FragmentAddress> m = new LinkedHashMap<>();
                int o = 0;
                for (Param p : groups.get(g)) {
                    int k = p.numel();
                    if (o < start + ps && o + k > start) { // _init_lp_to_hp_mapping's strict overlap test
                        int fs = Math.max(o, start);
                        int fe = Math.min(o + k, start + ps);
                        m.put(p.name(), new FragmentAddress(fe - fs, fs - start));
                    }
                    o += k;
                }
                mappings.add(m);
            }
            ranks.add(ZeroRankState.zero12(optimFile(r, bf16), r, 2, repeat(w, groups.size()), parts, paddings,
                    withMappings ? mappings : List.of()));
        }
        return ranks;
    }

    static ZeroModelStates zero2Model(List<List<Param>> groups, DType dt16, Map<String, Tensor> extraModule,
                                      List<String> bufferNames, Map<String, String> shared, Optional<FrozenParams> frozen) {
        Map<String, Tensor> module = new LinkedHashMap<>(extraModule);
        for (List<Param> grp : groups) {
            for (Param p : grp) module.put(p.name(), round(p, dt16));
        }
        return new ZeroModelStates(modelFile(), 2, shapes(groups), bufferNames, module, shared, frozen, "0.14.2",
                Optional.of(dt16));
    }

    static ZeroModelStates zero2Model(List<List<Param>> groups, DType dt16) {
        return zero2Model(groups, dt16, Map.of(), List.of(), Map.of(), Optional.empty());
    }

    // ----------------------------------------------------------------------------------------------------------------
    // ZeRO-3

    static List<ZeroRankState> zero3Ranks(List<List<Param>> groups, int w, long seed) {
        Random garbage = new Random(seed);
        List<ZeroRankState> ranks = new ArrayList<>();
        for (int r = 0; r < w; r++) {
            List<FlatPartition> flats = new ArrayList<>();
            for (List<Param> grp : groups) {
                int total = 0;
                for (Param p : grp) total += Math.ceilDiv(p.numel(), w);
                float[] flat = new float[total];
                int o = 0;
                for (Param p : grp) {
                    int ps = Math.ceilDiv(p.numel(), w);
                    for (int i = 0; i < ps; i++) {
                        int src = r * ps + i;
                        flat[o + i] = src < p.numel() ? p.master()[src] : (float) (1000 * garbage.nextGaussian());
                    }
                    o += ps;
                }
                flats.add(FlatPartition.of(flat));
            }
            ranks.add(ZeroRankState.zero3(optimFile(r, true), r, w, flats));
        }
        return ranks;
    }

    static ZeroModelStates zero3Model(List<List<Param>> groups, Map<String, Tensor> buffers, List<String> bufferNames,
                                      Optional<FrozenParams> frozen) {
        Map<String, Tensor> module = new LinkedHashMap<>(buffers);
        for (List<Param> grp : groups) {
            for (Param p : grp) module.put(p.name(), tensor(p.name(), DType.BF16, new long[] {0}, new byte[0]));
        }
        return new ZeroModelStates(dir().resolve("zero_pp_rank_0_mp_rank_00_model_states.pt"), 3, shapes(groups),
                bufferNames, module, Map.of(), frozen, "0.14.2", Optional.of(DType.BF16));
    }

    // ----------------------------------------------------------------------------------------------------------------

    static List<LinkedHashMap<String, long[]>> shapes(List<List<Param>> groups) {
        List<LinkedHashMap<String, long[]>> out = new ArrayList<>();
        for (List<Param> grp : groups) {
            LinkedHashMap<String, long[]> m = new LinkedHashMap<>();
            for (Param p : grp) m.put(p.name(), p.shape());
            out.add(m);
        }
        return out;
    }

    static List<Integer> repeat(int w, int n) {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(w);
        return l;
    }

    static Tensor round(Param p, DType dt16) {
        ByteBuffer b = ByteBuffer.allocate(2 * p.numel()).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : p.master()) b.putShort(dt16 == DType.BF16 ? BFloat16.fromFloat(f) : Float16.fromFloat(f));
        return tensor(p.name(), dt16, p.shape(), b.array());
    }

    static Tensor f32(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : values) b.putFloat(f);
        return tensor(name, DType.F32, shape, b.array());
    }

    static Tensor i64(String name, long[] shape, long[] values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        return tensor(name, DType.I64, shape, b.array());
    }

    static Tensor tensor(String name, DType dtype, long[] shape, byte[] bytes) {
        return new Tensor(new TensorInfo(name, dtype, shape), MemorySegment.ofArray(bytes));
    }
}
