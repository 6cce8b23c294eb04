package org.llavapack.formats.deepspeed;

import java.nio.file.Path;
import java.util.List;

/**
 * Facts about one consolidation, for conversion.json and for the user.
 *
 * @param source        MASTER (fp32 from optimizer partitions) or MODULE (16-bit copies)
 * @param stage         ZeRO stage of the optimizer files (of the model states for MODULE)
 * @param worldSize     W = partition_count (0 for MODULE)
 * @param groups        number of param groups (sub-groups for ZeRO-3)
 * @param dsVersion     DeepSpeed version string from the model states
 * @param trainable     trainable parameters reconstructed
 * @param trainableElements their total element count
 * @param rankFiles     the optimizer files used, in numeric rank order
 * @param warnings      tolerated irregularities (alignment tolerance used, unknown shared owners …)
 */
public record ConsolidationReport(Source source, int stage, int worldSize, int groups, String dsVersion, int trainable,
                                  long trainableElements, List<Path> rankFiles, List<String> warnings) {

    public enum Source { MASTER, MODULE }

    public ConsolidationReport {
        rankFiles = List.copyOf(rankFiles);
        warnings = List.copyOf(warnings);
    }
}
