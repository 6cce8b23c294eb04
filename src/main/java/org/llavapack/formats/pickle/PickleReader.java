package org.llavapack.formats.pickle;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import org.llavapack.BadInputException;

/**
 * Reads a pickle (protocols 0–5) without executing it: a stack machine over the opcodes of spec §2.1 whose GLOBALs
 * are symbols, whose REDUCE/NEWOBJ either decode a known symbol (spec §2.2) or record an inert {@link PyObject}, and
 * whose mutations are type-checked (spec §2.3). Every failure, including exhausted limits and any unexpected runtime
 * exception, is a {@link BadInputException} naming the construct and its byte offset.
 *
 * <p>Values: str → {@link String}; int → {@link Long}, or {@link BigInteger} beyond 64 bits (at most
 * {@link PickleLimits#maxLongBytes()} bytes); float → {@link Double}; bool → {@link Boolean}; None → {@link PyNone#NONE};
 * bytes and bytearray → {@code byte[]}; list → {@link PyList}; tuple → {@link PyTuple}; dict, OrderedDict, ConfigDict →
 * {@link PyDict}; set, frozenset → {@link PySet}; a symbol → {@link PyGlobal}; an enum member → {@link PyEnumMember};
 * anything else constructed → {@link PyObject}; storages and tensors → whatever the {@link PickleHooks} return.
 * The memo is shared by reference, so a value reached twice is the same Java object, and the graph may contain cycles.
 *
 * <p>A reader is reusable and thread-safe; each {@link #read} has its own stack and memo.
 */
public final class PickleReader {
    private final Path file;
    private final String member;
    private final PickleLimits limits;
    private final PickleHooks hooks;

    /**
     * @param file the file, for messages
     * @param member where in the file the pickle lives (e.g. {@code archive/data.pkl}), for messages; may be null
     */
    public PickleReader(Path file, String member, PickleLimits limits, PickleHooks hooks) {
        this.file = file;
        this.member = member;
        this.limits = limits;
        this.hooks = hooks;
    }

    /** The decoded value and the offset just past its STOP opcode. */
    public record Result(Object value, long end) {}

    /** Reads a standalone pickle (a {@code .pkl}) with default limits; persistent ids and tensors stay inert. */
    public static Object parse(Path file, byte[] pickle) {
        return new PickleReader(file, null, PickleLimits.DEFAULT, PickleHooks.INERT).read(MemorySegment.ofArray(pickle), 0).value();
    }

    /** Reads one pickle starting at {@code offset}; bytes after its STOP are not looked at. */
    public Result read(MemorySegment data, long offset) {
        Machine m = new Machine(data, offset);
        try {
            Object value = m.run();
            return new Result(value, m.pos);
        } catch (PickleError e) {
            throw new BadInputException(file, e.getMessage() + m.where());
        } catch (BadInputException e) {
            throw e;
        } catch (StackOverflowError e) {
            throw new BadInputException(file, "pickle exhausted the reader's stack" + m.where(), e);
        } catch (OutOfMemoryError e) {
            throw new BadInputException(file, "pickle exhausted the reader's memory" + m.where(), e);
        } catch (RuntimeException e) {
            // Last resort: a bug or an unforeseen construct must still be an input error, never a crash.
            throw new BadInputException(file, "unreadable pickle (" + e + ")" + m.where(), e);
        }
    }

    /** Python raises TypeError for unhashable dict keys and set items; a loadable pickle never has them. */
    static void checkHashable(Object key, String op) {
        if (key instanceof PyList || key instanceof PyDict || (key instanceof PySet s && !s.frozen())) {
            throw new PickleError(op + " with an unhashable " + PyRepr.typeName(key) + " as key");
        }
    }

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_BE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final Pattern DECIMAL = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern FLOAT_TEXT = Pattern.compile("[+-]?(([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?|inf|nan|infinity)");
    private static final int MAX_NAME_LINE = 4096;
    private static final int MAX_NUMBER_LINE = 128;

