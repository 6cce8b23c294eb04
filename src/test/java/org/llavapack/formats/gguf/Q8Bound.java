package org.llavapack.formats.gguf;

/** Q8_0's error bound, for tests in other packages. */
public final class Q8Bound {
    private Q8Bound() {}

    public static void check(float[] x, float[] y) {
        GgufWriterReaderTest.assertQ8Bound(x, y);
    }
}
