package org.llavapack.formats.gguf;

import java.util.Arrays;
import java.util.List;

/**
 * One typed GGUF metadata value. llama.cpp checks value types exactly (a u64 where it expects u32 is an error or a
 * process abort), so every value carries its wire type; there is no implicit widening. Arrays hold scalars of one type
 * (GGUF allows no arrays of arrays in practice) and are stored primitively so a 280k-entry merge list or a large
 * hostile array costs what its elements cost, not an object per element.
 */
public sealed interface GgufValue {

    GgufValueType type();

    /** The value as Java prints it for inspect (strings quoted, arrays abbreviated). */
    String display(int maxElements);

    // ---- scalars ---------------------------------------------------------------------------------------------

    /** Every integer scalar type; {@code value} holds the exact value (u64 above 2^63 as its signed bit pattern). */
    record Int(GgufValueType type, long value) implements GgufValue {
        public Int {
            if (!type.isInteger()) throw new IllegalArgumentException(type + " is not an integer type");
            checkRange(type, value);
        }

        @Override
        public String display(int maxElements) {
            return type == GgufValueType.UINT64 ? Long.toUnsignedString(value) : Long.toString(value);
        }
    }

    /** FLOAT32 or FLOAT64; a FLOAT32 holds a value exactly representable as float. */
    record Float(GgufValueType type, double value) implements GgufValue {
        public Float {
            if (!type.isFloat()) throw new IllegalArgumentException(type + " is not a float type");
            if (type == GgufValueType.FLOAT32 && !Double.isNaN(value) && (double) (float) value != value) {
                throw new IllegalArgumentException(value + " is not a float32 value");
            }
        }

        @Override
        public String display(int maxElements) {
            return type == GgufValueType.FLOAT32 ? java.lang.Float.toString((float) value) : Double.toString(value);
        }
    }

    record Bool(boolean value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.BOOL;
        }

        @Override
        public String display(int maxElements) {
            return Boolean.toString(value);
        }
    }

    record Str(String value) implements GgufValue {
        public Str {
            java.util.Objects.requireNonNull(value);
        }

        @Override
        public GgufValueType type() {
            return GgufValueType.STRING;
        }

        @Override
        public String display(int maxElements) {
            return quote(value, 200);
        }
    }

    // ---- arrays ----------------------------------------------------------------------------------------------

    /** A typed array; {@link #elementType()} is never ARRAY. */
    sealed interface Array extends GgufValue permits IntArray, FloatArray, BoolArray, StringArray {
        GgufValueType elementType();

        int length();

        @Override
        default GgufValueType type() {
            return GgufValueType.ARRAY;
        }
    }

    record IntArray(GgufValueType elementType, long[] values) implements Array {
        public IntArray {
            if (!elementType.isInteger()) throw new IllegalArgumentException(elementType + " is not an integer type");
            for (long v : values) checkRange(elementType, v);
            values = values.clone();
        }

        @Override
        public long[] values() {
            return values.clone();
        }

        public long get(int i) {
            return values[i];
        }

        @Override
        public int length() {
            return values.length;
        }

        @Override
        public String display(int maxElements) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < Math.min(maxElements, values.length); i++) {
                if (i > 0) sb.append(", ");
                sb.append(elementType == GgufValueType.UINT64 ? Long.toUnsignedString(values[i]) : Long.toString(values[i]));
            }
            return close(sb, values.length, maxElements);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IntArray a && a.elementType == elementType && Arrays.equals(a.values, values);
        }

        @Override
        public int hashCode() {
            return elementType.hashCode() * 31 + Arrays.hashCode(values);
        }
    }

    record FloatArray(GgufValueType elementType, double[] values) implements Array {
        public FloatArray {
            if (!elementType.isFloat()) throw new IllegalArgumentException(elementType + " is not a float type");
            values = values.clone();
        }

        @Override
        public double[] values() {
            return values.clone();
        }

        public double get(int i) {
            return values[i];
        }

        @Override
        public int length() {
            return values.length;
        }

        @Override
        public String display(int maxElements) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < Math.min(maxElements, values.length); i++) {
                if (i > 0) sb.append(", ");
                sb.append(elementType == GgufValueType.FLOAT32 ? java.lang.Float.toString((float) values[i]) : Double.toString(values[i]));
            }
            return close(sb, values.length, maxElements);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof FloatArray a && a.elementType == elementType && Arrays.equals(a.values, values);
        }

        @Override
        public int hashCode() {
            return elementType.hashCode() * 31 + Arrays.hashCode(values);
        }
    }

    record BoolArray(boolean[] values) implements Array {
        public BoolArray {
            values = values.clone();
        }

        @Override
        public boolean[] values() {
            return values.clone();
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.BOOL;
        }

        @Override
        public int length() {
            return values.length;
        }

        @Override
        public String display(int maxElements) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < Math.min(maxElements, values.length); i++) {
                if (i > 0) sb.append(", ");
                sb.append(values[i]);
            }
            return close(sb, values.length, maxElements);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BoolArray a && Arrays.equals(a.values, values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }
    }

    record StringArray(List<String> values) implements Array {
        public StringArray {
            values = List.copyOf(values);
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.STRING;
        }

        @Override
        public int length() {
            return values.size();
        }

        @Override
        public String display(int maxElements) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < Math.min(maxElements, values.size()); i++) {
                if (i > 0) sb.append(", ");
                sb.append(quote(values.get(i), 60));
            }
            return close(sb, values.size(), maxElements);
        }
    }

    // ---- factories -------------------------------------------------------------------------------------------

    static GgufValue u32(long v) {
        return new Int(GgufValueType.UINT32, v);
    }

    static GgufValue i32(long v) {
        return new Int(GgufValueType.INT32, v);
    }

    static GgufValue u64(long v) {
        return new Int(GgufValueType.UINT64, v);
    }

    static GgufValue f32(float v) {
        return new Float(GgufValueType.FLOAT32, v);
    }

    static GgufValue bool(boolean v) {
        return new Bool(v);
    }

    static GgufValue str(String v) {
        return new Str(v);
    }

    static GgufValue strings(List<String> v) {
        return new StringArray(v);
    }

    static GgufValue i32s(int... v) {
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = v[i];
        return new IntArray(GgufValueType.INT32, l);
    }

    static GgufValue f32s(float... v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return new FloatArray(GgufValueType.FLOAT32, d);
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private static void checkRange(GgufValueType t, long v) {
        boolean ok = switch (t) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFFFFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            default -> true; // 64-bit types take any bit pattern
        };
        if (!ok) throw new IllegalArgumentException(v + " does not fit " + t);
    }

    private static String quote(String s, int max) {
        String cut = s.length() > max ? s.substring(0, max) + "…" : s;
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < cut.length(); i++) {
            char c = cut.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }

    private static String close(StringBuilder sb, int length, int max) {
        if (length > max) sb.append(", … (").append(length).append(" elements)");
        return sb.append(']').toString();
    }
}
