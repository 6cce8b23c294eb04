package org.llavapack.formats.deepspeed;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;

/**
 * The files of one DeepSpeed checkpoint tag, found from what a user points at (spec §3.1): the tag folder itself
 * ({@code iter_2000.pth/}), a folder with DeepSpeed's {@code latest} file, or an mmengine work dir with
 * {@code last_checkpoint} (an absolute path from the training machine, resolved by its last component). Only names
 * are looked at here; what the files hold is read by the torch reader.
 *
 * @param tagDir          the folder holding the files
 * @param modelStates     {@code mp_rank_00_model_states.pt}, when present (stages 0–2)
 * @param rankModelStates {@code zero_pp_rank_{r}_mp_rank_00_model_states.pt} in numeric rank order (stage 3)
 * @param optimStates     {@code [bf16_]zero_pp_rank_{r}_mp_rank_00_optim_states.pt} in numeric rank order
 * @param notes           how the tag was found (for the user)
 */
public record DeepSpeedFiles(Path tagDir, Optional<Path> modelStates, List<RankFile> rankModelStates,
                             List<RankFile> optimStates, List<String> notes) {

    public DeepSpeedFiles {
        rankModelStates = List.copyOf(rankModelStates);
        optimStates = List.copyOf(optimStates);
        notes = List.copyOf(notes);
    }

    /** One per-rank file with the rank parsed from its name. */
    public record RankFile(Path path, int rank, boolean bf16Prefix) {}

    private static final Pattern RANK_FILE = Pattern.compile(
            "(bf16_)?zero_pp_rank_(\\d{1,7})_mp_rank_(\\d{1,7})_(optim|model)_states\\.pt");
    private static final Pattern MP_MODEL = Pattern.compile("mp_rank_(\\d{1,7})_model_states\\.pt");
    private static final Pattern PIPELINE = Pattern.compile("layer_\\d+-model_\\d+-model_states\\.pt");
    private static final Pattern MOE = Pattern.compile(".*(expp_rank_|expert_).*\\.pt");
    /** Longest tag name accepted from a {@code latest} / {@code last_checkpoint} file. */
    private static final int MAX_POINTER = 4096;

    /**
     * The data-parallel rank in a DeepSpeed per-rank file name, compared as a number: {@code zero_pp_rank_10_…}
     * is rank 10, after rank 9. Empty when the name is not a per-rank file.
     */
    public static OptionalInt rankOf(String fileName) {
        Matcher m = RANK_FILE.matcher(fileName);
        if (!m.matches()) return OptionalInt.empty();
        return OptionalInt.of(Integer.parseInt(m.group(2)));
    }

    /** Finds the tag folder and its files. */
    public static DeepSpeedFiles locate(Path path) {
        if (!Files.isDirectory(path)) throw new BadInputException(path, "not a folder");
        List<String> notes = new ArrayList<>();
        Path tag = path;
        if (!looksLikeTag(path)) {
            Path latest = path.resolve("latest");
            Path last = path.resolve("last_checkpoint");
            if (Files.isRegularFile(latest)) {
                String name = readPointer(latest);
                tag = path.resolve(checkTagName(latest, name));
                notes.add("tag '" + name + "' from " + latest);
            } else if (Files.isRegularFile(last)) {
                String stored = readPointer(last);
                String base = lastComponent(stored);
                tag = path.resolve(checkTagName(last, base));
                notes.add("checkpoint '" + base + "' from " + last + " (recorded as " + stored + ")");
            } else {
                throw new BadInputException(path, "not a DeepSpeed checkpoint: no *_model_states.pt here, and no 'latest' "
                        + "or 'last_checkpoint' file naming one");
            }
            if (!Files.isDirectory(tag)) {
                throw new BadInputException(tag, "named as the newest checkpoint, but there is no such folder");
            }
            if (!looksLikeTag(tag)) throw new BadInputException(tag, "no *_model_states.pt in this checkpoint folder");
        }
        return scan(tag, notes);
    }

    private static DeepSpeedFiles scan(Path tag, List<String> notes) {
        Optional<Path> model = Optional.empty();
        List<RankFile> rankModels = new ArrayList<>();
        List<RankFile> optims = new ArrayList<>();
        for (Path f : list(tag)) {
            String name = f.getFileName().toString();
            if (PIPELINE.matcher(name).matches()) {
                throw new BadInputException(f, "pipeline-parallel checkpoints (layer_* files) are not supported");
            }
            if (MOE.matcher(name).matches()) {
                throw new BadInputException(f, "mixture-of-experts checkpoints (expert files) are not supported");
            }
            Matcher mp = MP_MODEL.matcher(name);
            if (mp.matches()) {
                if (Integer.parseInt(mp.group(1)) != 0) {
                    throw new BadInputException(f, "tensor-parallel checkpoints (mp_rank_01 and up) are not supported");
                }
                model = Optional.of(f);
                continue;
            }
            Matcher m = RANK_FILE.matcher(name);
            if (!m.matches()) continue;
            if (Integer.parseInt(m.group(3)) != 0) {
                throw new BadInputException(f, "tensor-parallel checkpoints (mp_rank_01 and up) are not supported");
            }
            RankFile rf = new RankFile(f, Integer.parseInt(m.group(2)), m.group(1) != null);
            if (m.group(4).equals("optim")) optims.add(rf);
            else rankModels.add(rf);
        }
        Comparator<RankFile> numeric = Comparator.comparingInt(RankFile::rank);
        optims.sort(numeric);
        rankModels.sort(numeric);
        checkDistinct(tag, optims, "optimizer");
        checkDistinct(tag, rankModels, "model-states");
        return new DeepSpeedFiles(tag, model, rankModels, optims, notes);
    }

    /** Two files for one rank (a bf16_ and a plain one) mean two runs were mixed in one folder. */
    private static void checkDistinct(Path tag, List<RankFile> files, String what) {
        for (int i = 1; i < files.size(); i++) {
            if (files.get(i).rank() == files.get(i - 1).rank()) {
                throw new BadInputException(tag, "two " + what + " files for rank " + files.get(i).rank() + ": "
                        + files.get(i - 1).path().getFileName() + " and " + files.get(i).path().getFileName()
                        + " — files of different runs in one folder?");
            }
        }
    }

    private static boolean looksLikeTag(Path dir) {
        for (Path f : list(dir)) {
            String name = f.getFileName().toString();
            if (MP_MODEL.matcher(name).matches() || name.endsWith("_model_states.pt") && RANK_FILE.matcher(name).matches()) {
                return true;
            }
        }
        return false;
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw OutputException.of(dir, e);
        }
    }

    private static String readPointer(Path file) {
        try {
            if (Files.size(file) > MAX_POINTER) throw new BadInputException(file, "too long for a checkpoint pointer");
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
    }

    private static String lastComponent(String stored) {
        String s = stored;
        while (s.endsWith("/") || s.endsWith("\\")) s = s.substring(0, s.length() - 1);
        int cut = Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\'));
        return s.substring(cut + 1);
    }

    /** A tag must name a sibling folder, never a path that climbs out. */
    private static String checkTagName(Path pointer, String name) {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/") || name.contains("\\")
                || name.indexOf('\0') >= 0) {
            throw new BadInputException(pointer, "does not name a checkpoint folder: '" + name + "'");
        }
        return name;
    }
}
