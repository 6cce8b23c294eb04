package org.llavapack.convert.xtuner.pyconfig;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.llavapack.convert.xtuner.pyconfig.PyLexer.Kind;
import org.llavapack.convert.xtuner.pyconfig.PyLexer.Line;
import org.llavapack.convert.xtuner.pyconfig.PyLexer.Token;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Bool;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Call;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Dict;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Entry;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Int;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Name;
import org.llavapack.convert.xtuner.pyconfig.PyValue.PyList;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Str;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Tuple;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Unknown;

/**
 * Reads an mmengine/XTuner Python config as data, never running it: top-level assignments whose right-hand sides are
 * literals (strings in every quote form, numbers, True/False/None), lists, tuples, dicts, {@code dict(...)} calls,
 * names and attribute chains, with simple arithmetic and string concatenation evaluated. Anything else — blocks,
 * comprehensions, calls of other functions, imports — is kept symbolic or skipped with a warning.
 *
 * <p>Hostile input is expected (configs come with downloaded checkpoints): the input size is capped, nesting is
 * bounded, values that would grow large are not computed, and the only exception is {@link PyConfigException} for
 * input that is not readable at all. A statement that cannot be read becomes a warning.
 */
public final class PyConfigReader {

    /**
     * Largest config accepted. Real ones are 5–10 KB. Reading is linear but not fast on pathological text: a 1 MiB
     * chain of 500,000 additions takes ~2 s in a warm JVM and ~10 s in a cold one on a busy 2-core machine (measured
     * for issue #9), so the former 4 MiB cap let a hostile config stall a conversion for most of a minute; 1 MiB keeps
     * the worst case to seconds and is still 100× a real config.
     */
    public static final int MAX_INPUT_CHARS = 1 << 20;
    /** Deepest expression nesting followed. */
    static final int MAX_DEPTH = 100;
    /** Warnings kept; the rest are counted. */
    static final int MAX_WARNINGS = 200;
    /** Total characters/elements that repetition and concatenation may create over one read. */
    static final long MAX_BUDGET = 16L << 20;
    /** Largest integer computed, in bits. */
    static final int MAX_INT_BITS = 1 << 16;

    private static final Set<String> BLOCK_KEYWORDS = Set.of("if", "elif", "else", "for", "while", "def", "class", "with",
            "try", "except", "finally", "async", "match");
    private static final Set<String> KEYWORDS = Set.of("False", "None", "True", "and", "as", "assert", "async", "await",
            "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
            "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with",
            "yield");

    private final String src;
    private final Map<String, PyValue> env = new LinkedHashMap<>();
    private final List<String> warnings = new ArrayList<>();
    private int droppedWarnings;
    private long budget = MAX_BUDGET;

    // the statement being parsed
    private List<Token> toks;
    private int pos;
    private int end;
    private int depth;
    private int stmtLine;
    private int stmtStart;

    private PyConfigReader(String src) {
        this.src = src;
    }

    /** Reads {@code text}; throws only {@link PyConfigException}. */
    public static PyModule read(String text) {
        if (text == null) throw new PyConfigException("no config text");
        if (text.length() > MAX_INPUT_CHARS) {
            throw new PyConfigException("config is " + text.length() + " characters, more than the " + MAX_INPUT_CHARS
                    + " a training config could need");
        }
        if (text.indexOf('\0') >= 0) throw new PyConfigException("config contains NUL characters: not Python source text");
        PyConfigReader r = new PyConfigReader(text);
        r.run();
        if (r.droppedWarnings > 0) r.warnings.add("… and " + r.droppedWarnings + " more items not read");
        return new PyModule(r.env, r.warnings);
    }

