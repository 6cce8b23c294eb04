package org.llavapack.convert;

import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.BadInputException;

/**
 * Where exports get a {@link WeightTransform} that merges a PEFT adapter on the fly ({@code export gguf --adapter}).
 * The merge math (LoRA, rsLoRA, rank/alpha patterns, DoRA, modules_to_save) belongs to merge-lora, which is not in this
 * build yet; until it is, asking for it is reported as bad input with a way around.
 */
public final class AdapterTransforms {
    private AdapterTransforms() {}

    /** The transform merging the adapter in {@code adapterDir} into the weights of {@code baseDir}. */
    public static WeightTransform lora(Path adapterDir, Path baseDir) {
        if (!Files.isDirectory(adapterDir)) throw new BadInputException(adapterDir, "no such adapter folder");
        throw new BadInputException(adapterDir, "merging an adapter during export (--adapter) is not available yet: it reuses merge-lora's "
                + "merge, which is not part of this build. Export the adapter as a llama.cpp LoRA file instead "
                + "(llavapack export gguf-lora " + adapterDir + " OUT.gguf --base " + baseDir + ") or merge it first");
    }
}
