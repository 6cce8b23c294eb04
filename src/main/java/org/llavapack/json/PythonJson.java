package org.llavapack.json;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * JSON text exactly as Python's {@code json.dumps(obj, indent=N, sort_keys=…)} writes it with default
 * {@code ensure_ascii=True}: the layout HF tools use for config.json, adapter_config.json and index files. Matching it
 * keeps our outputs byte-identical to theirs and diff-friendly.
 */
public final class PythonJson {
    private PythonJson() {}

    public static String dumps(JsonNode node, int indent, boolean sortKeys) {
        StringBuilder sb = new StringBuilder();
        write(sb, node, indent, sortKeys, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, JsonNode node, int indent, boolean sortKeys, int level) {
        switch (node.getNodeType()) {
            case OBJECT -> {
                if (node.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                List<Map.Entry<String, JsonNode>> fields = new ArrayList<>(node.properties());
                if (sortKeys) fields.sort(Map.Entry.comparingByKey(PythonJson::compareCodePoints));
                sb.append('{');
                for (int i = 0; i < fields.size(); i++) {
                    if (i > 0) sb.append(',');
                    newline(sb, indent, level + 1);
                    quote(sb, fields.get(i).getKey());
                    sb.append(": ");
                    write(sb, fields.get(i).getValue(), indent, sortKeys, level + 1);
                }
                newline(sb, indent, level);
                sb.append('}');
            }
            case ARRAY -> {
                if (node.isEmpty()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                for (int i = 0; i < node.size(); i++) {
                    if (i > 0) sb.append(',');
                    newline(sb, indent, level + 1);
                    write(sb, node.get(i), indent, sortKeys, level + 1);
                }
                newline(sb, indent, level);
                sb.append(']');
            }
            case STRING -> quote(sb, node.textValue());
            case BOOLEAN -> sb.append(node.booleanValue() ? "true" : "false");
            case NULL, MISSING -> sb.append("null");
            case NUMBER -> {
                if (node.isIntegralNumber()) sb.append(node.bigIntegerValue());
                else sb.append(floatRepr(node.doubleValue()));
            }
            default -> throw new IllegalArgumentException("cannot write " + node.getNodeType());
        }
    }

    private static void newline(StringBuilder sb, int indent, int level) {
        sb.append('\n');
        sb.append(" ".repeat(indent * level));
    }

    /** Python sorts str keys by code point; Java's String order is by UTF-16 unit, which differs above U+FFFF. */
    private static int compareCodePoints(String a, String b) {
        return java.util.Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7E) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /**
     * Double.toString is shortest-round-trip except in a few corner cases where it keeps a second digit
     * (4.9E-324), so shorten further while the value still parses back identically.
     */
    private static BigDecimal shortestDigits(double x) {
        BigDecimal full = new BigDecimal(Double.toString(x)).stripTrailingZeros();
        for (int digits = 1; digits < full.precision(); digits++) {
            BigDecimal candidate = full.round(new java.math.MathContext(digits, java.math.RoundingMode.HALF_EVEN));
            if (candidate.doubleValue() == x) return candidate.stripTrailingZeros();
        }
        return full;
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, scientific below 1e-4 and from 1e16 on. */
    public static String floatRepr(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal shortest = shortestDigits(Math.abs(d));
        String digits = shortest.unscaledValue().toString();
        int exponent = digits.length() - 1 - shortest.scale(); // value = d.ddd × 10^exponent
        StringBuilder out = new StringBuilder(d < 0 ? "-" : "");
        if (exponent < -4 || exponent >= 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) out.append('.').append(digits, 1, digits.length());
            out.append('e').append(exponent < 0 ? '-' : '+');
            int abs = Math.abs(exponent);
            if (abs < 10) out.append('0');
            out.append(abs);
        } else if (exponent < 0) {
            out.append("0.").append("0".repeat(-exponent - 1)).append(digits);
        } else if (digits.length() <= exponent + 1) {
            out.append(digits).append("0".repeat(exponent + 1 - digits.length())).append(".0");
        } else {
            out.append(digits, 0, exponent + 1).append('.').append(digits, exponent + 1, digits.length());
        }
        return out.toString();
    }
}
