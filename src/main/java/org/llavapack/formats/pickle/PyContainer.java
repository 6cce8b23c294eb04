package org.llavapack.formats.pickle;

/**
 * The Python values that hold other values. Each remembers how deeply it nests, measured as it is built, so the reader
 * can cap nesting without walking the graph; the graph may share nodes and even contain cycles (the memo allows both),
 * so code that walks it must track what it has visited and bound its own depth.
 */
public sealed interface PyContainer permits PyTuple, PyList, PyDict, PySet, PyObject {

    /** 1 for a container holding only atoms, 1 + the deepest child otherwise, as observed while building. */
    int depth();

    /** Depth of any value: 0 for atoms (str, int, tensors, globals …). */
    static int depthOf(Object value) {
        return value instanceof PyContainer c ? c.depth() : 0;
    }
}
