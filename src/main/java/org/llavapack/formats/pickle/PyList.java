package org.llavapack.formats.pickle;

import java.util.ArrayList;

/**
 * Python's list. Equality and hash are by identity, as for any mutable Python object used in a graph that may share
 * nodes or contain itself; {@link #toString} is bounded. Both make accidental recursion over hostile graphs impossible.
 */
public final class PyList extends ArrayList<Object> implements PyContainer {
    private int depth = 1;

    public PyList() {}

    @Override
    public int depth() {
        return depth;
    }

    /** Records that {@code child} now lives inside this list; returns the new depth for the caller to check. */
    int noteChild(Object child) {
        depth = Math.max(depth, PyContainer.depthOf(child) + 1);
        return depth;
    }

    @Override
    public boolean equals(Object o) {
        return this == o;
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(this);
    }

    @Override
    public String toString() {
        return PyRepr.of(this);
    }
}
