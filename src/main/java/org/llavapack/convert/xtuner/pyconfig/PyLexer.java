package org.llavapack.convert.xtuner.pyconfig;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Splits Python source into logical lines of tokens (names, numbers, strings with every prefix and quote form,
 * operators), following the language's rules for comments, backslash continuation and implicit continuation inside
 * brackets. A lexical error spoils only its own logical line: the lexer records it there and resumes at the next
 * physical line. Linear in the input; no recursion.
 */
final class PyLexer {

    enum Kind { NAME, NUMBER, STRING, OP }

    /**
     * One token. {@code start}/{@code end} are offsets into the source. For strings {@code value} is the decoded
     * text (null for bytes and f-strings, which the reader does not compute).
     */
    record Token(Kind kind, String text, String value, int start, int end, int line) {
        boolean is(String op) {
            return (kind == Kind.OP || kind == Kind.NAME) && text.equals(op);
        }
    }

    /** A logical line: its tokens, where it starts, its indentation (0 = top level), and its lexical error, if any. */
    record Line(List<Token> tokens, int line, int indent, String error) {}

    private static final String[] OPS = {
        "**=", "//=", ">>=", "<<=", "...", "->", ":=", "**", "//", "==", "!=", "<=", ">=", "<<", ">>",
        "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=",
        "(", ")", "[", "]", "{", "}", ",", ":", ".", ";", "@", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~"
    };
    private static final Pattern NUMBER = Pattern.compile(
            "0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
                    + "|(?:(?:[0-9](?:_?[0-9])*)?\\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?[jJ]?");

    /** Longest number literal read (Python itself refuses int literals over 4300 digits). */
    static final int MAX_NUMBER_CHARS = 4400;

    private final String src;
    private int pos;
    private int line = 1;
    private final List<Line> lines = new ArrayList<>();

    // the logical line being built
    private List<Token> current = new ArrayList<>();
    private int currentLine = 1;
    private int currentIndent;
    private String currentError;
    private int depth;
    private int lineStart; // offset where the current physical line starts

    private PyLexer(String src) {
        this.src = src;
    }

    static List<Line> lex(String src) {
        PyLexer l = new PyLexer(src);
        l.run();
        return l.lines;
    }

    private void run() {
        while (pos < src.length()) {
            char c = src.charAt(pos);
            if (c == '\n' || c == '\r') {
                newline();
                if (depth == 0) finishLine();
                continue;
            }
            if (c == ' ' || c == '\t' || c == '\f') {
                pos++;
                continue;
            }
            if (c == '#') {
                while (pos < src.length() && src.charAt(pos) != '\n' && src.charAt(pos) != '\r') pos++;
                continue;
            }
            if (c == '\\') {
                int next = pos + 1;
                if (next < src.length() && (src.charAt(next) == '\n' || src.charAt(next) == '\r')) {
                    pos = next;
                    newline(); // explicit continuation: the logical line goes on
                    continue;
                }
                error("stray backslash");
                continue;
            }
            if (current.isEmpty() && currentError == null) {
                currentLine = line;
                currentIndent = pos - lineStart;
            }
            int start = pos;
            if (isIdentStart(src.codePointAt(pos))) {
                int end = scanIdentifier(pos);
                String word = src.substring(pos, end);
                if (end < src.length() && (src.charAt(end) == '\'' || src.charAt(end) == '"') && isStringPrefix(word)) {
                    pos = end;
                    string(start, word.toLowerCase(java.util.Locale.ROOT));
                } else {
                    pos = end;
                    add(Kind.NAME, word, null, start);
                }
            } else if (c == '\'' || c == '"') {
                string(start, "");
            } else if (Character.isDigit(c) || (c == '.' && pos + 1 < src.length() && Character.isDigit(src.charAt(pos + 1)))) {
                number(start);
            } else {
                operator(start);
            }
        }
        finishLine();
    }

    private void newline() {
        if (src.charAt(pos) == '\r' && pos + 1 < src.length() && src.charAt(pos + 1) == '\n') pos++;
        pos++;
        line++;
        lineStart = pos;
    }