    /** The state of one {@link #read}. */
    private final class Machine {
        private final MemorySegment seg;
        private final long start;
        private final long limit;
        private long pos;
        private long opStart;
        private final ArrayList<Object> stack = new ArrayList<>();
        private int[] marks = new int[16];
        private int markCount;
        private final Memo memo = new Memo(limits.maxMemoEntries());

        Machine(MemorySegment seg, long offset) {
            this.seg = seg;
            this.start = offset;
            this.pos = offset;
            this.opStart = offset;
            this.limit = Math.min(seg.byteSize(), offset + limits.maxPickleBytes());
        }

        String where() {
            String at = "byte " + (opStart - start);
            return " [" + (member == null ? at : member + " " + at) + "]";
        }

        Object run() {
            long opcodes = 0;
            while (true) {
                if (++opcodes > limits.maxOpcodes()) throw new PickleError("pickle runs more than " + limits.maxOpcodes() + " opcodes (cap)");
                opStart = pos;
                if (pos >= limit) {
                    if (limit < seg.byteSize()) throw new PickleError("pickle is larger than the cap of " + limits.maxPickleBytes() + " bytes");
                    throw new PickleError("pickle ends without STOP (truncated)");
                }
                int op = seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
                switch (op) {
                    case '.' -> {
                        return stop();
                    }
                    case 0x80 -> { // PROTO
                        int p = u8("PROTO");
                        if (p > 5) throw new PickleError("unsupported pickle protocol " + p);
                    }
                    case 0x95 -> { // FRAME: a length prefix for buffering; the contents are read as usual
                        long n = i64("FRAME");
                        if (n < 0 || n > limit - pos) throw new PickleError("FRAME length " + Long.toUnsignedString(n) + " exceeds the " + (limit - pos) + " bytes left (truncated)");
                    }
                    case '(' -> mark();
                    case '0' -> popOp();
                    case '1' -> popMark("POP_MARK");
                    case '2' -> push(peek("DUP"));
                    case 'N' -> push(PyNone.NONE);
                    case 0x88 -> push(Boolean.TRUE);
                    case 0x89 -> push(Boolean.FALSE);
                    case 'J' -> push((long) i32("BININT"));
                    case 'K' -> push((long) u8("BININT1"));
                    case 'M' -> push((long) u16("BININT2"));
                    case 0x8A -> push(longBytes("LONG1", u8("LONG1")));
                    case 0x8B -> push(longBytes("LONG4", i32("LONG4")));
                    case 'I' -> push(textInt("INT", false));
                    case 'L' -> push(textInt("LONG", true));
                    case 'G' -> {
                        need(8, "BINFLOAT");
                        push(seg.get(F64_BE, pos));
                        pos += 8;
                    }
                    case 'F' -> push(textFloat());
                    case 'X' -> push(utf8("BINUNICODE", u32("BINUNICODE")));
                    case 0x8C -> push(utf8("SHORT_BINUNICODE", u8("SHORT_BINUNICODE")));
                    case 0x8D -> push(utf8("BINUNICODE8", i64("BINUNICODE8")));
                    case 'T' -> push(latin1String("BINSTRING", i32("BINSTRING")));
                    case 'U' -> push(latin1String("SHORT_BINSTRING", u8("SHORT_BINSTRING")));
                    case 'S' -> push(quotedString());
                    case 'V' -> push(rawUnicodeEscape(line("UNICODE", limit - pos)));
                    case 'B' -> push(bytes("BINBYTES", u32("BINBYTES")));
                    case 'C' -> push(bytes("SHORT_BINBYTES", u8("SHORT_BINBYTES")));
                    case 0x8E -> push(bytes("BINBYTES8", i64("BINBYTES8")));
                    case ')' -> push(PyTuple.EMPTY);
                    case 't' -> push(tuple(popMark("TUPLE")));
                    case 0x85 -> push(tupleN("TUPLE1", 1));
                    case 0x86 -> push(tupleN("TUPLE2", 2));
                    case 0x87 -> push(tupleN("TUPLE3", 3));
                    case ']' -> push(new PyList());
                    case 'l' -> {
                        PyList l = new PyList();
                        for (Object o : popMark("LIST")) append(l, o, "LIST");
                        push(l);
                    }
                    case '}' -> push(new PyDict());
                    case 'd' -> {
                        PyDict d = new PyDict();
                        setItems(d, popMark("DICT"), "DICT");
                        push(d);
                    }
                    case 0x8F -> push(new PySet(false));
                    case 0x91 -> {
                        PySet s = new PySet(true);
                        for (Object o : popMark("FROZENSET")) addToSet(s, o, "FROZENSET");
                        push(s);
                    }
                    case 'a' -> {
                        Object v = pop("APPEND");
                        append(peek("APPEND"), v, "APPEND");
                    }
                    case 'e' -> {
                        List<Object> items = popMark("APPENDS");
                        Object target = peek("APPENDS");
                        if (items.isEmpty()) checkAppendTarget(target, "APPENDS");
                        for (Object o : items) append(target, o, "APPENDS");
                    }
                    case 's' -> {
                        Object v = pop("SETITEM");
                        Object k = pop("SETITEM");
                        setItem(peek("SETITEM"), k, v, "SETITEM");
                    }
                    case 'u' -> {
                        List<Object> items = popMark("SETITEMS");
                        setItems(peek("SETITEMS"), items, "SETITEMS");
                    }
                    case 0x90 -> {
                        List<Object> items = popMark("ADDITEMS");
                        Object target = peek("ADDITEMS");
                        if (!(target instanceof PySet s) || s.frozen()) throw new PickleError("ADDITEMS on " + describe(target) + ": only sets take items");
                        for (Object o : items) addToSet(s, o, "ADDITEMS");
                    }
                    case 'p' -> memoPut(memoIndex(line("PUT", MAX_NUMBER_LINE), "PUT"), "PUT");
                    case 'q' -> memoPut(u8("BINPUT"), "BINPUT");
                    case 'r' -> memoPut(u32("LONG_BINPUT"), "LONG_BINPUT");
                    case 0x94 -> memoPut(memo.size(), "MEMOIZE");
                    case 'g' -> memoGet(memoIndex(line("GET", MAX_NUMBER_LINE), "GET"), "GET");
                    case 'h' -> memoGet(u8("BINGET"), "BINGET");
                    case 'j' -> memoGet(u32("LONG_BINGET"), "LONG_BINGET");
                    case 'c' -> {
                        String module = line("GLOBAL", MAX_NAME_LINE);
                        String name = line("GLOBAL", MAX_NAME_LINE);
                        push(global(module, name, "GLOBAL"));
                    }
                    case 0x93 -> {
                        Object name = pop("STACK_GLOBAL");
                        Object module = pop("STACK_GLOBAL");
                        if (!(module instanceof String ms) || !(name instanceof String ns)) {
                            throw new PickleError("STACK_GLOBAL needs two strings, got " + PyRepr.typeName(module) + " and " + PyRepr.typeName(name));
                        }
                        push(global(ms, ns, "STACK_GLOBAL"));
                    }
                    case 'R' -> {
                        Object args = pop("REDUCE");
                        Object callable = pop("REDUCE");
                        if (!(args instanceof PyTuple t)) throw new PickleError("REDUCE argument is a " + PyRepr.typeName(args) + ", not a tuple");
                        push(call(callable, t, "REDUCE"));
                    }
                    case 0x81 -> {
                        Object args = pop("NEWOBJ");
                        Object cls = pop("NEWOBJ");
                        if (!(args instanceof PyTuple t)) throw new PickleError("NEWOBJ arguments are a " + PyRepr.typeName(args) + ", not a tuple");
                        if (cls instanceof PyEnumMember e) throw new PickleError("refusing pickle: NEWOBJ on " + e + ", which builtins.getattr produced");
                        if (!(cls instanceof PyGlobal g)) throw new PickleError("NEWOBJ on " + describe(cls) + ", which is not a class");
                        push(checked(KnownCalls.newobj(g, t)));
                    }
                    case 'b' -> {
                        Object state = pop("BUILD");
                        build(peek("BUILD"), state);
                    }
                    case 'Q' -> {
                        Object pid = pop("BINPERSID");
                        if (!(pid instanceof PyTuple t) || t.isEmpty() || !"storage".equals(t.get(0))) {
                            throw new PickleError("persistent id " + PyRepr.of(pid) + " does not start with 'storage'");
                        }
                        push(checked(hooks.persistentLoad(t)));
                    }
                    case 'P' -> throw new PickleError("PERSID (a text persistent id) is not accepted; torch writes BINPERSID");
                    case 'i' -> {
                        String module = line("INST", MAX_NAME_LINE), name = line("INST", MAX_NAME_LINE);
                        String sym = GlobalPolicy.wellFormed(module) && GlobalPolicy.wellFormed(name) ? module + "." + name : "a malformed symbol";
                        throw new PickleError("INST opcode (on " + sym + ") is not accepted");
                    }
                    case 'o' -> throw new PickleError("OBJ opcode is not accepted");
                    case 0x82, 0x83, 0x84 -> throw new PickleError("EXT" + (op == 0x82 ? 1 : op == 0x83 ? 2 : 4)
                            + " opcode (copyreg extension registry) is not accepted");
                    case 0x92 -> throw new PickleError("NEWOBJ_EX opcode is not accepted");
                    case 0x96 -> throw new PickleError("BYTEARRAY8 (protocol 5 bytearray) is not accepted");
                    case 0x97 -> throw new PickleError("NEXT_BUFFER (protocol 5 out-of-band buffer) is not accepted");
                    case 0x98 -> throw new PickleError("READONLY_BUFFER (protocol 5 out-of-band buffer) is not accepted");
                    default -> throw new PickleError(String.format("unknown opcode 0x%02x", op));
                }
            }
        }

