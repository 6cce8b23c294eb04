package org.llavapack.formats.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.llavapack.BadInputException;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/**
 * The JSON header of a safetensors file: parsing with every check the reference implementation makes (and a few it
 * leaves to callers), and encoding byte-identical to {@code safetensors.serialize}.
 */
public record SafetensorsHeader(Map<String, String> metadata, List<Entry> entries) {

    /** The reference implementation's limit on the header length. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** A tensor and its byte range relative to the start of the data area. */
    public record Entry(TensorInfo info, long begin, long end) {}

    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxStringLength((int) MAX_HEADER_BYTES)
                    .maxNestingDepth(8)
                    .build())
            .build();

    /**
     * Parses and validates {@code json} for a file whose data area holds {@code dataBytes} bytes. Entries come back
     * sorted by offset; each violation names the file and, where there is one, the tensor.
     */
    public static SafetensorsHeader parse(byte[] json, long dataBytes, Path file) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(json)).toString();
        } catch (CharacterCodingException e) {
            throw new BadInputException(file, "safetensors header is not valid UTF-8");
        }
        Map<String, String> metadata = new TreeMap<>();
        List<Entry> entries = new ArrayList<>();
        try (JsonParser p = JSON.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new BadInputException(file, "safetensors header is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("__metadata__")) {
                    readMetadata(p, metadata, file);
                } else {
                    entries.add(readEntry(p, name, file));
                }
            }
            if (p.nextToken() != null) throw new BadInputException(file, "safetensors header has content after the JSON object");
        } catch (JsonParseException e) {
            String msg = e.getOriginalMessage();
            if (msg.startsWith("Duplicate field")) {
                throw new BadInputException(file, "duplicate tensor name in safetensors header: " + msg.substring(msg.indexOf('\'')));
            }
            throw new BadInputException(file, "safetensors header is not valid JSON: " + msg);
        } catch (IOException e) {
            throw new BadInputException(file, "safetensors header is not valid JSON: " + e.getMessage());
        }
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : entries) {
            String name = e.info().name();
            if (e.begin() < expected) {
                throw new BadInputException(file, "tensor '" + name + "' overlaps the previous tensor (offset " + e.begin() + " < " + expected + ")");
            }
            if (e.begin() > expected) {
                throw new BadInputException(file, "gap in data before tensor '" + name + "' (offset " + e.begin() + ", expected " + expected + ")");
            }
            expected = e.end();
        }
        if (expected != dataBytes) {
            throw new BadInputException(file, "tensor data ends at offset " + expected + " but the file holds " + dataBytes
                    + " data bytes" + (expected > dataBytes ? " (offsets point past end of file)" : " (trailing bytes)"));
        }
        return new SafetensorsHeader(metadata, List.copyOf(entries));
    }

    private static void readMetadata(JsonParser p, Map<String, String> into, Path file) throws IOException {
        if (p.currentToken() == JsonToken.VALUE_NULL) return;
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new BadInputException(file, "__metadata__ must be a map of strings to strings");
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw new BadInputException(file, "__metadata__ must be a map of strings to strings (key '" + key + "' is not a string)");
            }
            into.put(key, p.getText());
        }
    }

    private static Entry readEntry(JsonParser p, String name, Path file) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new BadInputException(file, "tensor '" + name + "': entry is not a JSON object");
        }
        DType dtype = null;
        long[] shape = null;
        long[] offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (value != JsonToken.VALUE_STRING) throw new BadInputException(file, "tensor '" + name + "': dtype is not a string");
                    String d = p.getText();
                    dtype = DType.fromSafetensorsName(d).orElseThrow(
                            () -> new BadInputException(file, "tensor '" + name + "': unknown dtype '" + d + "'"));
                }
                case "shape" -> shape = readLongs(p, name, "shape", file);
                case "data_offsets" -> offsets = readLongs(p, name, "data_offsets", file);
                default -> p.skipChildren();
            }
        }
        if (dtype == null || shape == null || offsets == null) {
            throw new BadInputException(file, "tensor '" + name + "': entry needs dtype, shape and data_offsets");
        }
        if (offsets.length != 2) throw new BadInputException(file, "tensor '" + name + "': data_offsets must hold two numbers");
        if (offsets[0] > offsets[1]) {
            throw new BadInputException(file, "tensor '" + name + "': data_offsets begin " + offsets[0] + " > end " + offsets[1]);
        }
        TensorInfo info = new TensorInfo(name, dtype, shape);
        long expected;
        try {
            expected = info.byteSize();
        } catch (ArithmeticException e) {
            throw new BadInputException(file, "tensor '" + name + "': shape " + info.shapeString() + " overflows (numel too large)");
        }
        long actual = offsets[1] - offsets[0];
        if (actual != expected) {
            throw new BadInputException(file, "tensor '" + name + "': " + actual + " data bytes for " + dtype + info.shapeString()
                    + " (byte length must be numel × " + dtype.size() + " = " + expected + ")");
        }
        return new Entry(info, offsets[0], offsets[1]);
    }

    private static long[] readLongs(JsonParser p, String name, String field, Path file) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw new BadInputException(file, "tensor '" + name + "': " + field + " is not an array");
        }
        List<Long> values = new ArrayList<>();
        while (p.nextToken() != JsonToken.END_ARRAY) {
            if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw new BadInputException(file, "tensor '" + name + "': " + field + " must hold non-negative integers");
            }
            long v = p.getLongValue();
            if (v < 0) throw new BadInputException(file, "tensor '" + name + "': negative value " + v + " in " + field);
            values.add(v);
            if (values.size() > 64) throw new BadInputException(file, "tensor '" + name + "': " + field + " has too many entries");
        }
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * Lays out {@code infos} as safetensors.serialize does (dtype descending, then name) and returns the ordered
     * entries; names must be unique.
     */
    public static SafetensorsHeader layout(Map<String, String> metadata, List<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparing(TensorInfo::dtype, Comparator.reverseOrder()).thenComparing(TensorInfo::name));
        Set<String> seen = new HashSet<>();
        List<Entry> entries = new ArrayList<>(sorted.size());
        long offset = 0;
        for (TensorInfo t : sorted) {
            if (!seen.add(t.name())) throw new IllegalArgumentException("duplicate tensor name " + t.name());
            long end = offset + t.byteSize();
            entries.add(new Entry(t, offset, end));
            offset = end;
        }
        return new SafetensorsHeader(new TreeMap<>(metadata), List.copyOf(entries));
    }

    /** Total bytes of tensor data. */
    public long dataBytes() {
        return entries.isEmpty() ? 0 : entries.getLast().end();
    }

    /** The header JSON as serde_json writes it (compact, {@code __metadata__} first), space-padded to 8 bytes. */
    public byte[] encode() {
        StringBuilder sb = new StringBuilder(64 + entries.size() * 96);
        sb.append('{');
        boolean first = true;
        if (!metadata.isEmpty()) {
            sb.append("\"__metadata__\":{");
            boolean firstKey = true;
            for (Map.Entry<String, String> m : new TreeMap<>(metadata).entrySet()) {
                if (!firstKey) sb.append(',');
                firstKey = false;
                quote(sb, m.getKey()).append(':');
                quote(sb, m.getValue());
            }
            sb.append('}');
            first = false;
        }
        for (Entry e : entries) {
            if (!first) sb.append(',');
            first = false;
            quote(sb, e.info().name()).append(":{\"dtype\":\"").append(e.info().dtype().safetensorsName()).append("\",\"shape\":[");
            long[] shape = e.info().shape();
            for (int i = 0; i < shape.length; i++) {
                if (i > 0) sb.append(',');
                sb.append(shape[i]);
            }
            sb.append("],\"data_offsets\":[").append(e.begin()).append(',').append(e.end()).append("]}");
        }
        sb.append('}');
        byte[] raw = sb.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (raw.length + 7) / 8 * 8;
        byte[] out = java.util.Arrays.copyOf(raw, padded);
        java.util.Arrays.fill(out, raw.length, padded, (byte) ' ');
        return out;
    }

    /** JSON string quoting exactly as serde_json does it: only quote, backslash and control characters escaped. */
    private static StringBuilder quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"');
    }

    /** Entries by name, in offset order. */
    public Map<String, Entry> byName() {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) m.put(e.info().name(), e);
        return m;
    }
}
