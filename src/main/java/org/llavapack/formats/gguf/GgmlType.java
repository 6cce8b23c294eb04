package org.llavapack.formats.gguf;

import java.util.Optional;

/**
 * ggml tensor element types as llama.cpp numbers them ({@code enum ggml_type} in ggml.h), with block size and bytes per
 * block. The reader knows every id llama.cpp b4916 accepts so it can check layouts; {@link #writable()} marks the
 * types llavapack writes, and {@link #dequantizable()} the ones its reader can turn into f32. Removed ids (4, 5, 31–33,
 * 36–38) and newer ids (≥ 39: MXFP4 …) are unknown here, and files using them are refused.
 */
public enum GgmlType {
    F32(0, 1, 4, true, true),
    F16(1, 1, 2, true, true),
    Q4_0(2, 32, 18, true, true),
    Q4_1(3, 32, 20, false, true),
    Q5_0(6, 32, 22, true, true),
    Q5_1(7, 32, 24, false, true),
    Q8_0(8, 32, 34, true, true),
    Q8_1(9, 32, 36, false, false),
    Q2_K(10, 256, 84, false, true),
    Q3_K(11, 256, 110, false, true),
    Q4_K(12, 256, 144, true, true),
    Q5_K(13, 256, 176, false, true),
    Q6_K(14, 256, 210, true, true),
    Q8_K(15, 256, 292, false, false),
    IQ2_XXS(16, 256, 66, false, false),
    IQ2_XS(17, 256, 74, false, false),
    IQ3_XXS(18, 256, 98, false, false),
    IQ1_S(19, 256, 50, false, false),
    IQ4_NL(20, 32, 18, false, false),
    IQ3_S(21, 256, 110, false, false),
    IQ2_S(22, 256, 82, false, false),
    IQ4_XS(23, 256, 136, false, false),
    I8(24, 1, 1, false, true),
    I16(25, 1, 2, false, true),
    I32(26, 1, 4, false, true),
    I64(27, 1, 8, false, true),
    F64(28, 1, 8, false, true),
    IQ1_M(29, 256, 56, false, false),
    BF16(30, 1, 2, true, true),
    TQ1_0(34, 256, 54, false, false),
    TQ2_0(35, 256, 66, false, false);

    private static final GgmlType[] BY_ID = new GgmlType[64];

    static {
        for (GgmlType t : values()) BY_ID[t.id] = t;
    }

    private final int id;
    private final int blockSize;
    private final int typeSize;
    private final boolean writable;
    private final boolean dequantizable;

    GgmlType(int id, int blockSize, int typeSize, boolean writable, boolean dequantizable) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
        this.writable = writable;
        this.dequantizable = dequantizable;
    }

    /** The number stored in a tensor info. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int typeSize() {
        return typeSize;
    }

    public boolean isQuantized() {
        return blockSize > 1;
    }

    /** llavapack writes this type (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K). */
    public boolean writable() {
        return writable;
    }

    /** The reader can dequantize this type to f32. */
    public boolean dequantizable() {
        return dequantizable;
    }

    /** Bytes of one row of {@code ne0} elements; {@code ne0} must be a multiple of the block size. */
    public long rowBytes(long ne0) {
        if (ne0 % blockSize != 0) throw new IllegalArgumentException(this + ": row of " + ne0 + " is not a multiple of " + blockSize);
        return Math.multiplyExact(ne0 / blockSize, (long) typeSize);
    }

    /** Bytes of a tensor with ggml dimensions {@code ne} (innermost first). */
    public long bytes(long[] ne) {
        long b = rowBytes(ne[0]);
        for (int i = 1; i < ne.length; i++) b = Math.multiplyExact(b, ne[i]);
        return b;
    }

    public static Optional<GgmlType> fromId(long id) {
        if (id < 0 || id >= BY_ID.length) return Optional.empty();
        return Optional.ofNullable(BY_ID[(int) id]);
    }
}
