package org.llavapack.formats.safetensors;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes such as "5GB" or "500MiB", parsed as huggingface_hub's {@code parse_size_to_int} does: decimal units
 * (KB = 10^3 … TB) and binary units (KiB = 2^10 … TiB); a bare number is bytes.
 */
public final class ByteSize {
    private ByteSize() {}

    private static final Pattern SIZE = Pattern.compile("^\\s*(\\d+(?:\\.\\d+)?)\\s*([KMGT]I?B|B)?\\s*$");

    public static long parse(String text) {
        Matcher m = SIZE.matcher(text.toUpperCase(Locale.ROOT));
        if (!m.matches()) throw new IllegalArgumentException("not a size: '" + text + "' (examples: 5GB, 500MB, 2GiB)");
        double number = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2);
        long multiplier = switch (unit) {
            case "B" -> 1L;
            case "KB" -> 1_000L;
            case "MB" -> 1_000_000L;
            case "GB" -> 1_000_000_000L;
            case "TB" -> 1_000_000_000_000L;
            case "KIB" -> 1L << 10;
            case "MIB" -> 1L << 20;
            case "GIB" -> 1L << 30;
            case "TIB" -> 1L << 40;
            default -> throw new IllegalArgumentException("unknown unit " + unit);
        };
        double bytes = number * multiplier;
        if (bytes < 1 || bytes > Long.MAX_VALUE / 2) throw new IllegalArgumentException("size out of range: '" + text + "'");
        return (long) bytes;
    }

    /** Human-readable decimal size for messages and tables. */
    public static String format(long bytes) {
        if (bytes < 1_000) return bytes + " B";
        String[] units = {"kB", "MB", "GB", "TB"};
        double v = bytes;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
