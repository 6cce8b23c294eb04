package org.llavapack.formats.pickle;

/**
 * Caps that keep a hostile pickle harmless (spec §2.3 rule 6). Real model-states pickles are a few MB with sequential
 * memo indices and shallow nesting; the defaults only stop runaway input.
 *
 * @param maxPickleBytes bytes one pickle may span (also the cap for inflating a compressed data.pkl)
 * @param maxOpcodes opcodes one pickle may execute
 * @param maxMemoEntries memo size; memo indices at or above it are refused too, so a sparse index cannot reserve memory
 * @param maxLongBytes longest LONG1/LONG4 integer in bytes
 * @param maxDepth deepest container nesting, and deepest MARK nesting
 */
public record PickleLimits(long maxPickleBytes, long maxOpcodes, int maxMemoEntries, int maxLongBytes, int maxDepth) {

    public static final PickleLimits DEFAULT = new PickleLimits(256L << 20, 50_000_000L, 10_000_000, 16, 1000);

    public PickleLimits {
        if (maxPickleBytes <= 0 || maxOpcodes <= 0 || maxMemoEntries <= 0 || maxLongBytes <= 0 || maxDepth <= 0) {
            throw new IllegalArgumentException("pickle limits must be positive");
        }
    }
}
