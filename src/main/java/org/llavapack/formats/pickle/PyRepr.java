package org.llavapack.formats.pickle;

import java.math.BigInteger;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * Short Python-style renderings of decoded values for messages and {@code inspect}. Bounded in depth, items and length,
 * so printing a 100,000-deep or self-containing graph costs a few hundred characters, never a stack overflow.
 */
public final class PyRepr {
    private PyRepr() {}

    private static final int MAX_DEPTH = 4;
    private static final int MAX_ITEMS = 8;
    private static final int MAX_CHARS = 240;

    /** Like Python's {@code repr}, cut to about {@value #MAX_CHARS} characters. */
    public static String of(Object value) {
        StringBuilder sb = new StringBuilder();
        append(sb, value, 0);
        return sb.length() <= MAX_CHARS ? sb.toString() : sb.substring(0, MAX_CHARS) + "…";
    }

    /** Python's {@code type(value).__name__} for decoded values; other Java objects give their simple class name. */
    public static String typeName(Object value) {
        return switch (value) {
            case null -> "NoneType";
            case String s -> "str";
            case Long l -> "int";
            case BigInteger b -> "int";
            case Double d -> "float";
            case Boolean b -> "bool";
            case PyNone n -> "NoneType";
            case byte[] b -> "bytes";
            case PyList l -> "list";
            case PyTuple t -> "tuple";
            case PyDict d -> d.type() == null ? "dict" : d.type().name();
            case PySet s -> s.frozen() ? "frozenset" : "set";
            case PyGlobal g -> "global";
            case PyEnumMember e -> e.type().name();
            case PyObject o -> o.type().name();
            default -> value.getClass().getSimpleName();
        };
    }

    private static void append(StringBuilder sb, Object v, int depth) {
        if (sb.length() > MAX_CHARS) return;
        switch (v) {
            case String s -> {
                sb.append('\'');
                escape(sb, s.length() > MAX_CHARS ? s.substring(0, MAX_CHARS) : s);
                sb.append('\'');
            }
            case byte[] b -> sb.append("b<").append(b.length).append(" bytes>");
            case Boolean b -> sb.append(b ? "True" : "False");
            case PyTuple t -> items(sb, t, "(", t.size() == 1 ? ",)" : ")", depth);
            case PyList l -> items(sb, l, "[", "]", depth);
            case PySet s -> {
                if (s.isEmpty()) sb.append(s.frozen() ? "frozenset()" : "set()");
                else items(sb, s, s.frozen() ? "frozenset({" : "{", s.frozen() ? "})" : "}", depth);
            }
            case PyDict d -> {
                if (d.type() != null) sb.append(d.type().name()).append('(');
                entries(sb, d, depth);
                if (d.type() != null) sb.append(')');
            }
            case PyObject o -> {
                sb.append('<').append(o.type().qualifiedName());
                if (o.kind() == PyObject.Kind.REDUCE && !o.args().isEmpty()) {
                    sb.append(' ');
                    append(sb, o.args(), depth + 1);
                }
                sb.append('>');
            }
            case null -> sb.append("None");
            default -> sb.append(v);
        }
    }

    /**
     * Escapes like Python's repr: strings come from untrusted files, and a newline or terminal escape in one must not
     * split an error message or reach the terminal.
     */
    private static void escape(StringBuilder sb, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\'' -> sb.append("\\'");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                        sb.append(c).append(s.charAt(++i));
                    } else if (c < 0x20 || (c >= 0x7F && c < 0xA0) || Character.getType(c) == Character.FORMAT
                            || Character.isSurrogate(c)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
    }

    private static void items(StringBuilder sb, Collection<?> c, String open, String close, int depth) {
        sb.append(open);
        if (depth >= MAX_DEPTH && !c.isEmpty()) {
            sb.append("…");
        } else {
            int n = 0;
            for (Iterator<?> it = c.iterator(); it.hasNext(); n++) {
                Object o = it.next();
                if (n == MAX_ITEMS || sb.length() > MAX_CHARS) {
                    sb.append("… ").append(c.size() - n).append(" more");
                    break;
                }
                if (n > 0) sb.append(", ");
                append(sb, o, depth + 1);
            }
        }
        sb.append(close);
    }

    private static void entries(StringBuilder sb, Map<?, ?> m, int depth) {
        sb.append('{');
        if (depth >= MAX_DEPTH && !m.isEmpty()) {
            sb.append("…");
        } else {
            int n = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (n == MAX_ITEMS || sb.length() > MAX_CHARS) {
                    sb.append("… ").append(m.size() - n).append(" more");
                    break;
                }
                if (n++ > 0) sb.append(", ");
                append(sb, e.getKey(), depth + 1);
                sb.append(": ");
                append(sb, e.getValue(), depth + 1);
            }
        }
        sb.append('}');
    }
}
