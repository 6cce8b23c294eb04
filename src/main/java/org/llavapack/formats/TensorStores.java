package org.llavapack.formats;

import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.BadInputException;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.formats.safetensors.ShardedSafetensors;
import org.llavapack.formats.torch.TorchCheckpoint;
import org.llavapack.tensor.TensorStore;

/** Opens any supported weights file or folder as a {@link TensorStore}, choosing the reader by content. */
public final class TensorStores {
    private TensorStores() {}

    public static TensorStore open(Path path) {
        if (!Files.exists(path)) throw new BadInputException(path, "no such file or folder");
        if (Files.isDirectory(path)) {
            return isDeepSpeedFolder(path) ? org.llavapack.formats.deepspeed.DeepSpeedStore.open(path) : ShardedSafetensors.open(path);
        }
        return switch (FileKind.detect(path)) {
            case SAFETENSORS -> SafetensorsFile.open(path);
            case JSON -> ShardedSafetensors.openIndex(path);
            case ZIP, TORCH_LEGACY, PICKLE -> TorchCheckpoint.open(path);
            case GGUF -> GgufFile.open(path);
            case TAR -> throw new BadInputException(path, "tar archive (old torch format or a bundle) is not a weights file");
            case UNKNOWN -> throw new BadInputException(path, "not a recognised weights file (expected safetensors or a safetensors index)");
        };
    }

    /** A DeepSpeed tag folder, or a folder whose {@code latest} / {@code last_checkpoint} names one. */
    public static boolean isDeepSpeedFolder(Path dir) {
        if (Files.isRegularFile(dir.resolve("latest")) || Files.isRegularFile(dir.resolve("last_checkpoint"))) return true;
        try (var s = Files.list(dir)) {
            return s.anyMatch(p -> p.getFileName().toString().endsWith("_model_states.pt"));
        } catch (java.io.IOException e) {
            throw org.llavapack.OutputException.of(dir, e);
        }
    }
}