    private void run() {
        List<Line> lines = PyLexer.lex(src);
        boolean inBlock = false;
        for (Line l : lines) {
            if (l.indent() > 0) {
                if (!inBlock) warn("line " + l.line() + ": unexpected indentation (statement skipped)");
                inBlock = true;
                continue;
            }
            inBlock = false;
            if (l.error() != null) {
                warn(l.error() + " (statement skipped)");
                inBlock = true; // the rest of a broken bracketed statement is skipped quietly
                continue;
            }
            Token first = l.tokens().getFirst();
            if (first.is("@") || first.kind() == Kind.NAME && BLOCK_KEYWORDS.contains(first.text())) {
                warn("line " + l.line() + ": '" + first.text() + "' block not evaluated");
                inBlock = true;
                continue;
            }
            if (first.kind() == Kind.NAME && (first.text().equals("import") || first.text().equals("from"))) {
                continue; // imported names stay symbolic
            }
            // a logical line may hold several statements separated by ';'
            List<Token> ts = l.tokens();
            int s = 0;
            int d = 0;
            for (int i = 0; i <= ts.size(); i++) {
                if (i < ts.size()) {
                    Token t = ts.get(i);
                    if (t.kind() == Kind.OP) {
                        switch (t.text()) {
                            case "(", "[", "{" -> d++;
                            case ")", "]", "}" -> d--;
                            default -> { }
                        }
                    }
                    if (!(d == 0 && t.is(";"))) continue;
                }
                if (i > s) statement(ts, s, i, l.line());
                s = i + 1;
            }
        }
    }

    private void warn(String w) {
        if (warnings.size() < MAX_WARNINGS) warnings.add(w);
        else droppedWarnings++;
    }

    // ----------------------------------------------------------------------------------------------------------------
    // statements

    private static final class ParseError extends RuntimeException {
        ParseError(String m) {
            super(m, null, false, false);
        }
    }

    private void statement(List<Token> ts, int from, int to, int line) {
        toks = ts;
        pos = from;
        end = to;
        depth = 0;
        stmtLine = line;
        stmtStart = from;
        try {
            statement();
        } catch (ParseError e) {
            warn("line " + line + ": " + e.getMessage() + " in `" + text(from, to) + "` (statement skipped)");
        } catch (StackOverflowError e) {
            warn("line " + line + ": statement nested too deeply (skipped)");
        } catch (RuntimeException e) {
            // a defect in this reader must not stop the conversion; the statement is reported as unread
            warn("line " + line + ": could not read `" + text(from, to) + "` (internal: " + e + ")");
        }
    }

    private void statement() {
        Token first = toks.get(pos);
        if (first.kind() == Kind.NAME) {
            switch (first.text()) {
                case "pass" -> {
                    return;
                }
                case "del", "assert", "raise", "global", "nonlocal", "return", "yield", "break", "continue" ->
                        throw new ParseError("'" + first.text() + "' statement not evaluated");
                default -> { }
            }
        }
        // find top-level '=' (assignment) and augmented assignment
        List<Integer> eqs = new ArrayList<>();
        int d = 0;
        for (int i = pos; i < end; i++) {
            Token t = toks.get(i);
            if (d == 0 && t.kind() == Kind.NAME && t.text().equals("lambda")) break; // its defaults are not assignments
            if (t.kind() != Kind.OP) continue;
            switch (t.text()) {
                case "(", "[", "{" -> d++;
                case ")", "]", "}" -> d--;
                case "=" -> {
                    if (d == 0) eqs.add(i);
                }
                default -> { }
            }
        }
        if (eqs.isEmpty()) {
            if (end - pos > 1 && toks.get(pos).kind() == Kind.NAME && toks.get(pos + 1).kind() == Kind.OP
                    && toks.get(pos + 1).text().length() >= 2 && toks.get(pos + 1).text().endsWith("=")
                    && !toks.get(pos + 1).text().equals("==") && !toks.get(pos + 1).text().equals("<=")
                    && !toks.get(pos + 1).text().equals(">=") && !toks.get(pos + 1).text().equals("!=")
                    && !toks.get(pos + 1).text().equals(":=")) {
                augmented();
                return;
            }
            if (end - pos == 1 && first.kind() == Kind.STRING) return; // a docstring
            expression();
            expectEnd();
            throw new ParseError("expression statement not evaluated");
        }
        int valueStart = eqs.getLast() + 1;
        pos = valueStart;
        PyValue value = testList();
        expectEnd();
        int targetStart = stmtStart;
        for (int eq : eqs) {
            assignTo(targetStart, eq, value);
            targetStart = eq + 1;
        }
    }

