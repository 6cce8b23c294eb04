package org.llavapack.formats.gguf;

import java.util.Optional;

/** Metadata value types as numbered in GGUF ({@code enum gguf_type}). */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, -1),
    ARRAY(9, -1),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private final int id;
    private final int size;

    GgufValueType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    public int id() {
        return id;
    }

    /** Bytes of one scalar value; -1 for STRING and ARRAY. */
    public int size() {
        return size;
    }

    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    public boolean isFloat() {
        return this == FLOAT32 || this == FLOAT64;
    }

    /** Lower-case name as gguf-py and llama.cpp print it (u32, f32, str …). */
    public String shortName() {
        return switch (this) {
            case UINT8 -> "u8";
            case INT8 -> "i8";
            case UINT16 -> "u16";
            case INT16 -> "i16";
            case UINT32 -> "u32";
            case INT32 -> "i32";
            case FLOAT32 -> "f32";
            case BOOL -> "bool";
            case STRING -> "str";
            case ARRAY -> "arr";
            case UINT64 -> "u64";
            case INT64 -> "i64";
            case FLOAT64 -> "f64";
        };
    }

    public static Optional<GgufValueType> fromId(long id) {
        for (GgufValueType t : values()) if (t.id == id) return Optional.of(t);
        return Optional.empty();
    }
}