        // ---- stack and marks ---------------------------------------------------------------------------------------

        private int fence() {
            return markCount == 0 ? 0 : marks[markCount - 1];
        }

        private void push(Object v) {
            stack.add(v);
        }

        private Object pop(String op) {
            if (stack.size() <= fence()) throw new PickleError(op + " needs a value but the stack is empty" + (markCount > 0 ? " above the MARK" : ""));
            return stack.removeLast();
        }

        private Object peek(String op) {
            if (stack.size() <= fence()) throw new PickleError(op + " needs a value but the stack is empty" + (markCount > 0 ? " above the MARK" : ""));
            return stack.getLast();
        }

        /** POP drops the top value, or the top MARK when nothing lies above it (as CPython does). */
        private void popOp() {
            if (stack.size() > fence()) {
                stack.removeLast();
            } else if (markCount > 0) {
                markCount--;
            } else {
                throw new PickleError("POP on an empty stack");
            }
        }

        private void mark() {
            if (markCount >= limits.maxDepth()) throw new PickleError("MARK nesting deeper than " + limits.maxDepth() + " (too deep)");
            if (markCount == marks.length) marks = Arrays.copyOf(marks, marks.length * 2);
            marks[markCount++] = stack.size();
        }

        private List<Object> popMark(String op) {
            if (markCount == 0) throw new PickleError(op + " without a MARK");
            int m = marks[--markCount];
            List<Object> tail = stack.subList(m, stack.size());
            List<Object> items = new ArrayList<>(tail);
            tail.clear();
            return items;
        }

