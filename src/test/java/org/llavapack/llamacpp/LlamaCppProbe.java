package org.llavapack.llamacpp;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.CacheType;
import de.kherud.llama.args.LogFormat;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Runs llama.cpp (b4916, the native library bundled in de.kherud:llama 4.2.0) on files llavapack wrote. It must run in
 * its own JVM: the library can abort the process, and the binding leaves a native thread that keeps the JVM alive, so
 * this ends with {@link System#exit}. Arguments and text results travel base64-encoded; one result per stdout line
 * as {@code key<TAB>value}.
 *
 * <pre>
 *   gguf-check FILE...                    the C GGUF reader (gguf_init_from_file, reading the data blob too)
 *   quantize (TYPE IN.f32 OUT.bin)...     quantize_row_TYPE_ref on little-endian floats (q8_0 q4_0 q5_0 q4_K q6_K)
 *   dequantize TYPE IN.bin N OUT.f32      dequantize_row_TYPE
 *   model FILE [lora FILE] [encode B64]... [generate N B64PROMPT]   load with de.kherud, tokenize, greedy-generate
 *   greedy FILE LORA|- SCALE N OUT.f32 ID...   the C API through FFM: feed token ids, take the argmax N times and
 *                                         write every step's logits (N × n_vocab floats)
 * </pre>
 *
 * <p>{@code greedy} calls llama.cpp's C API directly (the binding has no logits API). Structs passed by value are
 * larger than 16 bytes, so the x86-64 ABI passes them in memory; declaring them as generously sized blocks of longs
 * is therefore ABI-compatible without knowing b4916's field layout, and the library's defaults are used unchanged
 * (n_ctx 512, CPU, F16 KV cache).
 */
public final class LlamaCppProbe {
    private static final PrintStream OUT = System.out;

    public static void main(String[] args) throws Throwable {
        int code = 0;
        String tmp = System.getProperty("de.kherud.llama.tmpdir");
        if (tmp != null) Files.createDirectories(Path.of(tmp));
        try {
            switch (args[0]) {
                case "gguf-check" -> {
                    for (int i = 1; i < args.length; i++) ggufCheck(Path.of(args[i]));
                }
                case "quantize" -> {
                    for (int i = 1; i + 2 < args.length; i += 3) quantize(args[i], Path.of(args[i + 1]), Path.of(args[i + 2]));
                }
                case "dequantize" -> dequantize(args[1], Path.of(args[2]), Long.parseLong(args[3]), Path.of(args[4]));
                case "model" -> model(args);
                case "greedy" -> greedy(args);
                default -> throw new IllegalArgumentException(args[0]);
            }
        } catch (Throwable t) {
            OUT.println("error\t" + t);
            t.printStackTrace();
            code = 1;
        }
        OUT.flush();
        System.exit(code);
    }

    /** Loads libjllama.so the way the binding does, then looks its C symbols up. */
    private static SymbolLookup library() throws ClassNotFoundException {
        Class.forName("de.kherud.llama.LlamaModel", true, LlamaCppProbe.class.getClassLoader());
        return SymbolLookup.loaderLookup();
    }

    private static MethodHandle fn(SymbolLookup lib, String name, FunctionDescriptor fd) {
        return Linker.nativeLinker().downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("no symbol " + name)), fd);
    }

    private static void ggufCheck(Path file) throws Throwable {
        SymbolLookup lib = library();
        MemoryLayout params = MemoryLayout.structLayout(ValueLayout.JAVA_BOOLEAN.withName("no_alloc"), MemoryLayout.paddingLayout(7),
                ValueLayout.ADDRESS.withName("ctx"));
        MethodHandle init = fn(lib, "gguf_init_from_file", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, params));
        MethodHandle nTensors = fn(lib, "gguf_get_n_tensors", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        MethodHandle nKv = fn(lib, "gguf_get_n_kv", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        MethodHandle dataOffset = fn(lib, "gguf_get_data_offset", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        MethodHandle free = fn(lib, "gguf_free", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        MethodHandle ggmlFree = fn(lib, "ggml_free", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ctxOut = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment p = arena.allocate(params);
            p.set(ValueLayout.JAVA_BOOLEAN, 0, false);
            p.set(ValueLayout.ADDRESS, 8, ctxOut);
            MemorySegment ctx = (MemorySegment) init.invokeExact(arena.allocateFrom(file.toString()), p);
            String f = file.getFileName().toString();
            if (ctx.equals(MemorySegment.NULL)) {
                OUT.println("gguf:" + f + "\tfail");
                return;
            }
            OUT.println("gguf:" + f + "\tok " + (long) nTensors.invokeExact(ctx) + " " + (long) nKv.invokeExact(ctx) + " " + (long) dataOffset.invokeExact(ctx));
            free.invokeExact(ctx);
            MemorySegment gctx = ctxOut.get(ValueLayout.ADDRESS, 0);
            if (!gctx.equals(MemorySegment.NULL)) ggmlFree.invokeExact(gctx);
        }
    }

    private static int blockBytes(String type) {
        return switch (type) {
            case "q8_0" -> 34;
            case "q4_0" -> 18;
            case "q5_0" -> 22;
            case "q4_K" -> 144;
            case "q6_K" -> 210;
            default -> throw new IllegalArgumentException(type);
        };
    }

    private static int blockSize(String type) {
        return type.endsWith("_K") ? 256 : 32;
    }

    private static void quantize(String type, Path in, Path out) throws Throwable {
        SymbolLookup lib = library();
        MethodHandle q = fn(lib, "quantize_row_" + type + "_ref", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        byte[] raw = Files.readAllBytes(in);
        long n = raw.length / 4;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(raw.length, 16);
            MemorySegment.copy(raw, 0, x, ValueLayout.JAVA_BYTE, 0, raw.length);
            long outBytes = n / blockSize(type) * blockBytes(type);
            MemorySegment y = arena.allocate(outBytes, 16);
            q.invokeExact(x, y, n);
            Files.write(out, y.toArray(ValueLayout.JAVA_BYTE));
        }
        OUT.println("quantized:" + out.getFileName() + "\t" + n);
    }

    private static void dequantize(String type, Path in, long n, Path out) throws Throwable {
        SymbolLookup lib = library();
        MethodHandle d = fn(lib, "dequantize_row_" + type, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        byte[] raw = Files.readAllBytes(in);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(raw.length, 16);
            MemorySegment.copy(raw, 0, x, ValueLayout.JAVA_BYTE, 0, raw.length);
            MemorySegment y = arena.allocate(n * 4, 16);
            d.invokeExact(x, y, n);
            Files.write(out, y.toArray(ValueLayout.JAVA_BYTE));
        }
        OUT.println("dequantized\t" + n);
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String unb64(String s) {
        return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
    }

    private static void model(String[] args) {
        LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> System.err.print("[llama.cpp " + level + "] " + msg));
        ModelParameters mp = new ModelParameters().setModel(args[1]).setCtxSize(512).setThreads(2).setThreadsBatch(2)
                .setGpuLayers(0).setCacheTypeK(CacheType.F32).setCacheTypeV(CacheType.F32).enableCheckTensors().setSeed(1);
        int i = 2;
        if (i < args.length && args[i].equals("lora")) {
            mp.addLoraAdapter(args[i + 1]);
            i += 2;
        }
        try (LlamaModel model = new LlamaModel(mp)) {
            OUT.println("loaded\tok");
            for (; i < args.length; i++) {
                if (args[i].equals("encode")) {
                    String text = unb64(args[++i]);
                    int[] ids = model.encode(text);
                    StringBuilder sb = new StringBuilder();
                    for (int id : ids) sb.append(sb.isEmpty() ? "" : ",").append(id);
                    OUT.println("encode:" + args[i] + "\t" + sb);
                } else if (args[i].equals("generate")) {
                    int n = Integer.parseInt(args[++i]);
                    String prompt = unb64(args[++i]);
                    InferenceParameters ip = new InferenceParameters(prompt).setTemperature(0f).setTopK(1).setNPredict(n)
                            .setRepeatPenalty(1f).setSeed(1).setCachePrompt(false);
                    List<String> pieces = new ArrayList<>();
                    for (LlamaOutput o : model.generate(ip)) pieces.add(b64(o.text));
                    OUT.println("generate\t" + String.join(",", pieces));
                } else {
                    throw new IllegalArgumentException(args[i]);
                }
            }
        }
    }

    private static void greedy(String[] args) throws Throwable {
        Path model = Path.of(args[1]);
        String lora = args[2];
        float scale = Float.parseFloat(args[3]);
        int steps = Integer.parseInt(args[4]);
        Path out = Path.of(args[5]);
        int[] prompt = new int[args.length - 6];
        for (int i = 0; i < prompt.length; i++) prompt[i] = Integer.parseInt(args[6 + i]);
        SymbolLookup lib = library();
        MemoryLayout big = MemoryLayout.sequenceLayout(64, ValueLayout.JAVA_LONG); // 512 bytes, more than any of the structs
        MemoryLayout params = MemoryLayout.structLayout(big);
        MemoryLayout batch = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(16, ValueLayout.JAVA_LONG));
        fn(lib, "llama_backend_init", FunctionDescriptor.ofVoid()).invokeExact();
        MethodHandle modelDefaults = fn(lib, "llama_model_default_params", FunctionDescriptor.of(params));
        MethodHandle ctxDefaults = fn(lib, "llama_context_default_params", FunctionDescriptor.of(params));
        MethodHandle load = fn(lib, "llama_model_load_from_file", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, params));
        MethodHandle init = fn(lib, "llama_init_from_model", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, params));
        MethodHandle getVocab = fn(lib, "llama_model_get_vocab", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle nTokens = fn(lib, "llama_vocab_n_tokens", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        MethodHandle batchOne = fn(lib, "llama_batch_get_one", FunctionDescriptor.of(batch, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle decode = fn(lib, "llama_decode", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, batch));
        MethodHandle logitsIth = fn(lib, "llama_get_logits_ith", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle loraInit = fn(lib, "llama_adapter_lora_init", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle setLora = fn(lib, "llama_set_adapter_lora", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_FLOAT));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mp = (MemorySegment) modelDefaults.invokeExact((java.lang.foreign.SegmentAllocator) arena);
            MemorySegment m = (MemorySegment) load.invokeExact(arena.allocateFrom(model.toString()), mp);
            if (m.equals(MemorySegment.NULL)) throw new IllegalStateException("llama_model_load_from_file failed");
            MemorySegment cp = (MemorySegment) ctxDefaults.invokeExact((java.lang.foreign.SegmentAllocator) arena);
            MemorySegment ctx = (MemorySegment) init.invokeExact(m, cp);
            if (ctx.equals(MemorySegment.NULL)) throw new IllegalStateException("llama_init_from_model failed");
            if (!lora.equals("-")) {
                MemorySegment ad = (MemorySegment) loraInit.invokeExact(m, arena.allocateFrom(lora));
                if (ad.equals(MemorySegment.NULL)) throw new IllegalStateException("llama_adapter_lora_init failed");
                int rc = (int) setLora.invokeExact(ctx, ad, scale);
                if (rc != 0) throw new IllegalStateException("llama_set_adapter_lora returned " + rc);
                OUT.println("lora\tok");
            }
            int nVocab = (int) nTokens.invokeExact((MemorySegment) getVocab.invokeExact(m));
            OUT.println("n_vocab\t" + nVocab);
            MemorySegment toks = arena.allocate(ValueLayout.JAVA_INT, prompt.length + steps);
            for (int i = 0; i < prompt.length; i++) toks.setAtIndex(ValueLayout.JAVA_INT, i, prompt[i]);
            float[] all = new float[steps * nVocab];
            StringBuilder ids = new StringBuilder();
            MemorySegment b = (MemorySegment) batchOne.invokeExact((java.lang.foreign.SegmentAllocator) arena, toks, prompt.length);
            int pos = prompt.length;
            for (int s = 0; s < steps; s++) {
                int rc = (int) decode.invokeExact(ctx, b);
                if (rc != 0) throw new IllegalStateException("llama_decode returned " + rc);
                MemorySegment lg = ((MemorySegment) logitsIth.invokeExact(ctx, -1)).reinterpret(4L * nVocab);
                MemorySegment.copy(lg, ValueLayout.JAVA_FLOAT, 0, all, s * nVocab, nVocab);
                int best = 0;
                for (int v = 1; v < nVocab; v++) if (all[s * nVocab + v] > all[s * nVocab + best]) best = v;
                ids.append(ids.isEmpty() ? "" : ",").append(best);
                toks.setAtIndex(ValueLayout.JAVA_INT, pos, best);
                b = (MemorySegment) batchOne.invokeExact((java.lang.foreign.SegmentAllocator) arena, toks.asSlice(4L * pos), 1);
                pos++;
            }
            java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(4 * all.length).order(ByteOrder.LITTLE_ENDIAN);
            bb.asFloatBuffer().put(all);
            Files.write(out, bb.array());
            OUT.println("greedy\t" + ids);
        }
    }

    static float[] readFloats(Path p) throws java.io.IOException {
        byte[] b = Files.readAllBytes(p);
        java.nio.FloatBuffer fb = java.nio.ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] f = new float[fb.remaining()];
        fb.get(f);
        return f;
    }
}