    private void assignTo(int from, int to, PyValue value) {
        if (to - from == 1 && toks.get(from).kind() == Kind.NAME && !KEYWORDS.contains(toks.get(from).text())) {
            env.put(toks.get(from).text(), value);
            return;
        }
        // annotated assignment: name ':' annotation
        if (to - from >= 3 && toks.get(from).kind() == Kind.NAME && toks.get(from + 1).is(":")) {
            env.put(toks.get(from).text(), value);
            return;
        }
        warn("line " + stmtLine + ": assignment to `" + text(from, to) + "` not followed");
    }

    private void augmented() {
        Token name = toks.get(pos);
        String op = toks.get(pos + 1).text();
        pos += 2;
        int start = toks.get(pos - 2).start();
        PyValue rhs = testList();
        expectEnd();
        PyValue old = env.get(name.text());
        PyValue v = old == null ? new Unknown(name.text(), "undefined")
                : binary(op.substring(0, op.length() - 1), old, rhs, start);
        env.put(name.text(), v);
    }

    private void expectEnd() {
        if (pos < end) throw new ParseError("unexpected '" + PyLexer.shorten(toks.get(pos).text()) + "'");
    }

    // ----------------------------------------------------------------------------------------------------------------
    // expressions

    private Token peek() {
        return pos < end ? toks.get(pos) : null;
    }

    private boolean at(String op) {
        Token t = peek();
        return t != null && t.is(op);
    }

    private boolean atName(String kw) {
        Token t = peek();
        return t != null && t.kind() == Kind.NAME && t.text().equals(kw);
    }

    private void expect(String op) {
        if (!at(op)) {
            Token t = peek();
            throw new ParseError("expected '" + op + "'" + (t == null ? " at the end" : " before '" + PyLexer.shorten(t.text()) + "'"));
        }
        pos++;
    }

    private int startOffset() {
        Token t = peek();
        return t != null ? t.start() : toks.get(end - 1).end();
    }

    private int lastEnd() {
        return pos > 0 ? toks.get(pos - 1).end() : 0;
    }

    /** Source text of an expression, shortened without ever copying a long span. */
    private String text(int fromOffset) {
        int to = Math.max(fromOffset, lastEnd());
        int cut = Math.min(to, fromOffset + 120);
        return PyLexer.shorten(src.substring(fromOffset, cut)) + (cut < to ? "…" : "");
    }

    private String text(int fromTok, int toTok) {
        if (fromTok >= toTok) return "";
        int a = toks.get(fromTok).start();
        int b = toks.get(toTok - 1).end();
        int cut = Math.min(b, a + 120);
        return PyLexer.shorten(src.substring(a, cut)) + (cut < b ? "…" : "");
    }

    private Unknown unknown(int startOffset, String why) {
        return new Unknown(text(startOffset), why);
    }

    /** {@code a, b, c} without brackets is a tuple. */
    private PyValue testList() {
        int start = startOffset();
        PyValue first = expression();
        if (!at(",")) return first;
        List<PyValue> items = new ArrayList<>();
        items.add(first);
        while (at(",")) {
            pos++;
            if (peek() == null || at(")") || at("]") || at("}") || at("=")) break;
            items.add(expression());
        }
        return containsStar(items) ? unknown(start, "starred item") : new Tuple(items);
    }

    private PyValue expression() {
        if (++depth > MAX_DEPTH) throw new ParseError("nesting deeper than " + MAX_DEPTH);
        try {
            if (atName("lambda")) {
                int start = startOffset();
                pos++;
                skipUntilTopLevel(":");
                expect(":");
                expression();
                return unknown(start, "lambda");
            }
            int start = startOffset();
            PyValue v = orTest();
            if (atName("if")) {
                pos++;
                orTest();
                if (!atName("else")) throw new ParseError("expected 'else'");
                pos++;
                expression();
                return unknown(start, "conditional expression");
            }
            return v;
        } finally {
            depth--;
        }
    }

    private PyValue orTest() {
        int start = startOffset();
        PyValue v = andTest();
        boolean any = false;
        while (atName("or")) {
            pos++;
            andTest();
            any = true;
        }
        return any ? unknown(start, "boolean expression") : v;
    }

    private PyValue andTest() {
        int start = startOffset();
        PyValue v = notTest();
        boolean any = false;
        while (atName("and")) {
            pos++;
            notTest();
            any = true;
        }
        return any ? unknown(start, "boolean expression") : v;
    }

