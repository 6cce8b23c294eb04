package org.llavapack.formats.onnx;

import java.util.List;

/** A node attribute; the closed set of kinds llavapack's graphs use. */
public sealed interface Attribute {
    String name();

    record Int(String name, long value) implements Attribute {}

    record Float(String name, float value) implements Attribute {}

    record Ints(String name, List<Long> values) implements Attribute {}

    record Str(String name, String value) implements Attribute {}

    static Attribute of(String name, long v) {
        return new Int(name, v);
    }

    static Attribute of(String name, float v) {
        return new Float(name, v);
    }

    static Attribute of(String name, String v) {
        return new Str(name, v);
    }

    static Attribute ints(String name, long... v) {
        return new Ints(name, java.util.Arrays.stream(v).boxed().toList());
    }
}
