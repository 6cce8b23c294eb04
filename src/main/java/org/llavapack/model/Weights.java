package org.llavapack.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * The named weights of one model component, under the component's own names (the HF names, no {@code llm.} or
 * {@code projector.} prefix). Values come out widened to fp32 on the Java heap, because the parity engine (DJL's
 * PyTorch) cannot take bf16 at all: creating a BF16 array aborts the JVM.
 */
public interface Weights {

    /** Names in source order. */
    List<String> names();

    Optional<TensorInfo> info(String name);

    /** The tensor widened to fp32 (bf16 and f16 exactly), row-major. */
    float[] floats(String name);

    /**
     * Rows {@code [from, from + count)} of a tensor seen as {@code [shape[0], rest]}, widened to fp32: lets a large
     * matrix (an 8B model's lm_head is 2 GB in fp32) go to the engine in pieces.
     */
    default float[] rows(String name, long from, int count) {
        long[] s = shape(name);
        long cols = 1;
        for (int i = 1; i < s.length; i++) cols *= s[i];
        float[] all = floats(name);
        float[] out = new float[Math.toIntExact(count * cols)];
        System.arraycopy(all, Math.toIntExact(from * cols), out, 0, out.length);
        return out;
    }

    /** Where the weights come from, for reports. */
    String describe();

    /**
     * The coarsest block quantization the stored weights went through ("q8_0", "q4_k"), empty for plain float
     * weights: values read back dequantized, so their dtype alone would claim fp32 precision.
     */
    default Optional<String> quantization() {
        return Optional.empty();
    }

    /** Repeated row-block reads of one tensor into caller buffers; {@link #reader} opens one. */
    interface RowReader extends AutoCloseable {
        /** Rows {@code [from, from + count)} widened to fp32 into {@code dst[0 …]}; safe to call from several threads. */
        void read(long from, int count, float[] dst);

        @Override
        void close();
    }

    /**
     * A reader for tensor {@code name} (exporters streaming a large matrix block by block into reused buffers). The
     * default goes through {@link #rows}; store-backed weights map the tensor once for all blocks.
     */
    default RowReader reader(String name) {
        return new RowReader() {
            @Override
            public void read(long from, int count, float[] dst) {
                float[] r = rows(name, from, count);
                System.arraycopy(r, 0, dst, 0, r.length);
            }

            @Override
            public void close() {}
        };
    }

    default boolean has(String name) {
        return info(name).isPresent();
    }

    default TensorInfo require(String name) {
        return info(name).orElseThrow(() -> new BadInputException(describe(), "missing tensor " + name, null));
    }

    default long[] shape(String name) {
        return require(name).shape();
    }

    /** The least precise floating-point dtype among the weights (F32 when all are F32); drives the tolerances. */
    default DType narrowestFloat() {
        DType worst = DType.F32;
        for (String n : names()) {
            DType t = info(n).orElseThrow().dtype();
            if (t.isFloatingPoint() && precisionBits(t) < precisionBits(worst)) worst = t;
        }
        return worst;
    }

    /** Significand bits including the implicit one: what "narrower" means for rounding error. */
    static int precisionBits(DType t) {
        return switch (t) {
            case F64 -> 53;
            case F32 -> 24;
            case F16 -> 11;
            case BF16 -> 8;
            case F8_E4M3 -> 4;
            case F8_E5M2 -> 3;
            default -> 64;
        };
    }

    /** The tensors of {@code store} whose names start with {@code prefix}, seen without it. The store stays open. */
    static Weights of(TensorStore store, String prefix) {
        return new StoreWeights(store, prefix);
    }

    /** In-memory fp32 weights (benchmarks and tests); the map's iteration order is the name order. */
    static Weights ofArrays(String description, Map<String, long[]> shapes, Map<String, float[]> values) {
        return new ArrayWeights(description, new LinkedHashMap<>(shapes), new LinkedHashMap<>(values));
    }