    private PyValue notTest() {
        if (atName("not")) {
            int start = startOffset();
            pos++;
            if (++depth > MAX_DEPTH) throw new ParseError("nesting deeper than " + MAX_DEPTH);
            try {
                notTest();
            } finally {
                depth--;
            }
            return unknown(start, "boolean expression");
        }
        return comparison();
    }

    private PyValue comparison() {
        int start = startOffset();
        PyValue v = binaryLevel(0);
        boolean any = false;
        while (true) {
            Token t = peek();
            if (t == null) break;
            boolean cmp = t.kind() == Kind.OP && Set.of("<", ">", "==", ">=", "<=", "!=").contains(t.text())
                    || t.kind() == Kind.NAME && (t.text().equals("in") || t.text().equals("is"));
            boolean notIn = atName("not") && pos + 1 < end && toks.get(pos + 1).is("in");
            if (!cmp && !notIn) break;
            pos += notIn ? 2 : 1;
            if (atName("not")) pos++; // 'is not'
            binaryLevel(0);
            any = true;
        }
        return any ? unknown(start, "comparison") : v;
    }

    /** Binary operator levels from loosest to tightest; unary and power are below them. */
    private static final List<Set<String>> LEVELS = List.of(
            Set.of("|"), Set.of("^"), Set.of("&"), Set.of("<<", ">>"), Set.of("+", "-"), Set.of("*", "/", "//", "%", "@"));

    private PyValue binaryLevel(int level) {
        if (level == LEVELS.size()) return factor();
        int start = startOffset();
        PyValue v = binaryLevel(level + 1);
        while (true) {
            Token t = peek();
            if (t == null || t.kind() != Kind.OP || !LEVELS.get(level).contains(t.text())) return v;
            pos++;
            PyValue rhs = binaryLevel(level + 1);
            v = binary(t.text(), v, rhs, start);
        }
    }

    private PyValue factor() {
        Token t = peek();
        if (t != null && t.kind() == Kind.OP && (t.is("-") || t.is("+") || t.is("~"))) {
            int start = startOffset();
            pos++;
            if (++depth > MAX_DEPTH) throw new ParseError("nesting deeper than " + MAX_DEPTH);
            try {
                PyValue v = factor();
                return unary(t.text(), v, start);
            } finally {
                depth--;
            }
        }
        return power();
    }

    private PyValue power() {
        int start = startOffset();
        if (atName("await")) throw new ParseError("'await' not evaluated");
        PyValue v = primary();
        if (at("**")) {
            pos++;
            if (++depth > MAX_DEPTH) throw new ParseError("nesting deeper than " + MAX_DEPTH);
            try {
                PyValue e = factor();
                return binary("**", v, e, start);
            } finally {
                depth--;
            }
        }
        return v;
    }

    private PyValue primary() {
        int start = startOffset();
        PyValue v = atom();
        while (true) {
            if (at(".")) {
                pos++;
                Token n = peek();
                if (n == null || n.kind() != Kind.NAME) throw new ParseError("expected a name after '.'");
                pos++;
                v = v instanceof Name nm ? new Name(nm.dotted() + "." + n.text()) : unknown(start, "attribute of a value");
            } else if (at("(")) {
                pos++;
                v = call(v, start);
            } else if (at("[")) {
                pos++;
                v = subscript(v, start);
            } else {
                return v;
            }
        }
    }

