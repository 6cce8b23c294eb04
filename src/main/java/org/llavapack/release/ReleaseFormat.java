package org.llavapack.release;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import org.llavapack.convert.gguf.OutType;

/**
 * One artifact kind {@code release --formats} can produce. A closed set: each has its own stage, output folder and
 * parity comparison.
 */
public sealed interface ReleaseFormat {

    /** The folder (or file) under the release directory, and the label in tables and parity report names. */
    String id();

    /** {@code convert pth-to-hf}: PEFT adapter + connector in HF layout. */
    record Hf() implements ReleaseFormat {
        public String id() {
            return "hf";
        }
    }

    /** {@code merge-lora} onto the base model: a plain HF Llama folder. */
    record Merged() implements ReleaseFormat {
        public String id() {
            return "merged";
        }
    }

    /** {@code export gguf} of the merged model at one output type. */
    record Gguf(OutType type) implements ReleaseFormat {
        public String id() {
            return "gguf-" + type.cliName();
        }
    }

    /** {@code export onnx} of vision tower, connector and merged LLM at one precision. */
    record Onnx(String precision) implements ReleaseFormat {
        public String id() {
            return precision.equals("fp32") ? "onnx" : "onnx-" + precision;
        }
    }

    String DEFAULT = "hf,merged,gguf:q8_0,onnx";

    /** Parses {@code hf,merged,gguf:q8_0,onnx[:fp16|int4]}; duplicates collapse, order is kept. */
    static List<ReleaseFormat> parseList(String text) {
        LinkedHashSet<ReleaseFormat> out = new LinkedHashSet<>();
        for (String raw : text.split(",")) {
            String s = raw.trim().toLowerCase(Locale.ROOT);
            if (s.isEmpty()) continue;
            String kind = s.contains(":") ? s.substring(0, s.indexOf(':')) : s;
            String arg = s.contains(":") ? s.substring(s.indexOf(':') + 1) : "";
            out.add(switch (kind) {
                case "hf" -> noArg(new Hf(), arg, s);
                case "merged" -> noArg(new Merged(), arg, s);
                case "gguf" -> new Gguf(OutType.parse(arg.isEmpty() ? "q8_0" : arg));
                case "onnx" -> {
                    String p = arg.isEmpty() ? "fp32" : arg;
                    if (!List.of("fp32", "fp16", "int4").contains(p)) throw new IllegalArgumentException("onnx precision must be fp32, fp16 or int4, not '" + p + "'");
                    yield new Onnx(p);
                }
                default -> throw new IllegalArgumentException("unknown format '" + raw.trim() + "' (hf, merged, gguf[:TYPE], onnx[:PRECISION])");
            });
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--formats names no format");
        return new ArrayList<>(out);
    }

    private static ReleaseFormat noArg(ReleaseFormat f, String arg, String s) {
        if (!arg.isEmpty()) throw new IllegalArgumentException("format '" + s + "' takes no ':' argument");
        return f;
    }
}