    /** These weights with {@code top}'s tensors replacing or adding to them (PEFT modules_to_save, overrides). */
    default Weights overlay(Weights top) {
        Weights base = this;
        return new Weights() {
            @Override
            public List<String> names() {
                List<String> out = new ArrayList<>(base.names());
                for (String n : top.names()) if (!base.has(n)) out.add(n);
                return out;
            }

            @Override
            public Optional<TensorInfo> info(String name) {
                Optional<TensorInfo> t = top.info(name);
                return t.isPresent() ? t : base.info(name);
            }

            @Override
            public float[] floats(String name) {
                return top.has(name) ? top.floats(name) : base.floats(name);
            }

            @Override
            public String describe() {
                return base.describe() + " + " + top.describe();
            }
        };
    }

    /** {@code source}'s tensors under new names: {@code names} maps each new name to the name in {@code source}. */
    static Weights renamed(Weights source, Map<String, String> names) {
        Map<String, String> m = new LinkedHashMap<>(names);
        return new Weights() {
            @Override
            public List<String> names() {
                return new ArrayList<>(m.keySet());
            }

            @Override
            public Optional<TensorInfo> info(String name) {
                String s = m.get(name);
                return s == null ? Optional.empty() : source.info(s).map(t -> t.withName(name));
            }

            @Override
            public float[] floats(String name) {
                String s = m.get(name);
                if (s == null) throw new BadInputException(describe(), "missing tensor " + name, null);
                return source.floats(s);
            }

            @Override
            public String describe() {
                return source.describe();
            }
        };
    }

    /** A view of a tensor store. */
    record StoreWeights(TensorStore store, String prefix) implements Weights {
        @Override
        public List<String> names() {
            List<String> out = new ArrayList<>();
            for (TensorInfo t : store.tensors()) if (t.name().startsWith(prefix)) out.add(t.name().substring(prefix.length()));
            return out;
        }

        @Override
        public Optional<TensorInfo> info(String name) {
            return store.info(prefix + name).map(t -> t.withName(name));
        }

        @Override
        public float[] floats(String name) {
            TensorInfo t = require(name);
            if (!t.dtype().isFloatingPoint() && t.dtype() != DType.I64 && t.dtype() != DType.I32) {
                throw new BadInputException(describe(), name + " is " + t.dtype() + ", not a floating-point tensor", null);
            }
            // Own mapping per read, released at once: an 8B model is streamed layer by layer, never mapped whole.
            try (TensorHandle h = store.open(prefix + name)) {
                return h.tensor().toFloatArray();
            }
        }

        @Override
        public float[] rows(String name, long from, int count) {
            long[] s = shape(name);
            long cols = 1;
            for (int i = 1; i < s.length; i++) cols *= s[i];
            if (from < 0 || count < 0 || from + count > s[0]) throw new IndexOutOfBoundsException(name + " rows " + from + "+" + count);
            float[] out = new float[Math.toIntExact(count * cols)];
            try (TensorHandle h = store.open(prefix + name)) {
                h.tensor().readFloats(from * cols, out, 0, out.length);
            }
            return out;
        }

        @Override
        public RowReader reader(String name) {
            long[] s = shape(name);
            long cols = 1;
            for (int i = 1; i < s.length; i++) cols *= s[i];
            long rowLength = cols;
            TensorHandle h = store.open(prefix + name);
            return new RowReader() {
                @Override
                public void read(long from, int count, float[] dst) {
                    h.tensor().readFloats(from * rowLength, dst, 0, Math.toIntExact(count * rowLength));
                }

                @Override
                public void close() {
                    h.close();
                }
            };
        }

        @Override
        public String describe() {
            return store.source() + (prefix.isEmpty() ? "" : " [" + prefix + "*]");
        }
    }

    /** Weights held in memory. */
    record ArrayWeights(String description, Map<String, long[]> shapes, Map<String, float[]> values) implements Weights {
        @Override
        public List<String> names() {
            return new ArrayList<>(shapes.keySet());
        }

        @Override
        public Optional<TensorInfo> info(String name) {
            long[] s = shapes.get(name);
            return s == null ? Optional.empty() : Optional.of(new TensorInfo(name, DType.F32, s));
        }

        @Override
        public float[] floats(String name) {
            require(name);
            return values.get(name);
        }

        @Override
        public String describe() {
            return description;
        }
    }
}