    private PyValue atom() {
        Token t = peek();
        if (t == null) throw new ParseError("expression expected");
        int start = t.start();
        switch (t.kind()) {
            case NAME -> {
                pos++;
                return switch (t.text()) {
                    case "True" -> new Bool(true);
                    case "False" -> new Bool(false);
                    case "None" -> new PyValue.None();
                    default -> {
                        if (KEYWORDS.contains(t.text())) throw new ParseError("unexpected keyword '" + t.text() + "'");
                        PyValue known = env.get(t.text());
                        yield known != null ? known : new Name(t.text());
                    }
                };
            }
            case NUMBER -> {
                pos++;
                return number(t.text(), start);
            }
            case STRING -> {
                StringBuilder sb = new StringBuilder();
                boolean computable = true;
                while (peek() != null && peek().kind() == Kind.STRING) {
                    Token s = toks.get(pos++);
                    if (s.value() == null) computable = false;
                    else if (computable) {
                        if (!spend(s.value().length())) computable = false;
                        else sb.append(s.value());
                    }
                }
                return computable ? new Str(sb.toString()) : unknown(start, "bytes or f-string");
            }
            case OP -> {
                switch (t.text()) {
                    case "(" -> {
                        pos++;
                        return parenthesised(start);
                    }
                    case "[" -> {
                        pos++;
                        List<PyValue> items = new ArrayList<>();
                        boolean comprehension = sequence("]", items);
                        if (comprehension) return unknown(start, "list comprehension");
                        return containsStar(items) ? unknown(start, "starred item") : new PyList(items);
                    }
                    case "{" -> {
                        pos++;
                        return braces(start);
                    }
                    case "..." -> {
                        pos++;
                        return new Unknown("...", "Ellipsis");
                    }
                    case "*" -> {
                        // starred item inside a display: parse it, mark it
                        pos++;
                        expression();
                        return unknown(start, "starred item");
                    }
                    default -> throw new ParseError("unexpected '" + t.text() + "'");
                }
            }
        }
        throw new ParseError("unexpected token");
    }

    private PyValue parenthesised(int start) {
        if (at(")")) {
            pos++;
            return new Tuple(List.of());
        }
        if (atName("yield")) throw new ParseError("'yield' not evaluated");
        PyValue first = expression();
        if (atName("for")) {
            skipToClose(")");
            return unknown(start, "generator expression");
        }
        if (at(")")) {
            pos++;
            return first;
        }
        List<PyValue> items = new ArrayList<>();
        items.add(first);
        while (at(",")) {
            pos++;
            if (at(")")) break;
            items.add(expression());
        }
        expect(")");
        return containsStar(items) ? unknown(start, "starred item") : new Tuple(items);
    }

    /** Elements up to {@code close}; returns true when it was a comprehension (then skipped). */
    private boolean sequence(String close, List<PyValue> items) {
        if (at(close)) {
            pos++;
            return false;
        }
        items.add(expression());
        if (atName("for")) {
            skipToClose(close);
            return true;
        }
        while (at(",")) {
            pos++;
            if (at(close)) break;
            items.add(expression());
        }
        expect(close);
        return false;
    }

    private PyValue braces(int start) {
        if (at("}")) {
            pos++;
            return new Dict(List.of());
        }
        if (at("**")) {
            skipToClose("}");
            return unknown(start, "dict unpacking");
        }
        PyValue first = expression();
        if (at(":")) {
            pos++;
            List<Entry> entries = new ArrayList<>();
            PyValue v = expression();
            if (atName("for")) {
                skipToClose("}");
                return unknown(start, "dict comprehension");
            }
            entries.add(new Entry(first, v));
            boolean unpack = false;
            while (at(",")) {
                pos++;
                if (at("}")) break;
                if (at("**")) {
                    pos++;
                    expression();
                    unpack = true;
                    continue;
                }
                PyValue k = expression();
                expect(":");
                entries.add(new Entry(k, expression()));
            }
            expect("}");
            return unpack ? unknown(start, "dict unpacking") : new Dict(entries);
        }
        List<PyValue> items = new ArrayList<>();
        items.add(first);
        if (atName("for")) {
            skipToClose("}");
            return unknown(start, "set comprehension");
        }
        while (at(",")) {
            pos++;
            if (at("}")) break;
            items.add(expression());
        }
        expect("}");
        return unknown(start, "set");
    }

    /** Skips to just past the bracket that closes the current one (tokens are bracket-balanced per line). */
    private void skipToClose(String close) {
        int d = 0;
        while (pos < end) {
            Token t = toks.get(pos++);
            if (t.kind() != Kind.OP) continue;
            switch (t.text()) {
                case "(", "[", "{" -> d++;
                case ")", "]", "}" -> {
                    if (d == 0) {
                        if (!t.text().equals(close)) throw new ParseError("mismatched '" + t.text() + "'");
                        return;
                    }
                    d--;
                }
                default -> { }
            }
        }
        throw new ParseError("expected '" + close + "'");
    }

