package org.llavapack.formats.onnx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds one ONNX graph node by node, in topological order by construction (a node can only name values that
 * already exist), and checks the result before it is saved: every node input defined earlier, every value produced
 * once, every graph output produced, initializers never also inputs. onnxruntime-genai once published a Llama
 * export with a dangling node input (onnxruntime-genai#462); {@link #validate()} is the guard against that.
 *
 * <p>Node and value names are generated from a scope and a counter, so the same weights give the same file.
 */
public final class OnnxGraph {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final List<ValueInfo> inputs = new ArrayList<>();
    private final List<ValueInfo> outputs = new ArrayList<>();
    private final Map<String, Initializer> initializers = new LinkedHashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final Set<String> defined = new HashSet<>();
    private final Map<String, String> smallConstants = new LinkedHashMap<>();
    private String scope = "";
    private int counter;

    public OnnxGraph(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** Prefix for generated names, e.g. {@code /layers.3/attn}; purely cosmetic, it shows in profilers. */
    public void scope(String s) {
        scope = s;
    }

    public String input(ValueInfo v) {
        define(v.name());
        inputs.add(v);
        return v.name();
    }

    /** Declares {@code v} a graph output; a node must produce a value of that name before {@link #validate()}. */
    public void output(ValueInfo v) {
        outputs.add(v);
    }

    /** A weight, stored in the external data file. */
    public String initializer(String tensorName, ElemType type, long[] dims, Payload payload) {
        return add(new Initializer(tensorName, type, dims.clone(), payload, false));
    }

    private String add(Initializer t) {
        define(t.name());
        initializers.put(t.name(), t);
        return t.name();
    }

    /** A small fp32 constant (shared when the same values are asked for twice). */
    public String floats(long[] dims, float... values) {
        String key = "f" + Arrays.toString(dims) + Arrays.toString(values);
        return smallConstants.computeIfAbsent(key, k -> add(new Initializer(fresh("const_f"), ElemType.FLOAT, dims, new FloatArrayPayload(values), true)));
    }

    /** A small int64 constant: shapes, axes, indices. */
    public String longs(long[] dims, long... values) {
        String key = "l" + Arrays.toString(dims) + Arrays.toString(values);
        return smallConstants.computeIfAbsent(key, k -> add(new Initializer(fresh("const_i64"), ElemType.INT64, dims, new LongArrayPayload(values), true)));
    }

    /** A 1-D int64 constant. */
    public String longs(long... values) {
        return longs(new long[] {values.length}, values);
    }

    /** A 0-d (scalar) int64 constant. */
    public String scalar(long value) {
        return longs(new long[0], value);
    }

    /** A 0-d (scalar) fp32 constant. */
    public String scalar(float value) {
        return floats(new long[0], value);
    }

    /** A default-domain node with one output; returns the output's generated name. */
    public String op(String opType, List<String> in, Attribute... attrs) {
        String out = fresh(opType);
        node("", opType, in, List.of(out), attrs);
        return out;
    }

    public String op(String opType, String a, Attribute... attrs) {
        return op(opType, List.of(a), attrs);
    }

    public String op(String opType, String a, String b, Attribute... attrs) {
        return op(opType, List.of(a, b), attrs);
    }

    /** A node with explicit outputs (graph outputs, several outputs, or a contrib-domain op). */
    public void node(String domain, String opType, List<String> in, List<String> out, Attribute... attrs) {
        for (String i : in) {
            if (!i.isEmpty() && !defined.contains(i)) throw new IllegalStateException(opType + " reads '" + i + "', which is not defined yet");
        }
        for (String o : out) if (!o.isEmpty()) define(o);
        nodes.add(new Node(fresh("node_" + opType), opType, domain, in, out, List.of(attrs)));
    }

    /** A fresh value name outputs can use with {@link #node}. */
    public String fresh(String base) {
        return scope + "/" + base + "_" + (counter++);
    }

    private void define(String value) {
        if (value.isEmpty()) throw new IllegalArgumentException("empty value name");
        if (!defined.add(value)) throw new IllegalStateException("value '" + value + "' is defined twice");
    }

    public List<ValueInfo> inputs() {
        return List.copyOf(inputs);
    }

    public List<ValueInfo> outputs() {
        return List.copyOf(outputs);
    }

    public List<Node> nodes() {
        return List.copyOf(nodes);
    }

    public List<Initializer> initializers() {
        return List.copyOf(initializers.values());
    }

    public boolean usesDomain(String domain) {
        return nodes.stream().anyMatch(n -> n.domain().equals(domain));
    }

    /**
     * Re-checks the finished graph from scratch (independently of the checks made while building): topological
     * order, single definition of every value, graph outputs produced, no initializer doubling as an input, every
     * node's domain imported. Returns the problems found; empty means valid.
     */
    public List<String> validate() {
        List<String> problems = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (ValueInfo v : inputs) if (!seen.add(v.name())) problems.add("input '" + v.name() + "' declared twice");
        for (String i : initializers.keySet()) {
            if (!seen.add(i)) problems.add("initializer '" + i + "' is also a graph input or declared twice");
        }
        Set<String> nodeNames = new HashSet<>();
        for (Node n : nodes) {
            if (!nodeNames.add(n.name())) problems.add("node name '" + n.name() + "' repeats");
            if (!n.domain().isEmpty() && !n.domain().equals(OnnxLimits.MICROSOFT)) problems.add(n.name() + ": domain '" + n.domain() + "' is not imported");
            for (String i : n.inputs()) {
                if (!i.isEmpty() && !seen.contains(i)) problems.add(n.name() + " (" + n.opType() + ") reads '" + i + "' before it is defined");
            }
            for (String o : n.outputs()) {
                if (!o.isEmpty() && !seen.add(o)) problems.add(n.name() + " (" + n.opType() + ") redefines '" + o + "'");
            }
        }
        Set<String> outNames = new HashSet<>();
        for (ValueInfo v : outputs) {
            if (!outNames.add(v.name())) problems.add("output '" + v.name() + "' declared twice");
            if (!seen.contains(v.name())) problems.add("output '" + v.name() + "' is never produced");
        }
        return problems;
    }

    /** fp32 values held in memory (constants, RoPE caches). */
    public record FloatArrayPayload(float[] values) implements Payload {
        @Override
        public long bytes() {
            return 4L * values.length;
        }

        @Override
        public void write(MemorySegment target) {
            MemorySegment.copy(values, 0, target, LE_FLOAT, 0, values.length);
        }
    }

    /** int64 values held in memory. */
    public record LongArrayPayload(long[] values) implements Payload {
        @Override
        public long bytes() {
            return 8L * values.length;
        }

        @Override
        public void write(MemorySegment target) {
            MemorySegment.copy(values, 0, target, LE_LONG, 0, values.length);
        }
    }

    /** int32 values held in memory. */
    public record IntArrayPayload(int[] values) implements Payload {
        @Override
        public long bytes() {
            return 4L * values.length;
        }

        @Override
        public void write(MemorySegment target) {
            MemorySegment.copy(values, 0, target, LE_INT, 0, values.length);
        }
    }

    /** Raw bytes held in memory (packed int4 weights, scales as fp16). */
    public record BytePayload(byte[] values) implements Payload {
        @Override
        public long bytes() {
            return values.length;
        }

        @Override
        public void write(MemorySegment target) {
            MemorySegment.copy(values, 0, target, ValueLayout.JAVA_BYTE, 0, values.length);
        }
    }
}