    private void finishLine() {
        if (!current.isEmpty() || currentError != null) {
            lines.add(new Line(List.copyOf(current), currentLine, currentIndent, currentError));
        }
        current = new ArrayList<>();
        currentError = null;
        depth = 0;
    }

    /** Records an error for the logical line and skips to the end of the physical line. */
    private void error(String what) {
        if (currentError == null) currentError = "line " + line + ": " + what;
        while (pos < src.length() && src.charAt(pos) != '\n' && src.charAt(pos) != '\r') pos++;
        depth = 0; // resynchronise: the next physical line starts a new logical line
    }

    private void add(Kind kind, String text, String value, int start) {
        current.add(new Token(kind, text, value, start, pos, line));
    }

    private static boolean isIdentStart(int cp) {
        return cp == '_' || Character.isUnicodeIdentifierStart(cp);
    }

    private int scanIdentifier(int from) {
        int p = from;
        while (p < src.length()) {
            int cp = src.codePointAt(p);
            if (cp == '_' || Character.isUnicodeIdentifierPart(cp) && !Character.isIdentifierIgnorable(cp)) {
                p += Character.charCount(cp);
            } else {
                break;
            }
        }
        return p;
    }

    private static boolean isStringPrefix(String w) {
        String p = w.toLowerCase(java.util.Locale.ROOT);
        return switch (p) {
            case "r", "u", "b", "f", "br", "rb", "fr", "rf" -> true;
            default -> false;
        };
    }

    private void number(int start) {
        int p = pos;
        boolean hex = src.startsWith("0x", start) || src.startsWith("0X", start);
        while (p < src.length()) {
            char c = src.charAt(p);
            boolean exponentSign = !hex && (c == '+' || c == '-') && p > start
                    && (src.charAt(p - 1) == 'e' || src.charAt(p - 1) == 'E');
            if (Character.isLetterOrDigit(c) || c == '_' || c == '.' || exponentSign) p++;
            else break;
        }
        String text = src.substring(start, p);
        pos = p;
        // bounded before the regex: Java's regex engine recurses per repetition and long inputs would overflow the stack
        if (text.length() > MAX_NUMBER_CHARS) {
            error("number literal of " + text.length() + " characters");
            return;
        }
        if (!NUMBER.matcher(text).matches()) {
            error("invalid number '" + shorten(text) + "'");
            return;
        }
        add(Kind.NUMBER, text, null, start);
    }

    private void operator(int start) {
        for (String op : OPS) {
            if (src.startsWith(op, pos)) {
                pos += op.length();
                switch (op) {
                    case "(", "[", "{" -> depth++;
                    case ")", "]", "}" -> {
                        if (depth == 0) {
                            pos = start;
                            error("unmatched '" + op + "'");
                            return;
                        }
                        depth--;
                    }
                    default -> { }
                }
                add(Kind.OP, op, null, start);
                return;
            }
        }
        int cp = src.codePointAt(pos);
        error("unexpected character " + (cp >= 0x20 && cp < 0x7F ? "'" + (char) cp + "'" : String.format("U+%04X", cp)));
    }

    /** A string literal starting at the quote at {@code pos}, with the (lower-case) prefix already consumed. */
    private void string(int start, String prefix) {
        char q = src.charAt(pos);
        boolean triple = src.startsWith(String.valueOf(q).repeat(3), pos);
        int quoteLen = triple ? 3 : 1;
        boolean raw = prefix.contains("r");
        boolean bytes = prefix.contains("b");
        boolean fstring = prefix.contains("f");
        int startLine = line;
        pos += quoteLen;
        StringBuilder sb = new StringBuilder();
        String bad = null;
        while (true) {
            if (pos >= src.length()) {
                line = startLine;
                error("unterminated string");
                pos = src.length();
                return;
            }
            char c = src.charAt(pos);
            if (c == q && (!triple || src.startsWith(String.valueOf(q).repeat(3), pos))) {
                pos += quoteLen;
                break;
            }
            if (c == '\n' || c == '\r') {
                if (!triple) {
                    error("unterminated string");
                    return;
                }
                if (c == '\r' && pos + 1 < src.length() && src.charAt(pos + 1) == '\n') pos++;
                sb.append('\n');
                pos++;
                line++;
                lineStart = pos;
                continue;
            }
            if (c == '\\') {
                if (pos + 1 >= src.length()) {
                    pos++;
                    continue; // reported as unterminated on the next turn
                }
                char n = src.charAt(pos + 1);
                if (raw) {
                    sb.append(c);
                    if (n == '\n' || n == '\r') {
                        pos++;
                        continue; // the newline is handled above (kept in triple strings)
                    }
                    sb.append(n);
                    pos += 2;
                    continue;
                }
                String err = escape(sb, bytes);
                if (err != null && bad == null) bad = err;
                continue;
            }
            sb.append(c);
            pos++;
        }
        if (bad != null) {
            current.add(new Token(Kind.STRING, src.substring(start, pos), null, start, pos, startLine));
            if (currentError == null) currentError = "line " + startLine + ": " + bad;
            return;
        }
        String value = bytes || fstring ? null : sb.toString();
        String kindTag = bytes ? "b" : fstring ? "f" : "";
        current.add(new Token(Kind.STRING, kindTag, value, start, pos, startLine));
    }

