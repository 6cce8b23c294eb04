package org.llavapack.formats.pickle;

import java.util.AbstractList;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.RandomAccess;

/**
 * Python's tuple: immutable, usable as a dict key. Not a record because it caches its hash: tuples built from the memo
 * can share sub-tuples exponentially (a tuple of the same tuple twice, nested 100 times), and a recursive hash would
 * then take 2^100 steps; a hash computed once at construction from the children's cached hashes takes one step per
 * element. Equality is structural but bounded (see {@link #equals}).
 */
public final class PyTuple extends AbstractList<Object> implements PyContainer, RandomAccess {
    public static final PyTuple EMPTY = new PyTuple(new Object[0]);

    /** Element pairs compared at most by one {@link #equals} call before it gives up and answers "different". */
    static final int EQUALS_BUDGET = 100_000;

    private final Object[] items;
    private final int hash;
    private final int depth;

    private PyTuple(Object[] items) {
        this.items = items;
        int h = 1, d = 0;
        for (Object o : items) {
            h = 31 * h + elementHash(o);
            d = Math.max(d, PyContainer.depthOf(o));
        }
        this.hash = h;
        this.depth = d + 1;
    }

    public static PyTuple of(Object... items) {
        for (Object o : items) Objects.requireNonNull(o, "tuple element");
        return items.length == 0 ? EMPTY : new PyTuple(items.clone());
    }

    public static PyTuple copyOf(List<?> items) {
        return of(items.toArray());
    }

    /** Cheap and non-recursive: tuples contribute their cached hash, bytes only their length. */
    private static int elementHash(Object o) {
        if (o instanceof byte[] b) return b.length;
        return o.hashCode();
    }

    @Override
    public Object get(int index) {
        return items[index];
    }

    @Override
    public int size() {
        return items.length;
    }

    @Override
    public int depth() {
        return depth;
    }

    @Override
    public int hashCode() {
        return hash;
    }

    /**
     * Structural equality, walked with an explicit stack so that deep tuples cannot overflow the Java stack. Shared
     * sub-tuples could still make the walk exponential, so it stops after {@value #EQUALS_BUDGET} element pairs and
     * answers "different": two enormous tuples are then treated as distinct dict keys, which is safe.
     */
    @Override
    public boolean equals(Object other) {
        if (this == other) return true;
        if (!(other instanceof PyTuple t) || t.hash != hash || t.items.length != items.length) return false;
        ArrayDeque<PyTuple[]> pending = new ArrayDeque<>();
        pending.push(new PyTuple[] {this, t});
        int budget = EQUALS_BUDGET;
        while (!pending.isEmpty()) {
            PyTuple[] pair = pending.pop();
            Object[] a = pair[0].items, b = pair[1].items;
            if (a.length != b.length) return false;
            for (int i = 0; i < a.length; i++) {
                if (--budget < 0) return false;
                Object x = a[i], y = b[i];
                if (x == y) continue;
                if (x instanceof PyTuple tx && y instanceof PyTuple ty) {
                    if (tx.hash != ty.hash) return false;
                    pending.push(new PyTuple[] {tx, ty});
                } else if (x instanceof byte[] bx && y instanceof byte[] by) {
                    if (!Arrays.equals(bx, by)) return false;
                } else if (!x.equals(y)) {
                    return false;
                }
            }
        }
        return true;
    }

    @Override
    public String toString() {
        return PyRepr.of(this);
    }
}