        private Object stop() {
            if (markCount > 0) throw new PickleError("STOP with " + markCount + " MARK(s) still open");
            if (stack.isEmpty()) throw new PickleError("STOP with an empty stack");
            if (stack.size() > 1) throw new PickleError("STOP leaves " + stack.size() + " values on the stack");
            return stack.getFirst();
        }

        // ---- containers ---------------------------------------------------------------------------------------------

        private void checkDepth(int depth) {
            if (depth > limits.maxDepth()) throw new PickleError("containers nested deeper than " + limits.maxDepth() + " (nesting too deep)");
        }

        private Object checked(Object v) {
            checkDepth(PyContainer.depthOf(v));
            return v;
        }

        private PyTuple tuple(List<Object> items) {
            PyTuple t = PyTuple.copyOf(items);
            checkDepth(t.depth());
            return t;
        }

        private PyTuple tupleN(String op, int n) {
            Object[] items = new Object[n];
            for (int i = n - 1; i >= 0; i--) items[i] = pop(op);
            PyTuple t = PyTuple.of(items);
            checkDepth(t.depth());
            return t;
        }

        private void checkAppendTarget(Object target, String op) {
            if (!(target instanceof PyList) && !(target instanceof PyObject)) {
                throw new PickleError(op + " on " + describe(target) + ": only lists take appended items");
            }
        }

