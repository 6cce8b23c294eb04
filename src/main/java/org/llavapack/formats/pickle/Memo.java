package org.llavapack.formats.pickle;

import java.util.Arrays;
import java.util.HashMap;

/**
 * The pickle memo: values by index, shared by reference (a BINGET returns the same object, never a copy). Torch writes
 * sequential indices, which live in a growing array; scattered indices go to a map, so an index near 2^32 costs one
 * entry rather than a 32 GB array. Indices at or above the cap are refused outright.
 */
final class Memo {
    private final int cap;
    private Object[] dense = new Object[256];
    private HashMap<Long, Object> sparse;
    private int count;

    Memo(int cap) {
        this.cap = cap;
    }

    int size() {
        return count;
    }

    void put(long index, Object value) {
        if (index < 0 || index >= cap) {
            throw new PickleError("memo index " + index + " is beyond the cap of " + cap + " memo entries");
        }
        if (index >= dense.length && index < 2L * dense.length + 1024) {
            dense = Arrays.copyOf(dense, (int) Math.min(cap, Math.max(index + 1, 2L * dense.length)));
        }
        boolean fresh;
        if (index < dense.length) {
            fresh = dense[(int) index] == null && (sparse == null || sparse.remove(index) == null);
            dense[(int) index] = value;
        } else {
            if (sparse == null) sparse = new HashMap<>();
            fresh = sparse.put(index, value) == null;
        }
        if (fresh && ++count > cap) throw new PickleError("more than " + cap + " memo entries");
    }

    /** The value at {@code index}, or null when there is none. */
    Object get(long index) {
        if (index >= 0 && index < dense.length && dense[(int) index] != null) return dense[(int) index];
        return sparse == null ? null : sparse.get(index);
    }
}
