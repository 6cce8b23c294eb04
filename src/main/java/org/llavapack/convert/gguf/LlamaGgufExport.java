package org.llavapack.convert.gguf;

import org.llavapack.convert.names.NameMap;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.llavapack.BadInputException;
import org.llavapack.convert.WeightTransform;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.gguf.BlockCodec;
import org.llavapack.formats.gguf.GgmlType;
import org.llavapack.formats.gguf.GgufValue;
import org.llavapack.formats.gguf.GgufWriter;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * {@code llavapack export gguf}: an HF Llama folder (safetensors + config + tokenizer) to a GGUF file llama.cpp loads,
 * streaming tensor by tensor. Metadata follows convert_hf_to_gguf.py's LlamaModel; names come from
 * {@code converters/hf-llama-to-gguf.json}; Q/K rows are permuted for llama.cpp's RoPE layout; {@code rope_freqs} is
 * generated for llama3 RoPE scaling; per-tensor types follow {@link TensorTypes}.
 */
public final class LlamaGgufExport {
    private LlamaGgufExport() {}

    public static final String MAP = "hf-llama-to-gguf.json";

    public record Options(OutType outType, WeightTransform transform, boolean force, int threads, String name) {}

    public record Result(int tensors, long bytes, Map<GgmlType, Integer> types, long f16Overflows, List<String> notes) {}

    /** One planned output tensor. */
    record Planned(String ggufName, GgmlType type, long[] shape, TensorInfo source, NameMap.Mapped mapping, int layer, String sortKey) {}

