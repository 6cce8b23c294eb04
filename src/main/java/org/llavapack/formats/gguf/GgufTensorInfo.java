package org.llavapack.formats.gguf;

/**
 * A tensor as a GGUF file describes it: name, ggml dimensions {@code ne} (innermost first), ggml type and offset in
 * the data blob.
 */
public record GgufTensorInfo(String name, long[] ne, GgmlType type, long offset) {
    public GgufTensorInfo {
        ne = ne.clone();
    }

    @Override
    public long[] ne() {
        return ne.clone();
    }

    /** The shape in PyTorch order (ne reversed). */
    public long[] shape() {
        long[] s = new long[ne.length];
        for (int i = 0; i < ne.length; i++) s[i] = ne[ne.length - 1 - i];
        return s;
    }

    public long numel() {
        long n = 1;
        for (long d : ne) n = Math.multiplyExact(n, d);
        return n;
    }

    public long rows() {
        long r = 1;
        for (int i = 1; i < ne.length; i++) r = Math.multiplyExact(r, ne[i]);
        return r;
    }

    public long rowBytes() {
        return type.rowBytes(ne[0]);
    }

    public long bytes() {
        return type.bytes(ne);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && t.name.equals(name) && java.util.Arrays.equals(t.ne, ne) && t.type == type && t.offset == offset;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + java.util.Arrays.hashCode(ne);
    }

    @Override
    public String toString() {
        return name + " " + type + java.util.Arrays.toString(shape()) + " @" + offset;
    }
}
