package org.llavapack.convert.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import org.llavapack.convert.HfFolder;
import org.llavapack.parity.OnnxDecoder;
import org.llavapack.parity.OnnxModels;

/**
 * onnxruntime CPU decoding speed of an export (bench/onnx_export.sh; not a test): session load, one prefill of
 * PROMPT tokens, then GEN greedy steps with the KV cache through embed_tokens.onnx and decoder_model_merged.onnx.
 * Usage: OnnxDecodeBench EXPORT_DIR [PROMPT=64] [GEN=32] [THREADS=all]
 */
public final class OnnxDecodeBench {
    private OnnxDecodeBench() {}

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int prompt = args.length > 1 ? Integer.parseInt(args[1]) : 64, gen = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : Runtime.getRuntime().availableProcessors();
        JsonNode l = HfFolder.readJson(dir.resolve("export_config.json")).get("llm");
        int vocab = l.get("vocab_size").asInt();
        try (OnnxModels m = new OnnxModels(dir, threads);
             OnnxDecoder d = new OnnxDecoder(m, l.get("num_hidden_layers").asInt(), l.get("num_key_value_heads").asInt(), l.get("head_dim").asInt(),
                     l.get("hidden_size").asInt(), vocab)) {
            long t0 = System.nanoTime();
            m.session("embed_tokens.onnx");
            m.session("decoder_model_merged.onnx");
            double load = (System.nanoTime() - t0) / 1e9;
            long[] ids = new long[prompt];
            for (int i = 0; i < prompt; i++) ids[i] = (i * 7919L + 13) % vocab;
            float[] emb = m.run("embed_tokens.onnx", Map.of("input_ids", new OnnxModels.Input.Longs(ids, 1, prompt)), "inputs_embeds");
            long t1 = System.nanoTime();
            float[] logits = d.step(emb, prompt);
            double prefill = (System.nanoTime() - t1) / 1e9;
            int next = argmax(logits, prompt - 1, vocab);
            long t2 = System.nanoTime();
            for (int i = 0; i < gen; i++) {
                float[] row = m.run("embed_tokens.onnx", Map.of("input_ids", new OnnxModels.Input.Longs(new long[] {next}, 1, 1)), "inputs_embeds");
                next = argmax(d.step(row, 1), 0, vocab);
            }
            double decode = (System.nanoTime() - t2) / 1e9;
            System.out.printf(Locale.ROOT, "{\"threads\": %d, \"load_s\": %.2f, \"prompt\": %d, \"prefill_s\": %.3f, \"prefill_tok_s\": %.1f, \"gen\": %d, \"decode_s\": %.3f, \"decode_tok_s\": %.2f}%n",
                    threads, load, prompt, prefill, prompt / prefill, gen, decode, gen / decode);
        }
    }

    static int argmax(float[] logits, int row, int vocab) {
        int best = 0;
        for (int v = 1; v < vocab; v++) if (logits[row * vocab + v] > logits[row * vocab + best]) best = v;
        return best;
    }
}