    /** Decodes one escape at {@code pos} (a backslash) into {@code sb}; returns an error text or null. */
    private String escape(StringBuilder sb, boolean bytes) {
        char n = src.charAt(pos + 1);
        pos += 2;
        switch (n) {
            case '\n' -> {
                line++;
                lineStart = pos;
            }
            case '\r' -> {
                if (pos < src.length() && src.charAt(pos) == '\n') pos++;
                line++;
                lineStart = pos;
            }
            case '\\' -> sb.append('\\');
            case '\'' -> sb.append('\'');
            case '"' -> sb.append('"');
            case 'a' -> sb.append('\u0007');
            case 'b' -> sb.append('\b');
            case 'f' -> sb.append('\f');
            case 'n' -> sb.append('\n');
            case 'r' -> sb.append('\r');
            case 't' -> sb.append('\t');
            case 'v' -> sb.append('\u000B');
            case '0', '1', '2', '3', '4', '5', '6', '7' -> {
                int v = n - '0';
                for (int k = 0; k < 2 && pos < src.length() && src.charAt(pos) >= '0' && src.charAt(pos) <= '7'; k++) {
                    v = v * 8 + (src.charAt(pos++) - '0');
                }
                sb.append((char) v);
            }
            case 'x' -> {
                return hex(sb, 2, "\\x");
            }
            case 'u' -> {
                if (bytes) {
                    sb.append("\\u");
                    return null;
                }
                return hex(sb, 4, "\\u");
            }
            case 'U' -> {
                if (bytes) {
                    sb.append("\\U");
                    return null;
                }
                return hex(sb, 8, "\\U");
            }
            case 'N' -> {
                if (bytes) {
                    sb.append("\\N");
                    return null;
                }
                int close = pos < src.length() && src.charAt(pos) == '{' ? src.indexOf('}', pos) : -1;
                if (close < 0 || close - pos > 100) return "malformed \\N{…} escape";
                String name = src.substring(pos + 1, close);
                pos = close + 1;
                try {
                    sb.appendCodePoint(Character.codePointOf(name));
                } catch (IllegalArgumentException e) {
                    return "unknown character name \\N{" + shorten(name) + "}";
                }
            }
            default -> sb.append('\\').append(n); // Python keeps unknown escapes as they are
        }
        return null;
    }

    private String hex(StringBuilder sb, int digits, String what) {
        if (pos + digits > src.length()) return "truncated " + what + " escape";
        String h = src.substring(pos, pos + digits);
        for (int i = 0; i < h.length(); i++) {
            if (Character.digit(h.charAt(i), 16) < 0) return "truncated " + what + " escape";
        }
        long v = Long.parseLong(h, 16);
        if (v > Character.MAX_CODE_POINT) return "illegal Unicode character in " + what + " escape";
        pos += digits;
        sb.appendCodePoint((int) v);
        return null;
    }

    static String shorten(String s) {
        String one = s.replaceAll("\\s+", " ");
        return one.length() <= 60 ? one : one.substring(0, 57) + "…";
    }
}
