package org.llavapack.formats.torch;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.llavapack.BadInputException;
import org.llavapack.formats.pickle.PickleHooks;
import org.llavapack.formats.pickle.PyGlobal;
import org.llavapack.formats.pickle.PyNone;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.formats.pickle.PyTuple;
import org.llavapack.tensor.DType;

/**
 * Resolves a torch pickle's persistent ids to {@link TorchStorage}s (one object per key, as torch's
 * {@code loaded_storages} cache does) and its {@code _rebuild_tensor(_v2)} calls to validated {@link TorchTensor}s.
 */
final class TorchHooks implements PickleHooks {
    private final Path path;
    private final StorageSource source;
    private final boolean legacy;
    private final Map<String, TorchStorage> storages = new HashMap<>();

    TorchHooks(Path path, StorageSource source, boolean legacy) {
        this.path = path;
        this.source = source;
        this.legacy = legacy;
    }

    /** Every storage the pickle named, by key. */
    Map<String, TorchStorage> storages() {
        return storages;
    }

    /**
     * Zip: {@code ('storage', StorageClass, key, location, numel)}. Legacy: the same plus {@code view_metadata},
     * which torch ≥ 0.4 always writes as None.
     */
    @Override
    public Object persistentLoad(PyTuple pid) {
        int expected = legacy ? 6 : 5;
        if (pid.size() != expected) {
            throw bad("persistent id " + PyRepr.of(pid) + " has " + pid.size() + " elements, a storage reference has " + expected);
        }
        DType dtype = storageDType(pid.get(1));
        if (!(pid.get(2) instanceof String key)) throw bad("persistent id " + PyRepr.of(pid) + ": the storage key is not a string");
        String location = pid.get(3) instanceof String s ? s : PyRepr.of(pid.get(3));
        if (!(pid.get(4) instanceof Long numel) || numel < 0) throw bad("persistent id " + PyRepr.of(pid) + ": the storage numel is not a non-negative int");
        if (legacy && pid.get(5) != PyNone.NONE) throw bad("persistent id " + PyRepr.of(pid) + ": storage views (view_metadata) from torch < 0.4 are not supported");
        TorchStorage known = storages.get(key);
        if (known != null) {
            if (known.dtype() != dtype || known.numel() != numel) {
                throw bad("storage " + PyRepr.of(key) + " is referenced as " + known.dtype() + "[" + known.numel() + "] and as " + dtype + "[" + numel + "]");
            }
            return known;
        }
        TorchStorage s = source.storage(key, dtype, numel, location);
        storages.put(key, s);
        return s;
    }

    /**
     * {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])} or
     * {@code _rebuild_tensor(storage, storage_offset, size, stride)}; the autograd arguments are ignored.
     */
    @Override
    public Object rebuildTensor(PyGlobal function, PyTuple args) {
        boolean v2 = function.name().endsWith("_v2");
        if (v2 ? args.size() < 6 || args.size() > 7 : args.size() != 4) {
            throw bad(function + " with " + args.size() + " arguments");
        }
        if (!(args.get(0) instanceof TorchStorage storage)) {
            throw bad(function + ": the storage argument is a " + PyRepr.typeName(args.get(0)) + ", not a storage");
        }
        if (!(args.get(1) instanceof Long offset)) throw bad(function + ": storage_offset is not an int");
        long[] size = ints(args.get(2), function, "size");
        long[] stride = ints(args.get(3), function, "stride");
        return TorchTensor.create(path, storage, offset, size, stride);
    }

    private long[] ints(Object v, PyGlobal function, String what) {
        if (!(v instanceof List<?> list)) throw bad(function + ": " + what + " is a " + PyRepr.typeName(v) + ", not a tuple");
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l)) throw bad(function + ": " + what + " holds a " + PyRepr.typeName(list.get(i)) + ", not an int");
            out[i] = l;
        }
        return out;
    }

    /** Storage class (or, in newer files, dtype) → element type; spec §2.4's table plus torch 2.x's additions. */
    DType storageDType(Object type) {
        if (type instanceof PyGlobal g && (g.module().equals("torch") || g.module().equals("torch.cuda") || g.module().equals("torch.storage"))) {
            DType t = switch (g.name()) {
                case "DoubleStorage", "float64", "double" -> DType.F64;
                case "FloatStorage", "float32", "float" -> DType.F32;
                case "HalfStorage", "float16", "half" -> DType.F16;
                case "BFloat16Storage", "bfloat16" -> DType.BF16;
                case "LongStorage", "int64", "long" -> DType.I64;
                case "IntStorage", "int32", "int" -> DType.I32;
                case "ShortStorage", "int16", "short" -> DType.I16;
                case "CharStorage", "int8" -> DType.I8;
                case "ByteStorage", "uint8", "UntypedStorage" -> DType.U8;
                case "BoolStorage", "bool" -> DType.BOOL;
                case "Float8_e5m2Storage", "float8_e5m2" -> DType.F8_E5M2;
                case "Float8_e4m3fnStorage", "float8_e4m3fn" -> DType.F8_E4M3;
                case "UInt16Storage", "uint16" -> DType.U16;
                case "UInt32Storage", "uint32" -> DType.U32;
                case "UInt64Storage", "uint64" -> DType.U64;
                default -> null;
            };
            if (t != null) return t;
        }
        throw bad("persistent id names " + PyRepr.of(type) + ", which is not a supported storage type");
    }

    private BadInputException bad(String what) {
        return new BadInputException(path, what);
    }
}
