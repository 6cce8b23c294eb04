package org.llavapack.formats.deepspeed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;

class DeepSpeedFilesTest {

    @Test
    void ranksAreParsedAsNumbers() {
        assertEquals(OptionalInt.of(10), DeepSpeedFiles.rankOf("bf16_zero_pp_rank_10_mp_rank_00_optim_states.pt"));
        assertEquals(OptionalInt.of(2), DeepSpeedFiles.rankOf("zero_pp_rank_2_mp_rank_00_optim_states.pt"));
        assertEquals(OptionalInt.of(0), DeepSpeedFiles.rankOf("zero_pp_rank_0_mp_rank_00_model_states.pt"));
        assertEquals(OptionalInt.empty(), DeepSpeedFiles.rankOf("mp_rank_00_model_states.pt"));
        assertEquals(OptionalInt.empty(), DeepSpeedFiles.rankOf("zero_pp_rank_99999999999_mp_rank_00_optim_states.pt"));
    }

    @Test
    void zero2TagFolderInNumericOrder() {
        DeepSpeedFiles f = DeepSpeedFiles.locate(TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth"));
        assertTrue(f.modelStates().isPresent());
        assertEquals(11, f.optimStates().size());
        for (int r = 0; r < 11; r++) {
            assertEquals(r, f.optimStates().get(r).rank());
            assertEquals("bf16_zero_pp_rank_" + r + "_mp_rank_00_optim_states.pt", f.optimStates().get(r).path().getFileName().toString());
            assertTrue(f.optimStates().get(r).bf16Prefix());
        }
        DeepSpeedFiles fp16 = DeepSpeedFiles.locate(TestPaths.checkpoint("xtuner-zero2-fp16/iter_8.pth"));
        assertFalse(fp16.optimStates().getFirst().bf16Prefix());
        assertEquals(10, fp16.optimStates().get(10).rank());
    }

    @Test
    void zero3HasOneModelStatesFilePerRank() {
        DeepSpeedFiles f = DeepSpeedFiles.locate(TestPaths.checkpoint("xtuner-zero3-bf16/iter_8.pth"));
        assertTrue(f.modelStates().isEmpty());
        assertEquals(List.of(0, 1, 2), f.rankModelStates().stream().map(DeepSpeedFiles.RankFile::rank).toList());
        assertEquals(3, f.optimStates().size());
    }

    @Test
    void workDirResolvesLastCheckpointByBasename() {
        DeepSpeedFiles f = DeepSpeedFiles.locate(TestPaths.checkpoint("xtuner-workdir"));
        assertEquals("iter_8.pth", f.tagDir().getFileName().toString());
        assertEquals(2, f.optimStates().size());
        assertTrue(f.notes().getFirst().contains("/mnt/petrelfs"), f.notes().toString());
    }

    @Test
    void latestFileAndRefusals(@TempDir Path dir) throws Exception {
        Path tag = Files.createDirectories(dir.resolve("global_step5"));
        Files.writeString(tag.resolve("mp_rank_00_model_states.pt"), "x");
        Files.writeString(tag.resolve("zero_pp_rank_0_mp_rank_00_optim_states.pt"), "x");
        Files.writeString(dir.resolve("latest"), "global_step5\n");
        assertEquals(tag, DeepSpeedFiles.locate(dir).tagDir());

        Files.writeString(dir.resolve("latest"), "../../etc");
        assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(dir));
        Files.writeString(dir.resolve("latest"), "missing_tag");
        assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(dir));
        Files.delete(dir.resolve("latest"));
        BadInputException none = assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(dir));
        assertTrue(none.getMessage().contains("not a DeepSpeed checkpoint"), none.getMessage());

        Files.writeString(tag.resolve("bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"), "x");
        BadInputException mixed = assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(tag));
        assertTrue(mixed.getMessage().contains("two optimizer files for rank 0"), mixed.getMessage());
        Files.delete(tag.resolve("bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"));

        Files.writeString(tag.resolve("mp_rank_01_model_states.pt"), "x");
        BadInputException tp = assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(tag));
        assertTrue(tp.getMessage().contains("tensor-parallel"), tp.getMessage());
        Files.delete(tag.resolve("mp_rank_01_model_states.pt"));

        Files.writeString(tag.resolve("layer_01-model_00-model_states.pt"), "x");
        assertThrows(BadInputException.class, () -> DeepSpeedFiles.locate(tag));
    }
}
