package org.llavapack.parity;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * What a source may need from the user: the base LLM under a LoRA adapter, a vision tower for artifacts that do not
 * carry one (PA-LLaVA's PLIP is frozen and never in the training checkpoint), the Q-Former head count (no tensor
 * shape shows it), and the LoRA alpha for a checkpoint without an adapter config.
 */
public record SourceOptions(Optional<Path> base, Optional<Path> vision, OptionalInt qformerHeads, OptionalDouble loraAlpha) {
    public static final SourceOptions NONE = new SourceOptions(Optional.empty(), Optional.empty(), OptionalInt.empty(), OptionalDouble.empty());
}