    /** Skips to the next top-level occurrence of {@code op} (a lambda's parameter list). */
    private void skipUntilTopLevel(String op) {
        int d = 0;
        while (pos < end) {
            Token t = toks.get(pos);
            if (d == 0 && t.is(op)) return;
            if (t.kind() == Kind.OP) {
                switch (t.text()) {
                    case "(", "[", "{" -> d++;
                    case ")", "]", "}" -> {
                        if (d == 0) return;
                        d--;
                    }
                    default -> { }
                }
            }
            pos++;
        }
    }

    private PyValue call(PyValue callee, int start) {
        List<PyValue> args = new ArrayList<>();
        List<Entry> kwargs = new ArrayList<>();
        boolean opaque = false;
        while (!at(")")) {
            if (at("*") || at("**")) {
                pos++;
                expression();
                opaque = true;
            } else if (peek() != null && peek().kind() == Kind.NAME && pos + 1 < end && toks.get(pos + 1).is("=")) {
                String key = toks.get(pos).text();
                pos += 2;
                kwargs.add(new Entry(new Str(key), expression()));
            } else {
                args.add(expression());
                if (atName("for")) {
                    skipToClose(")");
                    return unknown(start, "generator argument");
                }
            }
            if (!at(",")) break;
            pos++;
        }
        expect(")");
        if (opaque) return unknown(start, "call with * or ** arguments");
        return evalCall(callee, args, kwargs, start);
    }

    private PyValue subscript(PyValue target, int start) {
        boolean slice = false;
        List<PyValue> idx = new ArrayList<>();
        while (!at("]")) {
            if (at(":")) {
                pos++;
                slice = true;
                continue;
            }
            idx.add(expression());
            if (at(",")) {
                pos++;
                slice = true; // a tuple index: not computed
            } else if (!at("]") && !at(":")) {
                break;
            }
        }
        expect("]");
        if (slice || idx.size() != 1) return unknown(start, "slice");
        return index(target, idx.getFirst(), start);
    }

    // ----------------------------------------------------------------------------------------------------------------
    // evaluation

    private boolean spend(long units) {
        if (units > budget) return false;
        budget -= units;
        return true;
    }

    private static boolean containsStar(List<PyValue> items) {
        for (PyValue v : items) if (v instanceof Unknown u && u.reason().equals("starred item")) return true;
        return false;
    }

    private PyValue number(String text, int start) {
        String t = text.replace("_", "");
        String lower = t.toLowerCase(java.util.Locale.ROOT);
        try {
            if (lower.endsWith("j")) return new Unknown(text, "complex number");
            if (lower.startsWith("0x")) return new Int(new BigInteger(t.substring(2), 16));
            if (lower.startsWith("0o")) return new Int(new BigInteger(t.substring(2), 8));
            if (lower.startsWith("0b")) return new Int(new BigInteger(t.substring(2), 2));
            if (lower.contains(".") || lower.contains("e")) return new PyValue.Float(Double.parseDouble(t));
            if (t.length() > 4300) return new Unknown(PyLexer.shorten(text), "integer literal too long");
            return new Int(new BigInteger(t));
        } catch (NumberFormatException e) {
            return new Unknown(PyLexer.shorten(text), "malformed number");
        }
    }

    private PyValue unary(String op, PyValue v, int start) {
        BigInteger i = asInt(v);
        if (i != null) {
            return switch (op) {
                case "-" -> new Int(i.negate());
                case "+" -> new Int(i);
                default -> new Int(i.not());
            };
        }
        if (v instanceof PyValue.Float f && !op.equals("~")) return new PyValue.Float(op.equals("-") ? -f.value() : f.value());
        return unknown(start, "unary " + op);
    }

    private static BigInteger asInt(PyValue v) {
        if (v instanceof Int i) return i.value();
        if (v instanceof Bool b) return b.value() ? BigInteger.ONE : BigInteger.ZERO;
        return null;
    }

    private static final BigInteger MAX_EXACT_DOUBLE = BigInteger.ONE.shiftLeft(53);

    private static Double asDouble(PyValue v) {
        if (v instanceof PyValue.Float f) return f.value();
        BigInteger i = asInt(v);
        if (i != null && i.abs().compareTo(MAX_EXACT_DOUBLE) <= 0) return i.doubleValue();
        return null;
    }