        private void append(Object target, Object v, String op) {
            switch (target) {
                case PyList l -> {
                    l.add(v);
                    checkDepth(l.noteChild(v));
                }
                case PyObject o -> {
                    PyList items = o.listItems();
                    items.add(v);
                    items.noteChild(v);
                    checkDepth(o.noteChild(items));
                }
                default -> checkAppendTarget(target, op);
            }
        }

        private void setItems(Object target, List<Object> items, String op) {
            if (items.size() % 2 != 0) throw new PickleError(op + " with an odd number of items (" + items.size() + "): keys and values must pair up");
            if (items.isEmpty()) checkSetTarget(target, op);
            for (int i = 0; i < items.size(); i += 2) setItem(target, items.get(i), items.get(i + 1), op);
        }

        private void checkSetTarget(Object target, String op) {
            if (!(target instanceof PyDict) && !(target instanceof PyObject)) {
                throw new PickleError(op + " on " + describe(target) + ": only dicts take items");
            }
        }

        private void setItem(Object target, Object k, Object v, String op) {
            checkSetTarget(target, op);
            checkHashable(k, op);
            PyDict d = target instanceof PyObject o ? o.dictItems() : (PyDict) target;
            d.put(k, v);
            d.noteChild(k);
            checkDepth(d.noteChild(v));
            if (target instanceof PyObject o) checkDepth(o.noteChild(d));
        }

        private void addToSet(PySet s, Object o, String op) {
            checkHashable(o, op);
            s.add(o);
            checkDepth(s.noteChild(o));
        }

        private void build(Object target, Object state) {
            switch (target) {
                case PyObject o -> checkDepth(o.build(state));
                case PyDict d -> {
                    PyDict attrs = d.attributes();
                    if (state instanceof PyDict sd) {
                        attrs.putAll(sd);
                    } else if (state instanceof PyTuple t && t.size() == 2
                            && (t.get(0) instanceof PyDict || t.get(0) == PyNone.NONE)
                            && (t.get(1) instanceof PyDict || t.get(1) == PyNone.NONE)) {
                        for (Object part : t) {
                            if (part instanceof PyDict pd) attrs.putAll(pd);
                        }
                    } else if (state != PyNone.NONE) {
                        throw new PickleError("BUILD on a dict with a " + PyRepr.typeName(state) + " state: only attribute dicts are accepted");
                    }
                    attrs.noteChild(state);
                    checkDepth(d.noteChild(attrs));
                }
                case PyGlobal g -> throw new PickleError("BUILD on global " + g + " is refused: it would patch a class or function");
                case PyEnumMember e -> throw new PickleError("refusing pickle: BUILD on " + e + ", which builtins.getattr produced");
                default -> throw new PickleError("BUILD on " + describe(target) + " is refused: only objects and dicts take state");
            }
        }

        private String describe(Object v) {
            return v instanceof PyGlobal g ? "global " + g : "a " + PyRepr.typeName(v);
        }

        // ---- globals and calls --------------------------------------------------------------------------------------

        private PyGlobal global(String module, String name, String op) {
            if (!GlobalPolicy.wellFormed(module) || !GlobalPolicy.wellFormed(name)) {
                throw new PickleError(op + " names a malformed symbol " + PyRepr.of(module) + " " + PyRepr.of(name));
            }
            String why = GlobalPolicy.denial(module, name);
            if (why != null) throw new PickleError("refusing pickle: it references " + module + "." + name + " (" + why + ")");
            return new PyGlobal(module, name);
        }

        private Object call(Object callable, PyTuple args, String op) {
            return switch (callable) {
                case PyGlobal g -> checked(KnownCalls.reduce(g, args, hooks));
                case PyEnumMember e -> throw new PickleError("refusing pickle: it calls " + e + ", which builtins.getattr produced");
                case PyObject o -> throw new PickleError("refusing pickle: " + op + " calls an object made by " + o.type()
                        + "; only named globals may be called");
                default -> throw new PickleError(op + " on " + describe(callable) + ", which is not callable");
            };
        }

