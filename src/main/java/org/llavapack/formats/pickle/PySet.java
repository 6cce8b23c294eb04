package org.llavapack.formats.pickle;

import java.util.LinkedHashSet;

/** Python's set or frozenset, in insertion order. Identity equality and bounded toString, as {@link PyList}. */
public final class PySet extends LinkedHashSet<Object> implements PyContainer {
    private final boolean frozen;
    private int depth = 1;

    public PySet(boolean frozen) {
        this.frozen = frozen;
    }

    public boolean frozen() {
        return frozen;
    }

    @Override
    public int depth() {
        return depth;
    }

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
