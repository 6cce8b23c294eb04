package org.llavapack.formats.deepspeed;

/**
 * One entry of a ZeRO-1/2 rank's {@code param_slice_mappings[g]}: the part of a parameter that overlaps this rank's
 * partition, as DeepSpeed's {@code deepspeed.utils.tensor_fragment.fragment_address(numel, start)} records it
 * ({@code start} is relative to the rank's partition).
 */
public record FragmentAddress(long numel, long start) {}