    private PyValue binary(String op, PyValue a, PyValue b, int start) {
        BigInteger x = asInt(a);
        BigInteger y = asInt(b);
        if (x != null && y != null) {
            PyValue r = intOp(op, x, y);
            return r != null ? r : unknown(start, "integer " + op);
        }
        if ((a instanceof PyValue.Float || b instanceof PyValue.Float) && (asDouble(a) != null && asDouble(b) != null)) {
            double p = asDouble(a);
            double q = asDouble(b);
            switch (op) {
                case "+" -> { return new PyValue.Float(p + q); }
                case "-" -> { return new PyValue.Float(p - q); }
                case "*" -> { return new PyValue.Float(p * q); }
                case "/" -> {
                    if (q == 0) return unknown(start, "division by zero");
                    return new PyValue.Float(p / q);
                }
                case "**" -> {
                    double r = Math.pow(p, q);
                    if (Double.isNaN(r) || Double.isInfinite(r) && !Double.isInfinite(p)) return unknown(start, "power");
                    return new PyValue.Float(r);
                }
                default -> { return unknown(start, "float " + op); }
            }
        }
        if (op.equals("+")) {
            if (a instanceof Str s && b instanceof Str t) {
                return spend((long) s.value().length() + t.value().length()) ? new Str(s.value() + t.value())
                        : unknown(start, "string too long");
            }
            if (a instanceof PyList s && b instanceof PyList t) {
                if (!spend((long) s.items().size() + t.items().size())) return unknown(start, "list too long");
                List<PyValue> l = new ArrayList<>(s.items());
                l.addAll(t.items());
                return new PyList(l);
            }
            if (a instanceof Tuple s && b instanceof Tuple t) {
                if (!spend((long) s.items().size() + t.items().size())) return unknown(start, "tuple too long");
                List<PyValue> l = new ArrayList<>(s.items());
                l.addAll(t.items());
                return new Tuple(l);
            }
        }
        if (op.equals("*")) {
            PyValue seq = y != null ? a : x != null ? b : null;
            BigInteger n = y != null ? y : x;
            if (seq != null && n != null) return repeat(seq, n, start);
        }
        return unknown(start, op + " on these operands");
    }

    private PyValue repeat(PyValue seq, BigInteger times, int start) {
        long n = times.signum() <= 0 ? 0 : times.bitLength() > 31 ? Long.MAX_VALUE : times.longValue();
        switch (seq) {
            case Str s -> {
                long size = n == 0 ? 0 : s.value().length() * n;
                if (n != 0 && (size / n != s.value().length() || !spend(size))) return unknown(start, "string too long");
                return new Str(s.value().repeat((int) n == n ? (int) n : 0));
            }
            case PyList l -> {
                List<PyValue> out = repeatItems(l.items(), n);
                return out == null ? unknown(start, "list too long") : new PyList(out);
            }
            case Tuple t -> {
                List<PyValue> out = repeatItems(t.items(), n);
                return out == null ? unknown(start, "tuple too long") : new Tuple(out);
            }
            default -> {
                return unknown(start, "repetition");
            }
        }
    }

    private List<PyValue> repeatItems(List<PyValue> items, long n) {
        if (n == 0 || items.isEmpty()) return new ArrayList<>();
        long size = items.size() * n;
        if (size / n != items.size() || !spend(size)) return null;
        List<PyValue> out = new ArrayList<>((int) size);
        for (long k = 0; k < n; k++) out.addAll(items);
        return out;
    }