        // ---- memo ---------------------------------------------------------------------------------------------------

        private void memoPut(long index, String op) {
            memo.put(index, peek(op));
        }

        private void memoGet(long index, String op) {
            Object v = memo.get(index);
            if (v == null) throw new PickleError(op + " " + index + " but the memo has no entry " + index);
            push(v);
        }

        private long memoIndex(String text, String op) {
            if (!text.matches("[0-9]{1,10}")) throw new PickleError(op + " with a malformed memo index " + PyRepr.of(text));
            return Long.parseLong(text);
        }

        // ---- operands -----------------------------------------------------------------------------------------------

        private void need(long n, String op) {
            if (n > limit - pos) {
                if (limit < seg.byteSize() && n <= seg.byteSize() - pos) {
                    throw new PickleError("pickle is larger than the cap of " + limits.maxPickleBytes() + " bytes");
                }
                throw new PickleError(op + " needs " + n + " bytes but only " + (limit - pos) + " are left (truncated)");
            }
        }

        private int u8(String op) {
            need(1, op);
            return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
        }

        private int u16(String op) {
            need(2, op);
            int v = seg.get(U16, pos) & 0xFFFF;
            pos += 2;
            return v;
        }

        private int i32(String op) {
            need(4, op);
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        private long u32(String op) {
            return i32(op) & 0xFFFFFFFFL;
        }

        private long i64(String op) {
            need(8, op);
            long v = seg.get(I64, pos);
            pos += 8;
            return v;
        }

        /** {@code n} bytes for a length-prefixed operand; the length must fit in what is left of the pickle. */
        private byte[] take(String op, long n) {
            if (n < 0 || n > limit - pos) {
                String len = n < 0 && op.endsWith("8") ? Long.toUnsignedString(n) : Long.toString(n);
                if (n >= 0 && limit < seg.byteSize() && n <= seg.byteSize() - pos) {
                    throw new PickleError("pickle is larger than the cap of " + limits.maxPickleBytes() + " bytes");
                }
                throw new PickleError(op + " length " + len + (n < 0 && !op.endsWith("8") ? " is negative" : "")
                        + " exceeds the " + (limit - pos) + " bytes left (truncated)");
            }
            byte[] b = new byte[(int) n];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, (int) n);
            pos += n;
            return b;
        }

        private byte[] bytes(String op, long n) {
            return take(op, n);
        }

        private String utf8(String op, long n) {
            byte[] b = take(op, n);
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw new PickleError(op + " holds invalid UTF-8");
            }
        }

        /** Python 2 str: bytes with no declared encoding; Latin-1 maps each byte to one character. */
        private String latin1String(String op, long n) {
            return new String(take(op, n), StandardCharsets.ISO_8859_1);
        }

        private Object longBytes(String op, long n) {
            if (n < 0) throw new PickleError(op + " with a negative length " + n);
            if (n > limits.maxLongBytes()) throw new PickleError(op + " of " + n + " bytes exceeds the " + limits.maxLongBytes() + "-byte cap for integers (too large)");
            byte[] le = take(op, n);
            if (le.length == 0) return 0L;
            byte[] be = new byte[le.length];
            for (int i = 0; i < le.length; i++) be[i] = le[le.length - 1 - i];
            return normalize(new BigInteger(be));
        }

        private Object normalize(BigInteger v) {
            return v.bitLength() < 64 ? (Object) v.longValue() : v;
        }

