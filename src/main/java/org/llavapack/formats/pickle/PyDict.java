package org.llavapack.formats.pickle;

import java.util.LinkedHashMap;

/**
 * Python's dict, {@code collections.OrderedDict} or another dict-like class the reader treats as a dict (mmengine's
 * ConfigDict), in insertion order. {@link #type()} says which; {@link #attributes()} holds what BUILD set on it, e.g. a
 * state dict's {@code _metadata}. Identity equality and bounded toString, as {@link PyList}.
 */
public final class PyDict extends LinkedHashMap<Object, Object> implements PyContainer {
    private final PyGlobal type;
    private PyDict attributes;
    private int depth = 1;

    /** A plain dict. */
    public PyDict() {
        this(null);
    }

    /** A dict made by calling {@code type} (null for a plain dict). */
    public PyDict(PyGlobal type) {
        this.type = type;
    }

    /** The class that made this dict, or null for a plain {@code dict}. */
    public PyGlobal type() {
        return type;
    }

    /** Instance attributes set by BUILD (e.g. {@code _metadata}); empty when none. */
    public PyDict attributes() {
        if (attributes == null) attributes = new PyDict();
        return attributes;
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