    private static PyValue intOp(String op, BigInteger x, BigInteger y) {
        switch (op) {
            case "+" -> { return bounded(x.add(y)); }
            case "-" -> { return bounded(x.subtract(y)); }
            case "*" -> {
                if ((long) x.bitLength() + y.bitLength() > MAX_INT_BITS) return null;
                return new Int(x.multiply(y));
            }
            case "//", "%" -> {
                if (y.signum() == 0) return null;
                BigInteger[] qr = x.divideAndRemainder(y);
                BigInteger q = qr[0];
                BigInteger r = qr[1];
                if (r.signum() != 0 && r.signum() != y.signum()) { // Python floors
                    q = q.subtract(BigInteger.ONE);
                    r = r.add(y);
                }
                return new Int(op.equals("//") ? q : r);
            }
            case "/" -> {
                if (y.signum() == 0) return null;
                if (x.abs().compareTo(MAX_EXACT_DOUBLE) > 0 || y.abs().compareTo(MAX_EXACT_DOUBLE) > 0) return null;
                return new PyValue.Float(x.doubleValue() / y.doubleValue());
            }
            case "**" -> {
                if (y.signum() < 0) {
                    if (x.signum() == 0 || x.abs().compareTo(MAX_EXACT_DOUBLE) > 0 || y.bitLength() > 31) return null;
                    return new PyValue.Float(Math.pow(x.doubleValue(), y.doubleValue()));
                }
                if (x.abs().compareTo(BigInteger.ONE) <= 0) {
                    if (x.signum() == 0) return new Int(y.signum() == 0 ? BigInteger.ONE : BigInteger.ZERO);
                    if (x.equals(BigInteger.ONE)) return new Int(BigInteger.ONE);
                    return new Int(y.testBit(0) ? BigInteger.ONE.negate() : BigInteger.ONE);
                }
                if (y.bitLength() > 31 || (long) x.bitLength() * y.intValue() > MAX_INT_BITS) return null;
                return new Int(x.pow(y.intValue()));
            }
            default -> {
                return null;
            }
        }
    }

    private static PyValue bounded(BigInteger v) {
        return v.bitLength() > MAX_INT_BITS ? null : new Int(v);
    }

    private PyValue index(PyValue target, PyValue i, int start) {
        BigInteger k = asInt(i);
        List<PyValue> items = target instanceof PyList l ? l.items() : target instanceof Tuple t ? t.items() : null;
        if (items != null && k != null) {
            BigInteger size = BigInteger.valueOf(items.size());
            BigInteger j = k.signum() < 0 ? k.add(size) : k;
            if (j.signum() >= 0 && j.compareTo(size) < 0) return items.get(j.intValue());
            return unknown(start, "index out of range");
        }
        if (target instanceof Dict d) {
            for (Entry e : d.entries()) if (e.key().equals(i)) return e.value();
            return unknown(start, "missing key");
        }
        return unknown(start, "subscript");
    }

    private PyValue evalCall(PyValue callee, List<PyValue> args, List<Entry> kwargs, int start) {
        if (callee instanceof Name n) {
            switch (n.dotted()) {
                case "dict" -> {
                    List<Entry> entries = new ArrayList<>();
                    if (args.size() > 1) return unknown(start, "dict() with several positional arguments");
                    if (args.size() == 1) {
                        if (args.getFirst() instanceof Dict d) entries.addAll(d.entries());
                        else return unknown(start, "dict() of a non-dict");
                    }
                    entries.addAll(kwargs);
                    return new Dict(entries);
                }
                case "int" -> {
                    if (args.size() == 1 && kwargs.isEmpty()) {
                        PyValue a = args.getFirst();
                        BigInteger i = asInt(a);
                        if (i != null) return new Int(i);
                        if (a instanceof PyValue.Float f && Double.isFinite(f.value()) && Math.abs(f.value()) < 1e18) {
                            return new Int(BigInteger.valueOf((long) f.value()));
                        }
                    }
                }
                case "float" -> {
                    if (args.size() == 1 && kwargs.isEmpty() && asDouble(args.getFirst()) != null) {
                        return new PyValue.Float(asDouble(args.getFirst()));
                    }
                }
                case "str" -> {
                    if (args.size() == 1 && kwargs.isEmpty()) {
                        if (args.getFirst() instanceof Str s) return s;
                        if (args.getFirst() instanceof Int i && i.value().bitLength() < 4096) return new Str(i.value().toString());
                    }
                }
                case "list", "tuple" -> {
                    if (args.size() == 1 && kwargs.isEmpty()) {
                        List<PyValue> items = args.getFirst() instanceof PyList l ? l.items()
                                : args.getFirst() instanceof Tuple t ? t.items() : null;
                        if (items != null) return n.dotted().equals("list") ? new PyList(items) : new Tuple(items);
                    }
                }
                default -> { }
            }
        }
        return new Call(callee, args, kwargs);
    }
}
