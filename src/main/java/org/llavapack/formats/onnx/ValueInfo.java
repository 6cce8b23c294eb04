package org.llavapack.formats.onnx;

import java.util.List;

/** A graph input or output: name, element type and shape. */
public record ValueInfo(String name, ElemType type, List<Dim> shape) {
    public ValueInfo {
        shape = List.copyOf(shape);
    }

    public static ValueInfo of(String name, ElemType type, Object... dims) {
        List<Dim> ds = new java.util.ArrayList<>();
        for (Object d : dims) {
            ds.add(switch (d) {
                case Integer i -> Dim.of(i.longValue());
                case Long l -> Dim.of(l);
                case String s -> Dim.of(s);
                default -> throw new IllegalArgumentException("dimension " + d);
            });
        }
        return new ValueInfo(name, type, ds);
    }
}
