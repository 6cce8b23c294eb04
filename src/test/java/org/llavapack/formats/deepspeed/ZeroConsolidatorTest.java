package org.llavapack.formats.deepspeed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.llavapack.BadInputException;
import org.llavapack.CheckFailedException;
import org.llavapack.formats.deepspeed.ReconstructedTensor.Role;
import org.llavapack.formats.deepspeed.ZeroSimulator.Param;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;

/** ZeRO-1/2/3 reconstruction from partitions built by {@link ZeroSimulator} exactly as DeepSpeed builds them. */
class ZeroConsolidatorTest {

    static Stream<Arguments> worlds() {
        return Stream.of(1, 2, 3, 4, 7, 8, 11, 16, 13, 32)
                .flatMap(w -> Stream.of(1L, 2L, 3L).map(seed -> Arguments.of(w, seed)));
    }

    @ParameterizedTest(name = "ZeRO-2 W={0} seed={1}")
    @MethodSource("worlds")
    void zero2ReconstructsEveryParameterBitForBit(int w, long seed) {
        Random rnd = new Random(seed * 1000 + w);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 1 + rnd.nextInt(4), 6, "m.");
        List<ZeroRankState> ranks = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, w, true, true));
        Collections.shuffle(ranks, rnd);
        DType dt = seed % 2 == 0 ? DType.F16 : DType.BF16;
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, dt);

        Consolidation c = ZeroConsolidator.fromMasters(model, ranks);
        assertMastersEqual(groups, c);
        assertEquals(w, c.report().worldSize());
        assertEquals(groups.size(), c.report().groups());
        assertEquals(ConsolidationReport.Source.MASTER, c.report().source());
        List<Path> files = c.report().rankFiles();
        for (int r = 0; r < w; r++) assertEquals(ZeroSimulator.optimFile(r, true), files.get(r), "numeric order");
        SelfCheck.Result check = SelfCheck.run(c, model).enforce();
        assertTrue(check.passed(), check.summary());
        assertEquals(dt, check.dtype());
    }

    @Property(tries = 60)
    void zero2AnyWorldAnyGroups(@ForAll @IntRange(min = 1, max = 40) int w, @ForAll @IntRange(min = 1, max = 6) int groups,
                                @ForAll long seed) {
        Random rnd = new Random(seed);
        List<List<Param>> gs = ZeroSimulator.randomGroups(rnd, groups, 5, "x.");
        List<ZeroRankState> ranks = new ArrayList<>(ZeroSimulator.zero2Ranks(gs, w, false, true));
        Collections.shuffle(ranks, rnd);
        ZeroModelStates model = ZeroSimulator.zero2Model(gs, DType.F16);
        Consolidation c = ZeroConsolidator.fromMasters(model, ranks);
        assertMastersEqual(gs, c);
        assertTrue(SelfCheck.run(c, model).passed());
    }

    @ParameterizedTest(name = "ZeRO-3 W={0} seed={1}")
    @MethodSource("worlds")
    void zero3ReconstructsEveryParameterAndDropsTheGarbageTail(int w, long seed) {
        Random rnd = new Random(seed * 7 + w);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 1 + rnd.nextInt(3), 6, "z.");
        List<ZeroRankState> ranks = new ArrayList<>(ZeroSimulator.zero3Ranks(groups, w, seed));
        Collections.shuffle(ranks, rnd);
        ZeroModelStates model = ZeroSimulator.zero3Model(groups, Map.of(), List.of(), Optional.empty());
        Consolidation c = ZeroConsolidator.fromMasters(model, ranks);
        assertMastersEqual(groups, c);
        assertEquals(3, c.report().stage());
        assertTrue(SelfCheck.run(c, model).skipped().isPresent());
    }

    @Test
    void paddingLargerThanAPartitionLeavesEmptyLastSlicesAndIsTolerated() {
        // README finding: W = 11, one 32-element group: padded 44, partition 4, padding 12 recorded on rank 10;
        // ranks 8 and 9 save 4 zeros each, rank 10 saves nothing; the concatenation has 40 elements for 32.
        Random rnd = new Random(5);
        List<List<Param>> groups = List.of(List.of(ZeroSimulator.param("projector.model.norm.bias", new long[] {32}, rnd)),
                List.of(ZeroSimulator.param("b", new long[] {64}, rnd)));
        List<ZeroRankState> ranks = ZeroSimulator.zero2Ranks(groups, 11, false, true);
        assertEquals(4, ranks.get(8).groups().getFirst().length());
        assertEquals(4, ranks.get(9).groups().getFirst().length());
        assertEquals(0, ranks.get(10).groups().getFirst().length());
        assertEquals(12L, ranks.get(10).groupPaddings().getFirst());
        // 64 → padded 66, partition 6, padding 2: rank 10 saves 4
        assertEquals(4, ranks.get(10).groups().get(1).length());
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.F16);
        Consolidation c = ZeroConsolidator.fromMasters(model, ranks);
        assertMastersEqual(groups, c);
        assertEquals(1, c.report().warnings().size(), c.report().warnings().toString());
        assertTrue(c.report().warnings().getFirst().contains("alignment"));
        assertTrue(SelfCheck.run(c, model).passed());
    }

    @Test
    void lexicographicRankOrderIsCaughtBySelfCheckAndBySliceMappings() {
        Random rnd = new Random(11);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 3, 6, "llm.");
        int w = 11;
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.BF16);
        for (boolean mappings : new boolean[] {false, true}) {
            List<ZeroRankState> ranks = ZeroSimulator.zero2Ranks(groups, w, true, mappings);
            // the mistake: sort file names as strings and take the position as the rank
            List<ZeroRankState> byName = new ArrayList<>(ranks);
            byName.sort(Comparator.comparing(r -> r.file().getFileName().toString()));
            List<ZeroRankState> mislabelled = new ArrayList<>();
            for (int i = 0; i < byName.size(); i++) {
                ZeroRankState r = byName.get(i);
                mislabelled.add(new ZeroRankState(r.file(), i, r.stage(), r.partitionCount(), r.groups(),
                        r.groupPaddings(), r.sliceMappings()));
            }
            if (mappings) {
                BadInputException e = assertThrows(BadInputException.class,
                        () -> ZeroConsolidator.fromMasters(model, mislabelled));
                assertTrue(e.getMessage().contains("param_slice_mappings"), e.getMessage());
            } else {
                Consolidation c = ZeroConsolidator.fromMasters(model, mislabelled);
                SelfCheck.Result check = SelfCheck.run(c, model);
                assertFalse(check.passed());
                assertTrue(check.tensorsMismatched() > 0);
                assertTrue(check.elementsMismatched() > 0);
                assertTrue(check.firstMismatch().isPresent());
                CheckFailedException e = assertThrows(CheckFailedException.class, check::enforce);
                assertEquals(1, e.exitCode());
            }
        }
    }

    @Test
    void moduleSourceTakesTheSixteenBitCopies() {
        Random rnd = new Random(3);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 2, 4, "p.");
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.BF16);
        Consolidation c = ZeroConsolidator.fromModule(model);
        assertEquals(ConsolidationReport.Source.MODULE, c.report().source());
        for (List<Param> g : groups) {
            for (Param p : g) {
                ReconstructedTensor t = c.get(p.name()).orElseThrow();
                assertEquals(DType.BF16, t.dtype());
                assertArrayEquals(model.module().get(p.name()).toFloatArray(), t.source().toFloatArray());
            }
        }
        assertTrue(SelfCheck.run(c, model).skipped().isPresent());
        ZeroModelStates z3 = ZeroSimulator.zero3Model(groups, Map.of(), List.of(), Optional.empty());
        assertThrows(BadInputException.class, () -> ZeroConsolidator.fromModule(z3));
    }

    @Test
    void buffersFrozenAndSharedParamsFollowZeroToFp32() {
        Random rnd = new Random(9);
        List<List<Param>> groups = List.of(List.of(ZeroSimulator.param("lm_head.weight", new long[] {4, 8}, rnd),
                ZeroSimulator.param("proj.weight", new long[] {3, 3}, rnd)));
        long[] pos = new long[16];
        for (int i = 0; i < pos.length; i++) pos[i] = i;
        Tensor posIds = ZeroSimulator.i64("projector.model.bert.embeddings.position_ids", new long[] {1, 16}, pos);
        Param frozenW = ZeroSimulator.param("embed.weight", new long[] {5, 3}, rnd);
        Tensor frozenBf16 = ZeroSimulator.round(frozenW, DType.BF16);
        LinkedHashMap<String, long[]> frozenShapes = new LinkedHashMap<>();
        frozenShapes.put("embed.weight", new long[] {5, 3});
        FrozenParams frozen = new FrozenParams(frozenShapes, List.of(Map.of("embed.weight", frozenBf16)));
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.BF16,
                Map.of(posIds.name(), posIds),
                List.of("visual_encoder.position_ids", posIds.name()),
                Map.of("embed_tied.weight", "lm_head.weight", "ghost.weight", "nowhere.weight"), Optional.of(frozen));
        Consolidation c = ZeroConsolidator.fromMasters(model, ZeroSimulator.zero2Ranks(groups, 3, true, true));
        List<String> names = c.tensors().stream().map(ReconstructedTensor::name).toList();
        assertEquals(List.of(posIds.name(), "embed.weight", "lm_head.weight", "proj.weight", "embed_tied.weight"), names);
        ReconstructedTensor buf = c.get(posIds.name()).orElseThrow();
        assertEquals(DType.I64, buf.dtype());
        assertEquals(Role.BUFFER, buf.role());
        assertArrayEquals(new long[] {1, 16}, buf.shape());
        ReconstructedTensor fz = c.get("embed.weight").orElseThrow();
        assertEquals(Role.FROZEN, fz.role());
        assertEquals(DType.BF16, fz.dtype());
        ReconstructedTensor alias = c.get("embed_tied.weight").orElseThrow();
        assertEquals(Role.SHARED, alias.role());
        assertArrayEquals(groups.getFirst().getFirst().master(), alias.source().toFloatArray());
        assertTrue(c.report().warnings().stream().anyMatch(s -> s.contains("ghost.weight")));
    }

    @Test
    void zero3FrozenParamsAreConcatenatedAndTruncated() {
        Random rnd = new Random(4);
        int w = 3;
        List<List<Param>> groups = List.of(List.of(ZeroSimulator.param("a", new long[] {7}, rnd)));
        Param frozen = ZeroSimulator.param("f", new long[] {2, 5}, rnd); // 10 → p = 4, pad 2
        List<Map<String, Tensor>> byRank = new ArrayList<>();
        for (int r = 0; r < w; r++) {
            float[] part = new float[4];
            for (int i = 0; i < 4; i++) part[i] = r * 4 + i < 10 ? frozen.master()[r * 4 + i] : 999f;
            byRank.add(Map.of("f", ZeroSimulator.f32("f", new long[] {4}, part)));
        }
        LinkedHashMap<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("f", new long[] {2, 5});
        ZeroModelStates model = ZeroSimulator.zero3Model(groups, Map.of(), List.of(), Optional.of(new FrozenParams(shapes, byRank)));
        Consolidation c = ZeroConsolidator.fromMasters(model, ZeroSimulator.zero3Ranks(groups, w, 1));
        assertArrayEquals(frozen.master(), c.get("f").orElseThrow().source().toFloatArray());
        assertMastersEqual(groups, c);
    }

    // ------------------------------------------------------------------------------------------------------------
    // validation errors

    @Test
    void missingRanksAreReportedWithTheCopyHint() {
        Random rnd = new Random(1);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 1, 4, "a.");
        List<ZeroRankState> ranks = ZeroSimulator.zero2Ranks(groups, 16, true, false).subList(0, 8);
        BadInputException e = assertThrows(BadInputException.class,
                () -> ZeroConsolidator.fromMasters(ZeroSimulator.zero2Model(groups, DType.BF16), ranks));
        assertTrue(e.getMessage().endsWith("expected 16 optimizer files (partition_count), found 8 — copy all "
                + "*_optim_states.pt into one directory"), e.getMessage());
        assertEquals(3, e.exitCode());
        assertEquals("iter_8.pth", e.file());
    }

    @Test
    void aGapInTheRankNumbersIsReported() {
        Random rnd = new Random(1);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 1, 4, "a.");
        List<ZeroRankState> all = ZeroSimulator.zero2Ranks(groups, 5, true, false);
        List<ZeroRankState> ranks = new ArrayList<>(all.subList(0, 4));
        ZeroRankState r4 = all.get(4);
        ranks.set(2, new ZeroRankState(ZeroSimulator.optimFile(7, true), 7, 2, r4.partitionCount(), r4.groups(),
                r4.groupPaddings(), r4.sliceMappings()));
        ranks.add(all.get(4));
        BadInputException e = assertThrows(BadInputException.class,
                () -> ZeroConsolidator.fromMasters(ZeroSimulator.zero2Model(groups, DType.BF16), ranks));
        assertTrue(e.getMessage().contains("missing rank(s) 2"), e.getMessage());
    }

    @Test
    void duplicateRanksAreReported() {
        Random rnd = new Random(1);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 1, 4, "a.");
        List<ZeroRankState> ranks = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, 3, true, false));
        ranks.add(ranks.get(1));
        BadInputException e = assertThrows(BadInputException.class,
                () -> ZeroConsolidator.fromMasters(ZeroSimulator.zero2Model(groups, DType.BF16), ranks));
        assertTrue(e.getMessage().contains("two optimizer files for rank 1"), e.getMessage());
    }

    @Test
    void mixedStagesAndWorldSizesAreReported() {
        Random rnd = new Random(2);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 2, 4, "a.");
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.BF16);
        List<ZeroRankState> ranks = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, 4, true, false));
        ZeroRankState r1 = ranks.get(1);
        ranks.set(1, new ZeroRankState(r1.file(), 1, 1, r1.partitionCount(), r1.groups(), r1.groupPaddings(), List.of()));
        BadInputException e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, ranks));
        assertTrue(e.getMessage().contains("mixed ZeRO stages"), e.getMessage());

        List<ZeroRankState> z3 = ZeroSimulator.zero3Ranks(groups, 4, 1);
        e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, z3));
        assertTrue(e.getMessage().contains("mixed ZeRO stages"), e.getMessage());

        List<ZeroRankState> sizes = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, 4, true, false));
        ZeroRankState r2 = sizes.get(2);
        sizes.set(2, new ZeroRankState(r2.file(), 2, 2, List.of(8, 8), r2.groups(), r2.groupPaddings(), List.of()));
        e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, sizes));
        assertTrue(e.getMessage().contains("mixed world sizes"), e.getMessage());

        List<ZeroRankState> perGroup = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, 4, true, false));
        ZeroRankState r0 = perGroup.getFirst();
        perGroup.set(0, new ZeroRankState(r0.file(), 0, 2, List.of(4, 8), r0.groups(), r0.groupPaddings(), List.of()));
        e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, perGroup));
        assertTrue(e.getMessage().contains("partition_count differs"), e.getMessage());
        assertEquals(ZeroSimulator.optimFile(0, true).toString(), e.file());
    }

    @Test
    void totalNumelMismatchAndLeftoverElementsAreReported() {
        Random rnd = new Random(3);
        int w = 4;
        List<List<Param>> groups = List.of(List.of(ZeroSimulator.param("a", new long[] {40}, rnd)));
        ZeroModelStates model = ZeroSimulator.zero2Model(groups, DType.BF16);
        // too few: drop the last rank's slice
        List<ZeroRankState> shortRanks = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, w, true, false));
        ZeroRankState last = shortRanks.get(w - 1);
        shortRanks.set(w - 1, new ZeroRankState(last.file(), w - 1, 2, last.partitionCount(), List.of(FlatPartition.of()),
                last.groupPaddings(), List.of()));
        BadInputException e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, shortRanks));
        assertTrue(e.getMessage().contains("total numel mismatch"), e.getMessage());
        // too many: 2W extra elements on the last rank
        List<ZeroRankState> longRanks = new ArrayList<>(ZeroSimulator.zero2Ranks(groups, w, true, false));
        ZeroRankState l = longRanks.get(w - 1);
        longRanks.set(w - 1, new ZeroRankState(l.file(), w - 1, 2, l.partitionCount(),
                List.of(FlatPartition.of(new float[(int) l.groups().getFirst().length() + 2 * w])), l.groupPaddings(), List.of()));
        e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, longRanks));
        assertTrue(e.getMessage().contains("leftover elements in param group 0: consumed 40 numels out of 48"), e.getMessage());
        // ZeRO-3 leftovers
        List<ZeroRankState> z3 = new ArrayList<>(ZeroSimulator.zero3Ranks(groups, w, 2));
        ZeroRankState z = z3.get(1);
        z3.set(1, ZeroRankState.zero3(z.file(), 1, w, List.of(z.groups().getFirst(), FlatPartition.of(1f))));
        List<ZeroRankState> z3all = new ArrayList<>();
        for (ZeroRankState r : z3) {
            z3all.add(r.rank() == 1 ? r : ZeroRankState.zero3(r.file(), r.rank(), w, List.of(r.groups().getFirst(), FlatPartition.of())));
        }
        ZeroModelStates m3 = ZeroSimulator.zero3Model(groups, Map.of(), List.of(), Optional.empty());
        e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(m3, z3all));
        assertTrue(e.getMessage().contains("leftover elements: consumed 10 numels out of 11"), e.getMessage());
        assertEquals(ZeroSimulator.optimFile(1, true).toString(), e.file());
    }

    @Test
    void groupCountMismatchIsReported() {
        Random rnd = new Random(4);
        List<List<Param>> groups = ZeroSimulator.randomGroups(rnd, 3, 3, "g.");
        ZeroModelStates twoGroups = ZeroSimulator.zero2Model(groups.subList(0, 2), DType.BF16);
        BadInputException e = assertThrows(BadInputException.class,
                () -> ZeroConsolidator.fromMasters(twoGroups, ZeroSimulator.zero2Ranks(groups, 2, true, false)));
        assertTrue(e.getMessage().contains("group count mismatch"), e.getMessage());
    }

    @Test
    void noOptimizerFilesPointsToModuleSource() {
        ZeroModelStates model = ZeroSimulator.zero2Model(List.of(), DType.BF16);
        BadInputException e = assertThrows(BadInputException.class, () -> ZeroConsolidator.fromMasters(model, List.of()));
        assertTrue(e.getMessage().contains("--source module"), e.getMessage());
    }

    @Test
    void masterPiecesReadAnySubrange() {
        Random rnd = new Random(8);
        Param p = ZeroSimulator.param("x", new long[] {97}, rnd);
        List<List<Param>> groups = List.of(List.of(ZeroSimulator.param("pre", new long[] {13}, rnd), p));
        Consolidation c = ZeroConsolidator.fromMasters(ZeroSimulator.zero2Model(groups, DType.BF16),
                ZeroSimulator.zero2Ranks(groups, 16, true, true));
        TensorSource s = c.get("x").orElseThrow().source();
        for (int from = 0; from < 97; from += 5) {
            for (int n = 0; from + n <= 97; n += 7) {
                float[] got = new float[n];
                s.readFloats(from, got, 0, n);
                float[] want = new float[n];
                System.arraycopy(p.master(), from, want, 0, n);
                assertArrayEquals(want, got);
            }
        }
    }

    static void assertMastersEqual(List<List<Param>> groups, Consolidation c) {
        for (List<Param> g : groups) {
            for (Param p : g) {
                ReconstructedTensor t = c.get(p.name()).orElseThrow(() -> new AssertionError("missing " + p.name()));
                assertEquals(Role.TRAINABLE, t.role());
                assertEquals(DType.F32, t.dtype());
                assertArrayEquals(p.shape(), t.shape(), p.name());
                float[] got = t.source().toFloatArray();
                assertEquals(p.numel(), got.length);
                for (int i = 0; i < got.length; i++) {
                    assertEquals(Float.floatToRawIntBits(p.master()[i]), Float.floatToRawIntBits(got[i]), p.name() + "[" + i + "]");
                }
            }
        }
    }
}
