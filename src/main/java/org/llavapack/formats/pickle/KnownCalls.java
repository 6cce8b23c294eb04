package org.llavapack.formats.pickle;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collection;
import java.util.Locale;
import org.llavapack.tensor.Float16;

/**
 * What REDUCE and NEWOBJ produce for the symbols of spec §2.2. Each known symbol is decoded into plain data; anything
 * else becomes an inert {@link PyObject}. Nothing here calls, imports or reflects: every case is a table entry that
 * builds a value from the arguments.
 */
final class KnownCalls {
    private KnownCalls() {}

    /** REDUCE: {@code g(*args)}. */
    static Object reduce(PyGlobal g, PyTuple args, PickleHooks hooks) {
        String name = g.canonical();
        return switch (name) {
            case "collections.OrderedDict" -> orderedDict(g, args);
            case "mmengine.config.config.ConfigDict", "mmengine.config.ConfigDict" -> configDict(g, args);
            case "builtins.set", "builtins.frozenset" -> set(name.endsWith("frozenset"), args, name);
            case "builtins.bytes" -> bytes(args, name, false);
            case "builtins.bytearray" -> bytes(args, name, true);
            case "builtins.getattr" -> enumMember(args);
            case "_codecs.encode" -> codecsEncode(args);
            case "torch.Size" -> torchSize(args);
            case "torch.device" -> torchDevice(args);
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> hooks.rebuildTensor(g, args);
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                if (args.isEmpty()) throw new PickleError(g + " without arguments");
                yield args.get(0);
            }
            case "torch._tensor._rebuild_from_type_v2" -> rebuildFromType(g, args, hooks);
            case "deepspeed.runtime.zero.config.ZeroStageEnum" ->
                    args.size() == 1 && args.get(0) instanceof Long n ? n : inert(g, args);
            case "numpy.core.multiarray.scalar" -> numpyScalar(g, args);
            case "copyreg._reconstructor" -> reconstructor(g, args);
            default -> inert(g, args);
        };
    }

    /** NEWOBJ: {@code cls.__new__(cls, *args)}; the object's contents follow through SETITEMS/APPENDS/BUILD. */
    static Object newobj(PyGlobal cls, PyTuple args) {
        return switch (cls.canonical()) {
            case "collections.OrderedDict", "mmengine.config.config.ConfigDict", "mmengine.config.ConfigDict" -> new PyDict(cls);
            case "builtins.set" -> new PySet(false);
            case "builtins.frozenset" -> new PySet(true);
            case "builtins.getattr" -> throw new PickleError("refusing pickle: NEWOBJ on builtins.getattr");
            default -> new PyObject(cls, args, PyObject.Kind.NEWOBJ);
        };
    }

    private static PyObject inert(PyGlobal g, PyTuple args) {
        return new PyObject(g, args, PyObject.Kind.REDUCE);
    }

    private static PyDict orderedDict(PyGlobal g, PyTuple args) {
        PyDict d = new PyDict(g);
        if (args.isEmpty()) return d;
        if (args.size() == 1 && args.get(0) instanceof Collection<?> pairs) {
            for (Object p : pairs) {
                if (!(p instanceof java.util.List<?> kv) || kv.size() != 2) {
                    throw new PickleError(g + " argument is not a sequence of (key, value) pairs");
                }
                PickleReader.checkHashable(kv.get(0), g.toString());
                d.put(kv.get(0), kv.get(1));
                d.noteChild(kv.get(0));
                d.noteChild(kv.get(1));
            }
            return d;
        }
        throw new PickleError(g + " with unsupported arguments " + PyRepr.of(args));
    }

    private static PyDict configDict(PyGlobal g, PyTuple args) {
        PyDict d = new PyDict(g);
        if (args.size() == 1 && args.get(0) instanceof PyDict src) {
            d.putAll(src);
            d.noteChild(src);
        } else if (!args.isEmpty()) {
            throw new PickleError(g + " with unsupported arguments " + PyRepr.of(args));
        }
        return d;
    }

    private static PySet set(boolean frozen, PyTuple args, String name) {
        PySet s = new PySet(frozen);
        if (args.isEmpty()) return s;
        if (args.size() == 1 && args.get(0) instanceof Collection<?> items) {
            for (Object o : items) {
                PickleReader.checkHashable(o, name);
                s.add(o);
                s.noteChild(o);
            }
            return s;
        }
        throw new PickleError(name + " with unsupported arguments " + PyRepr.of(args));
    }

    private static byte[] bytes(PyTuple args, String name, boolean bytearray) {
        if (args.isEmpty()) return new byte[0];
        if (args.size() == 1 && args.get(0) instanceof byte[] b) return b.clone();
        if (args.size() == 1 && args.get(0) instanceof java.util.List<?> ints) {
            byte[] out = new byte[ints.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(ints.get(i) instanceof Long v) || v < 0 || v > 255) throw new PickleError(name + " with a value that is not a byte");
                out[i] = (byte) (long) v;
            }
            return out;
        }
        if (bytearray && args.size() == 2) return latin1(args, name);
        throw new PickleError(name + " with unsupported arguments " + PyRepr.of(args));
    }

    /** {@code _codecs.encode(text, 'latin1')}: how protocol 2 stores non-empty bytes (numpy raw data). */
    private static byte[] codecsEncode(PyTuple args) {
        if (args.size() != 2) throw new PickleError("_codecs.encode needs (text, encoding), got " + PyRepr.of(args));
        return latin1(args, "_codecs.encode");
    }

    private static byte[] latin1(PyTuple args, String name) {
        if (!(args.get(0) instanceof String text) || !(args.get(1) instanceof String encoding)) {
            throw new PickleError(name + " needs (str, str) arguments");
        }
        String enc = encoding.toLowerCase(Locale.ROOT).replace('_', '-');
        if (!enc.equals("latin1") && !enc.equals("latin-1") && !enc.equals("iso-8859-1")) {
            throw new PickleError(name + " with encoding '" + PyRepr.of(encoding) + "': only latin1 is accepted");
        }
        byte[] out = new byte[text.length()];
        for (int i = 0; i < out.length; i++) {
            char c = text.charAt(i);
            if (c > 0xFF) throw new PickleError(name + ": character U+" + Integer.toHexString(c) + " is not latin1");
            out[i] = (byte) c;
        }
        return out;
    }

    /** {@code getattr(EnumClass, 'NAME')}: Python ≥ 3.11's pickling of enum members, and nothing else. */
    private static PyEnumMember enumMember(PyTuple args) {
        if (args.size() != 2 || !(args.get(0) instanceof PyGlobal target) || !(args.get(1) instanceof String attr)) {
            throw new PickleError("refusing pickle: builtins.getattr on " + PyRepr.of(args)
                    + " (only getattr(EnumClass, 'MEMBER') is accepted)");
        }
        String last = target.name().substring(target.name().lastIndexOf('.') + 1);
        boolean classLike = !last.isEmpty() && Character.isUpperCase(last.charAt(0));
        boolean plainName = GlobalPolicy.wellFormed(attr) && !attr.contains(".") && !attr.startsWith("_");
        if (!classLike || !plainName) {
            throw new PickleError("refusing pickle: builtins.getattr(" + target + ", " + PyRepr.of(attr)
                    + ") (only getattr(EnumClass, 'MEMBER') is accepted)");
        }
        return new PyEnumMember(target, attr);
    }

    private static PyTuple torchSize(PyTuple args) {
        if (args.size() == 1 && args.get(0) instanceof java.util.List<?> dims) {
            for (Object d : dims) {
                if (!(d instanceof Long)) throw new PickleError("torch.Size with a non-integer dimension " + PyRepr.of(d));
            }
            return PyTuple.copyOf(dims);
        }
        if (args.isEmpty()) return PyTuple.EMPTY;
        throw new PickleError("torch.Size with unsupported arguments " + PyRepr.of(args));
    }

    private static String torchDevice(PyTuple args) {
        if (args.size() == 1 && args.get(0) instanceof String s) return s;
        if (args.size() == 2 && args.get(0) instanceof String s && args.get(1) instanceof Long i) return s + ":" + i;
        if (args.size() == 2 && args.get(0) instanceof String s && args.get(1) == PyNone.NONE) return s;
        throw new PickleError("torch.device with unsupported arguments " + PyRepr.of(args));
    }

    /** Tensors with Python attributes: {@code _rebuild_from_type_v2(func, type, args, state)}; the state is dropped. */
    private static Object rebuildFromType(PyGlobal g, PyTuple args, PickleHooks hooks) {
        if (args.size() == 4 && args.get(0) instanceof PyGlobal func && args.get(2) instanceof PyTuple inner) {
            String f = func.canonical();
            if (f.equals("torch._utils._rebuild_tensor_v2") || f.equals("torch._utils._rebuild_tensor")
                    || f.equals("torch._utils._rebuild_parameter") || f.equals("torch._utils._rebuild_parameter_with_state")) {
                return reduce(func, inner, hooks);
            }
        }
        return inert(g, args);
    }

    /** Protocol 0/1 objects: {@code copyreg._reconstructor(cls, base, state)} becomes an inert instance of cls. */
    private static Object reconstructor(PyGlobal g, PyTuple args) {
        if (args.size() == 3 && args.get(0) instanceof PyGlobal cls) {
            PyObject o = new PyObject(cls, PyTuple.EMPTY, PyObject.Kind.NEWOBJ);
            if (args.get(2) != PyNone.NONE) o.build(args.get(2));
            return o;
        }
        return inert(g, args);
    }

    /**
     * {@code numpy.core.multiarray.scalar(dtype, raw)} → int, float or bool for the plain numeric dtypes (numpy scalars
     * in mmengine logs); other dtypes stay inert.
     */
    private static Object numpyScalar(PyGlobal g, PyTuple args) {
        if (args.size() != 2 || !(args.get(0) instanceof PyObject dtype) || !(args.get(1) instanceof byte[] raw)
                || !dtype.type().canonical().equals("numpy.dtype") || dtype.args().isEmpty()
                || !(dtype.args().get(0) instanceof String code) || code.length() < 2) {
            return inert(g, args);
        }
        ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        if (dtype.state().orElse(null) instanceof PyTuple st && st.size() > 1 && ">".equals(st.get(1))) order = ByteOrder.BIG_ENDIAN;
        int size;
        try {
            size = Integer.parseInt(code.substring(1));
        } catch (NumberFormatException e) {
            return inert(g, args);
        }
        if (raw.length != size) return inert(g, args);
        ByteBuffer b = ByteBuffer.wrap(raw).order(order);
        return switch (code.charAt(0) + ":" + size) {
            case "f:8" -> b.getDouble();
            case "f:4" -> (double) b.getFloat();
            case "f:2" -> (double) Float16.toFloat(b.getShort());
            case "i:8" -> b.getLong();
            case "i:4" -> (long) b.getInt();
            case "i:2" -> (long) b.getShort();
            case "i:1" -> (long) b.get();
            case "u:8" -> {
                long v = b.getLong();
                yield v >= 0 ? (Object) v : new BigInteger(Long.toUnsignedString(v));
            }
            case "u:4" -> b.getInt() & 0xFFFFFFFFL;
            case "u:2" -> (long) (b.getShort() & 0xFFFF);
            case "u:1" -> (long) (b.get() & 0xFF);
            case "b:1" -> b.get() != 0;
            default -> inert(g, args);
        };
    }
}
