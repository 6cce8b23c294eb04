package org.llavapack.formats.onnx;

import java.util.List;

/** One operator application. An empty input name means "optional input left out" (ONNX's convention). */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs, List<Attribute> attributes) {
    public Node {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        attributes = List.copyOf(attributes);
    }
}