        /** A text line (protocol 0 operands), without its newline. */
        private String line(String op, long max) {
            long end = Math.min(limit, pos + max + 1);
            for (long p = pos; p < end; p++) {
                if (seg.get(ValueLayout.JAVA_BYTE, p) == '\n') {
                    byte[] b = new byte[(int) (p - pos)];
                    MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, b.length);
                    pos = p + 1;
                    return new String(b, StandardCharsets.ISO_8859_1);
                }
            }
            if (end == limit) throw new PickleError(op + " operand has no end of line (truncated)");
            throw new PickleError(op + " operand is longer than " + max + " characters");
        }

        private Object textInt(String op, boolean longSuffix) {
            String s = line(op, MAX_NUMBER_LINE);
            if (!longSuffix && s.equals("00")) return Boolean.FALSE;
            if (!longSuffix && s.equals("01")) return Boolean.TRUE;
            if (longSuffix && s.endsWith("L")) s = s.substring(0, s.length() - 1);
            if (!DECIMAL.matcher(s).matches()) throw new PickleError(op + " with a malformed number " + PyRepr.of(s));
            BigInteger v = new BigInteger(s);
            if (v.bitLength() >= limits.maxLongBytes() * 8) throw new PickleError(op + " of " + s.length() + " digits exceeds the " + limits.maxLongBytes() + "-byte cap for integers (too large)");
            return normalize(v);
        }

        private Double textFloat() {
            String s = line("FLOAT", MAX_NUMBER_LINE);
            String lower = s.toLowerCase(java.util.Locale.ROOT);
            if (!FLOAT_TEXT.matcher(lower).matches()) throw new PickleError("FLOAT with a malformed number " + PyRepr.of(s));
            if (lower.contains("nan")) return Double.NaN;
            if (lower.contains("inf")) return lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            return Double.parseDouble(lower);
        }

        /** Protocol 0 STRING: a Python 2 repr, quoted, with backslash escapes. */
        private String quotedString() {
            String s = line("STRING", limit - pos);
            if (s.length() < 2 || (s.charAt(0) != '\'' && s.charAt(0) != '"') || s.charAt(s.length() - 1) != s.charAt(0)) {
                throw new PickleError("STRING operand is not a quoted string");
            }
            StringBuilder out = new StringBuilder(s.length());
            for (int i = 1; i < s.length() - 1; i++) {
                char c = s.charAt(i);
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (++i >= s.length() - 1) throw new PickleError("STRING ends inside an escape");
                char e = s.charAt(i);
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case 'a' -> out.append('\u0007');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'v' -> out.append('\u000b');
                    case '\\', '\'', '"' -> out.append(e);
                    case 'x' -> {
                        if (i + 2 >= s.length() - 1) throw new PickleError("STRING has a truncated \\x escape");
                        out.append((char) hex(s.substring(i + 1, i + 3), "STRING"));
                        i += 2;
                    }
                    default -> {
                        if (e >= '0' && e <= '7') {
                            int v = 0, k = 0;
                            while (k < 3 && i < s.length() - 1 && s.charAt(i) >= '0' && s.charAt(i) <= '7') {
                                v = v * 8 + (s.charAt(i++) - '0');
                                k++;
                            }
                            i--;
                            out.append((char) (v & 0xFF));
                        } else {
                            out.append('\\').append(e);
                        }
                    }
                }
            }
            return out.toString();
        }

        /** Protocol 0 UNICODE: Latin-1 text in which only {@code \}{@code uXXXX} and {@code \}{@code UXXXXXXXX} are escapes. */
        private String rawUnicodeEscape(String s) {
            StringBuilder out = new StringBuilder(s.length());
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '\\' && i + 1 < s.length() && (s.charAt(i + 1) == 'u' || s.charAt(i + 1) == 'U')) {
                    int digits = s.charAt(i + 1) == 'u' ? 4 : 8;
                    if (i + 2 + digits > s.length()) throw new PickleError("UNICODE has a truncated escape");
                    int cp = hex(s.substring(i + 2, i + 2 + digits), "UNICODE");
                    if (!Character.isValidCodePoint(cp)) throw new PickleError("UNICODE escape is not a code point");
                    out.appendCodePoint(cp);
                    i += 1 + digits;
                } else {
                    out.append(c);
                }
            }
            return out.toString();
        }

        private int hex(String digits, String op) {
            try {
                long v = Long.parseLong(digits, 16);
                if (v > Integer.MAX_VALUE || digits.startsWith("+") || digits.startsWith("-")) throw new NumberFormatException();
                return (int) v;
            } catch (NumberFormatException e) {
                throw new PickleError(op + " has a malformed escape " + PyRepr.of(digits));
            }
        }
    }
}