    public static Result run(Path modelDir, Path out, Options o, Progress progress) {
        if (!Files.isDirectory(modelDir)) throw new BadInputException(modelDir, "not a folder (expected a Hugging Face Llama model folder)");
        LlamaConfig cfg = LlamaConfig.read(modelDir);
        LinkedHashMap<String, GgufValue> tokenizer = LlamaTokenizer.export(modelDir, cfg.vocab());
        NameMap map = NameMap.fromResource("converters/" + MAP);
        List<String> notes = new ArrayList<>();
        try (TensorStore store = TensorStores.open(modelDir); SourceRows.Channels channels = new SourceRows.Channels()) {
            List<Planned> plan = plan(store, cfg, map, o.outType(), notes);
            AtomicLong overflow = new AtomicLong();
            GgufWriter w = new GgufWriter();
            metadata(w, cfg, o, modelDir, tokenizer);
            if ("llama3".equals(cfg.ropeType())) {
                float[] freqs = cfg.llama3RopeFreqs();
                w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {freqs.length}, (first, count, dst) ->
                        BlockCodec.of(GgmlType.F32).quantize(freqs, 0, freqs.length, dst, 0));
            } else if (cfg.ropeType() != null && !cfg.ropeType().equals("default")) {
                throw new BadInputException(cfg.file(), "rope_scaling type '" + cfg.ropeType() + "' is not supported by export gguf (llama3 is)");
            }
            Map<GgmlType, Integer> types = new EnumMap<>(GgmlType.class);
            for (Planned p : plan) {
                WeightTransform.RowTransform rt = o.transform().forTensor(p.source().name(), p.source());
                int heads = p.mapping().permute().isEmpty() ? 0 : p.mapping().permute().get().equals("n_head") ? cfg.heads() : cfg.kvHeads();
                long rowLen = p.shape()[p.shape().length - 1];
                w.addTensor(p.ggufName(), p.type(), p.shape(),
                        new SourceRows(store, p.source(), p.type(), rowLen, heads, rt, channels, overflow, 1f));
                types.merge(p.type(), 1, Integer::sum);
            }
            if ("llama3".equals(cfg.ropeType())) types.merge(GgmlType.F32, 1, Integer::sum);
            GgufWriter.Layout layout = w.write(out, o.force(), progress, o.threads());
            return new Result(w.tensors().size(), layout.fileSize(), types, overflow.get(), notes);
        }
    }

    static List<Planned> plan(TensorStore store, LlamaConfig cfg, NameMap map, OutType out, List<String> notes) {
        List<Planned> plan = new ArrayList<>();
        boolean hasOutput = false;
        for (TensorInfo t : store.tensors()) {
            if (map.ignored(t.name())) continue;
            NameMap.Mapped m = map.map(t.name()).orElseThrow(() -> new BadInputException(store.source(),
                    "tensor '" + t.name() + "' has no GGUF name (no rule in converters/" + MAP + ")"));
            hasOutput |= m.target().equals("output.weight");
        }
        if (!hasOutput && !cfg.tiedEmbeddings()) notes.add("no lm_head.weight: llama.cpp will use token_embd for the output (tied embeddings)");
        for (TensorInfo t : store.tensors()) {
            if (map.ignored(t.name())) continue;
            NameMap.Mapped m = map.map(t.name()).orElseThrow();
            checkShape(store, cfg, t, m);
            long[] shape = t.shape();
            long[] ne = reverse(shape);
            int layer = layerOf(m.target());
            GgmlType type = out.followsLlamaQuantize()
                    ? TensorTypes.llamaQuantize(out, m.target(), ne, m.forceF32(), layer, cfg.layers(), !hasOutput)
                    : TensorTypes.converter(out, m.target(), ne, m.forceF32());
            if (type == GgmlType.F16 && out.defaultType().isQuantized() && ne.length > 1) {
                notes.add(m.target() + ": rows of " + ne[0] + " values do not fit " + out.defaultType() + " blocks; written as F16");
            }
            String file = store.region(t.name()).map(r -> r.file().getFileName().toString()).orElse("");
            plan.add(new Planned(m.target(), type, shape, t, m, layer, file + "\u0000" + t.name()));
        }
        // convert_hf_to_gguf.py reads shards in file-name order and each shard's tensors in name order
        plan.sort(Comparator.comparing(Planned::sortKey));
        return plan;
    }

    private static void checkShape(TensorStore store, LlamaConfig cfg, TensorInfo t, NameMap.Mapped m) {
        long[] s = t.shape();
        String g = m.target();
        long expectRows = -1;
        if (g.endsWith("attn_q.weight") || g.endsWith("attn_q.bias")) expectRows = (long) cfg.heads() * cfg.headDim();
        if (g.endsWith("attn_k.weight") || g.endsWith("attn_k.bias")) expectRows = (long) cfg.kvHeads() * cfg.headDim();
        if (expectRows >= 0 && (s.length == 0 || s[0] != expectRows)) {
            throw new BadInputException(store.source(), "tensor '" + t.name() + "' has shape " + t.shapeString() + ", but config.json implies "
                    + expectRows + " rows (heads × head_dim); the Q/K permutation needs them");
        }
        if ((g.equals("token_embd.weight") || g.equals("output.weight")) && (s.length != 2 || s[0] != cfg.vocab() || s[1] != cfg.hidden())) {
            throw new BadInputException(store.source(), "tensor '" + t.name() + "' has shape " + t.shapeString() + ", expected [" + cfg.vocab() + ", " + cfg.hidden() + "] from config.json");
        }
        if (s.length > 4 || s.length == 0) throw new BadInputException(store.source(), "tensor '" + t.name() + "' has " + s.length + " dimensions");
    }

    static int layerOf(String ggufName) {
        if (!ggufName.startsWith("blk.")) return -1;
        int dot = ggufName.indexOf('.', 4);
        return Integer.parseInt(ggufName.substring(4, dot));
    }

    static long[] reverse(long[] shape) {
        long[] ne = new long[shape.length];
        for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
        return ne;
    }

    private static void metadata(GgufWriter w, LlamaConfig cfg, Options o, Path modelDir, Map<String, GgufValue> tokenizer) {
        w.put("general.architecture", GgufValue.str("llama"));
        w.put("general.type", GgufValue.str("model"));
        String name = o.name() != null ? o.name() : modelDir.toAbsolutePath().normalize().getFileName().toString();
        w.put("general.name", GgufValue.str(name));
        w.put("llama.block_count", GgufValue.u32(cfg.layers()));
        w.put("llama.context_length", GgufValue.u32(cfg.contextLength()));
        w.put("llama.embedding_length", GgufValue.u32(cfg.hidden()));
        w.put("llama.feed_forward_length", GgufValue.u32(cfg.intermediate()));
        w.put("llama.attention.head_count", GgufValue.u32(cfg.heads()));
        w.put("llama.attention.head_count_kv", GgufValue.u32(cfg.kvHeads()));
        w.put("llama.rope.freq_base", GgufValue.f32((float) cfg.ropeTheta()));
        w.put("llama.attention.layer_norm_rms_epsilon", GgufValue.f32((float) cfg.rmsEps()));
        if (cfg.headDimInConfig()) {
            w.put("llama.attention.key_length", GgufValue.u32(cfg.headDim()));
            w.put("llama.attention.value_length", GgufValue.u32(cfg.headDim()));
        }
        w.put("general.file_type", GgufValue.u32(o.outType().fileType()));
        w.put("llama.vocab_size", GgufValue.u32(cfg.vocab()));
        w.put("llama.rope.dimension_count", GgufValue.u32(cfg.headDim()));
        w.put("general.quantization_version", GgufValue.u32(2));
        tokenizer.forEach(w::put);
    }
}
