package org.llavapack.formats.pickle;

import org.llavapack.BadInputException;

/**
 * What the container around a pickle contributes: persistent ids name storages in the zip or legacy stream, and
 * {@code torch._utils._rebuild_tensor(_v2)} turns a storage into a tensor view. The pickle reader itself knows nothing
 * about files; it validates the opcodes and hands these two constructs over. Implementations throw
 * {@link BadInputException} for bad arguments.
 */
public interface PickleHooks {

    /** BINPERSID; {@code pid} is a tuple whose first element is {@code 'storage'} (the reader checked). */
    Object persistentLoad(PyTuple pid);

    /** REDUCE of {@code torch._utils._rebuild_tensor_v2} or {@code _rebuild_tensor} with its argument tuple. */
    Object rebuildTensor(PyGlobal function, PyTuple args);

    /**
     * Hooks for a pickle read on its own (a bare {@code .pkl}): persistent ids and tensor rebuilds become inert
     * {@link PyObject}s, since there are no storages to resolve.
     */
    PickleHooks INERT = new PickleHooks() {
        private static final PyGlobal PERSISTENT_ID = new PyGlobal("<pickle>", "persistent_id");

        @Override
        public Object persistentLoad(PyTuple pid) {
            return new PyObject(PERSISTENT_ID, pid, PyObject.Kind.PERSISTENT_ID);
        }

        @Override
        public Object rebuildTensor(PyGlobal function, PyTuple args) {
            return new PyObject(function, args, PyObject.Kind.REDUCE);
        }
    };
}
