package org.llavapack.tensor;

import java.util.Optional;

/**
 * Element types, spelled and ordered exactly as safetensors declares them. The declaration order matters: safetensors
 * writes tensors sorted by dtype descending in this order, and byte-identical output depends on it.
 */
public enum DType {
    BOOL(1, false),
    U8(1, false),
    I8(1, false),
    F8_E5M2(1, true),
    F8_E4M3(1, true),
    I16(2, false),
    U16(2, false),
    F16(2, true),
    BF16(2, true),
    I32(4, false),
    U32(4, false),
    F32(4, true),
    F64(8, true),
    I64(8, false),
    U64(8, false);

    private final int size;
    private final boolean floating;

    DType(int size, boolean floating) {
        this.size = size;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int size() {
        return size;
    }

    public boolean isFloatingPoint() {
        return floating;
    }

    /** The name as the safetensors header spells it, which is also the enum constant's name. */
    public String safetensorsName() {
        return name();
    }

    public static Optional<DType> fromSafetensorsName(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) return Optional.of(t);
        }
        return Optional.empty();
    }

    /** The name torch prints (torch.bfloat16 …), used in config.json's torch_dtype. */
    public String torchName() {
        return switch (this) {
            case BOOL -> "bool";
            case U8 -> "uint8";
            case I8 -> "int8";
            case F8_E5M2 -> "float8_e5m2";
            case F8_E4M3 -> "float8_e4m3fn";
            case I16 -> "int16";
            case U16 -> "uint16";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case I32 -> "int32";
            case U32 -> "uint32";
            case F32 -> "float32";
            case F64 -> "float64";
            case I64 -> "int64";
            case U64 -> "uint64";
        };
    }
}
