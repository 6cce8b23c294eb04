package org.llavapack.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.llavapack.formats.gguf.GgufFile;
import org.llavapack.formats.gguf.GgufTensorInfo;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.tensor.TensorStats;

/** {@code inspect} output for GGUF files: typed metadata and tensors with their ggml type and PyTorch-order shape. */
final class GgufInspect {
    private GgufInspect() {}

    /** Array values shown in full up to this length. */
    static final int ARRAY_PREVIEW = 16;

    static void printTable(PrintWriter out, GgufFile g, List<TensorStats> stats) {
        out.println("format:   gguf v" + g.version() + " (alignment " + g.alignment() + ", data at byte " + g.dataStart() + ")");
        out.println("source:   " + g.source());
        out.println("metadata: " + g.kv().size() + " keys");
        g.kv().forEach((k, v) -> {
            String type = v instanceof GgufValue.Array a ? "[" + a.elementType().shortName() + "; " + a.length() + "]" : v.type().shortName();
            out.println("  " + k + " (" + type + "): " + v.display(ARRAY_PREVIEW));
        });
        List<GgufTensorInfo> ts = g.tensorInfos();
        int nameWidth = Math.max(4, ts.stream().mapToInt(t -> t.name().length()).max().orElse(4));
        int shapeWidth = Math.max(5, ts.stream().mapToInt(t -> Arrays.toString(t.shape()).length()).max().orElse(5));
        String head = String.format(Locale.ROOT, "%-" + nameWidth + "s  %-7s  %-" + shapeWidth + "s  %14s", "name", "type", "shape", "bytes");
        if (stats != null) head += String.format(Locale.ROOT, "  %12s  %12s  %12s  %12s  %6s  %6s", "min", "max", "mean", "rms", "nan", "inf");
        out.println(head);
        long bytes = 0, params = 0;
        for (int i = 0; i < ts.size(); i++) {
            GgufTensorInfo t = ts.get(i);
            String row = String.format(Locale.ROOT, "%-" + nameWidth + "s  %-7s  %-" + shapeWidth + "s  %,14d", t.name(), t.type(), Arrays.toString(t.shape()), t.bytes());
            if (stats != null) {
                TensorStats s = stats.get(i);
                row += String.format(Locale.ROOT, "  %12.5g  %12.5g  %12.5g  %12.5g  %6d  %6d", s.min(), s.max(), s.mean(), s.rms(), s.nan(), s.inf());
            }
            out.println(row);
            bytes += t.bytes();
            params += t.numel();
        }
        out.printf(Locale.ROOT, "total: %d tensors, %,d parameters, %,d bytes of tensor data, %,d bytes in the file%n", ts.size(), params, bytes, g.fileSize());
    }

    static void printJson(PrintWriter out, GgufFile g, List<TensorStats> stats) throws Exception {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        root.put("format", "gguf");
        root.put("source", g.source().toString());
        root.put("version", g.version());
        root.put("alignment", g.alignment());
        root.put("data_offset", g.dataStart());
        ArrayNode arr = root.putArray("tensors");
        long bytes = 0, params = 0;
        List<GgufTensorInfo> ts = g.tensorInfos();
        for (int i = 0; i < ts.size(); i++) {
            GgufTensorInfo t = ts.get(i);
            ObjectNode n = arr.addObject();
            n.put("name", t.name());
            n.put("dtype", t.type().name());
            n.put("ggml_type", t.type().id());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            ArrayNode ne = n.putArray("ne");
            for (long d : t.ne()) ne.add(d);
            n.put("offset", t.offset());
            n.put("bytes", t.bytes());
            if (stats != null) {
                TensorStats s = stats.get(i);
                ObjectNode sn = n.putObject("stats");
                sn.put("min", s.min()).put("max", s.max()).put("mean", s.mean()).put("rms", s.rms()).put("nan", s.nan()).put("inf", s.inf());
            }
            bytes += t.bytes();
            params += t.numel();
        }
        ObjectNode meta = root.putObject("metadata");
        g.kv().forEach((k, v) -> meta.set(k, typed(mapper, v)));
        root.put("total_bytes", bytes);
        root.put("total_parameters", params);
        out.println(mapper.writeValueAsString(root));
    }

    /** {"type": "u32", "value": 32}; arrays: {"type": "arr", "element_type", "length", "values" (first 16), "truncated"}. */
    private static ObjectNode typed(ObjectMapper mapper, GgufValue v) {
        ObjectNode n = mapper.createObjectNode();
        n.put("type", v.type().shortName());
        switch (v) {
            case GgufValue.Int i -> {
                if (i.type() == org.llavapack.formats.gguf.GgufValueType.UINT64 && i.value() < 0) n.put("value", new java.math.BigInteger(Long.toUnsignedString(i.value())));
                else n.put("value", i.value());
            }
            case GgufValue.Float f -> {
                if (f.type() == org.llavapack.formats.gguf.GgufValueType.FLOAT32) n.put("value", (float) f.value());
                else n.put("value", f.value());
            }
            case GgufValue.Bool b -> n.put("value", b.value());
            case GgufValue.Str s -> n.put("value", s.value());
            case GgufValue.Array a -> {
                n.put("element_type", a.elementType().shortName());
                n.put("length", a.length());
                ArrayNode vals = n.putArray("values");
                int k = Math.min(ARRAY_PREVIEW, a.length());
                switch (a) {
                    case GgufValue.IntArray ia -> { for (int i = 0; i < k; i++) vals.add(ia.get(i)); }
                    case GgufValue.FloatArray fa -> { for (int i = 0; i < k; i++) vals.add(fa.get(i)); }
                    case GgufValue.BoolArray ba -> { boolean[] b = ba.values(); for (int i = 0; i < k; i++) vals.add(b[i]); }
                    case GgufValue.StringArray sa -> { for (int i = 0; i < k; i++) vals.add(sa.values().get(i)); }
                }
                n.put("truncated", a.length() > k);
            }
        }
        return n;
    }
}
