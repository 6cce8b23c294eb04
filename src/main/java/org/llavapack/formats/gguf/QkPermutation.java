package org.llavapack.formats.gguf;

/**
 * The row order llama.cpp expects for Q and K weights of an HF Llama (gguf spec 2.4): HF applies RoPE to the two
 * halves of each head (rotate-half), llama.cpp to adjacent pairs, so the converter interleaves the halves. Row
 * {@code r} of the GGUF tensor is HF row {@link #sourceRow}: W'[h·d + 2i + j] = W[h·d + j·d/2 + i]. The export applies
 * it; parity reading a GGUF file back undoes it with the same function.
 */
public final class QkPermutation {
    private QkPermutation() {}

    /** The HF row stored at GGUF row {@code r} of a tensor with {@code totalRows} rows over {@code heads} heads. */
    public static long sourceRow(long r, long totalRows, int heads) {
        long d = totalRows / heads;
        long h = r / d, rem = r % d;
        long i = rem / 2, j = rem % 2;
        return h * d + j * (d / 2) + i;
    }
}
