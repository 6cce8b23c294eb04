package org.llavapack.convert.xtuner.pyconfig;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A value the config reader could compute from Python source without running it. Sealed: the reader produces only
 * these, and consumers switch over them. What it cannot compute is {@link Unknown} (with the source text), and what
 * the file refers to but does not define (imports, builtins, {@code PROMPT_TEMPLATE.llama3_chat}) is a {@link Name}.
 */
public sealed interface PyValue {

    record Str(String value) implements PyValue {}

    record Int(BigInteger value) implements PyValue {}

    record Float(double value) implements PyValue {}

    record Bool(boolean value) implements PyValue {}

    record None() implements PyValue {}

    record PyList(List<PyValue> items) implements PyValue {
        public PyList {
            items = List.copyOf(items);
        }
    }

    record Tuple(List<PyValue> items) implements PyValue {
        public Tuple {
            items = List.copyOf(items);
        }
    }

    /** A dict literal or {@code dict(...)} call; keys kept in insertion order, later duplicates replace earlier ones. */
    record Dict(List<Entry> entries) implements PyValue {
        public Dict {
            Map<PyValue, Entry> byKey = new LinkedHashMap<>();
            for (Entry e : entries) byKey.put(e.key(), e);
            entries = List.copyOf(new ArrayList<>(byKey.values()));
        }

        public Optional<PyValue> get(String key) {
            for (Entry e : entries) {
                if (e.key() instanceof Str s && s.value().equals(key)) return Optional.of(e.value());
            }
            return Optional.empty();
        }
    }

    record Entry(PyValue key, PyValue value) {}

    /** A dotted name the file does not define: an import, a builtin, or an attribute of one. */
    record Name(String dotted) implements PyValue {
        /** The part after the last dot ({@code llama3_chat} for {@code PROMPT_TEMPLATE.llama3_chat}). */
        public String last() {
            return dotted.substring(dotted.lastIndexOf('.') + 1);
        }
    }

    /** A call of something other than {@code dict}: kept symbolically, never performed. */
    record Call(PyValue callee, List<PyValue> args, List<Entry> kwargs) implements PyValue {
        public Call {
            args = List.copyOf(args);
            kwargs = List.copyOf(kwargs);
        }
    }

    /** Something the reader could parse but not compute; {@code source} is the expression's text (shortened). */
    record Unknown(String source, String reason) implements PyValue {}

    /** Short Python-like text for messages. */
    static String describe(PyValue v) {
        return switch (v) {
            case Str s -> "'" + s.value() + "'";
            case Int i -> i.value().toString();
            case Float f -> Double.toString(f.value());
            case Bool b -> b.value() ? "True" : "False";
            case None n -> "None";
            case PyList l -> "[…" + l.items().size() + " items]";
            case Tuple t -> "(…" + t.items().size() + " items)";
            case Dict d -> "{…" + d.entries().size() + " keys}";
            case Name n -> n.dotted();
            case Call c -> describe(c.callee()) + "(…)";
            case Unknown u -> u.source();
        };
    }
}
