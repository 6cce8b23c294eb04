package org.llavapack.formats.pickle;

import java.util.Optional;

/**
 * An inert instance: what calling or instantiating a class the reader does not decode would have produced. It records
 * the class (or function) and its arguments, the state BUILD gave it, and the items APPEND/SETITEM added, so callers can
 * read DeepSpeed's {@code fragment_address}, mmengine's {@code HistoryBuffer} or an {@code argparse.Namespace}.
 * Nothing is ever called. Identity equality and bounded toString, as {@link PyList}.
 */
public final class PyObject implements PyContainer {

    /** How the object came to be. */
    public enum Kind {
        /** {@code REDUCE}: {@code type(*args)}, a class instantiated or a function called. */
        REDUCE,
        /** {@code NEWOBJ}: {@code type.__new__(type, *args)}. */
        NEWOBJ,
        /** A persistent id read without a container that can resolve it (a bare pickle). */
        PERSISTENT_ID
    }

    private final PyGlobal type;
    private final PyTuple args;
    private final Kind kind;
    private Object state;
    private PyList listItems;
    private PyDict dictItems;
    private int depth;

    public PyObject(PyGlobal type, PyTuple args, Kind kind) {
        this.type = type;
        this.args = args;
        this.kind = kind;
        this.depth = args.depth() + 1;
    }

    /** The class instantiated or the function called. */
    public PyGlobal type() {
        return type;
    }

    public PyTuple args() {
        return args;
    }

    public Kind kind() {
        return kind;
    }

    /** What BUILD passed ({@code __setstate__}'s argument), if BUILD ran. */
    public Optional<Object> state() {
        return Optional.ofNullable(state);
    }

    /** Items appended with APPEND/APPENDS (a list subclass), empty when none. */
    public PyList listItems() {
        if (listItems == null) listItems = new PyList();
        return listItems;
    }

    /** Items set with SETITEM/SETITEMS (a dict subclass), empty when none. */
    public PyDict dictItems() {
        if (dictItems == null) dictItems = new PyDict();
        return dictItems;
    }

    /**
     * An attribute from the BUILD state, which is either a dict of attributes or a {@code (dict, slots)} pair as
     * {@code copyreg} writes it for classes with {@code __slots__}.
     */
    public Optional<Object> attribute(String name) {
        if (state instanceof PyDict d && d.containsKey(name)) return Optional.of(d.get(name));
        if (state instanceof PyTuple t && t.size() == 2) {
            for (Object part : t) {
                if (part instanceof PyDict d && d.containsKey(name)) return Optional.of(d.get(name));
            }
        }
        return Optional.empty();
    }

    @Override
    public int depth() {
        return depth;
    }

    /** BUILD: a second BUILD replaces the state, as a second {@code __setstate__} call would. */
    int build(Object newState) {
        state = newState;
        return noteChild(newState);
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
