package org.llavapack.parity;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.llavapack.BadInputException;

/**
 * Turns a question into the token ids PA-LLaVA feeds its LLM: XTuner's {@code llama3_chat} template, BOS
 * {@code <|begin_of_text|>} in front, and {@code <image>} replaced by the placeholder id (each text chunk tokenized
 * on its own, as XTuner's {@code tokenizer_image_token} does). Tokenization is the model's own {@code tokenizer.json}
 * through DJL's HuggingFace tokenizers (Rust {@code tokenizers} under JNI), with special tokens matched in the text
 * and none added.
 */
public final class PromptTokenizer implements AutoCloseable {
    public static final String IMAGE = "<image>";
    public static final String BOS = "<|begin_of_text|>";

    private final HuggingFaceTokenizer tokenizer;

    private PromptTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Loads {@code dir/tokenizer.json}. */
    public static PromptTokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) throw new BadInputException(dir, "no tokenizer.json to tokenize the prompt (or give input_ids in --inputs)");
        try {
            return TorchEngine.underInitLock(() -> {
                try {
                    return new PromptTokenizer(HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "false")));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (org.llavapack.OutputException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new BadInputException(file, "DJL's HuggingFace tokenizer could not load it: " + e.getMessage(), e);
        }
    }

    /** XTuner's llama3_chat prompt for one user turn without a system prompt (PA-LLaVA's evaluation). */
    public static String llama3Chat(String input) {
        return BOS + "<|start_header_id|>user<|end_header_id|>\n\n" + input + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    }

    /** Ids of {@code text}, with {@link LlamaForward#IMAGE_TOKEN} for each {@code <image>}. */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        String[] chunks = text.split(java.util.regex.Pattern.quote(IMAGE), -1);
        for (int i = 0; i < chunks.length; i++) {
            if (i > 0) ids.add(LlamaForward.IMAGE_TOKEN);
            if (chunks[i].isEmpty()) continue;
            for (long id : tokenizer.encode(chunks[i]).getIds()) ids.add((int) id);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return tokenizer.decode(l, false);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
