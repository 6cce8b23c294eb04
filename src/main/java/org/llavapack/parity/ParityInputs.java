package org.llavapack.parity;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Optional;
import java.util.SplittableRandom;
import org.llavapack.BadInputException;
import org.llavapack.convert.HfFolder;

/**
 * What the components are fed. Defaults are deterministic: seeded pixel values, seeded connector features, and a fixed
 * pathology question in the llama3_chat template. {@code --inputs FILE} (JSON) may set {@code image} (PNG/JPEG path,
 * relative to the file), {@code question}, {@code template} ({@code llama3_chat} or {@code none}: the question is
 * the whole prompt), {@code input_ids} (skips the tokenizer), {@code seed} and {@code greedy_tokens}.
 */
public record ParityInputs(long seed, Optional<Path> image, String question, String template, Optional<int[]> inputIds, int greedyTokens) {

    public static final long DEFAULT_SEED = 20240612L;
    public static final String DEFAULT_QUESTION = PromptTokenizer.IMAGE + "\nDescribe the histological features of this tissue.";

    public static ParityInputs defaults() {
        return new ParityInputs(DEFAULT_SEED, Optional.empty(), DEFAULT_QUESTION, "llama3_chat", Optional.empty(), 16);
    }

    public static ParityInputs read(Path file) {
        JsonNode n = HfFolder.readJson(file);
        if (!n.isObject()) throw new BadInputException(file, "--inputs must be a JSON object");
        ParityInputs d = defaults();
        Optional<Path> image = n.hasNonNull("image") ? Optional.of(file.toAbsolutePath().getParent().resolve(n.get("image").asText())) : Optional.empty();
        Optional<int[]> ids = Optional.empty();
        if (n.has("input_ids")) {
            JsonNode a = n.get("input_ids");
            if (!a.isArray() || a.isEmpty()) throw new BadInputException(file, "input_ids must be a non-empty array of integers");
            int[] v = new int[a.size()];
            for (int i = 0; i < v.length; i++) v[i] = a.get(i).asInt();
            ids = Optional.of(v);
        }
        String template = n.path("template").asText(d.template());
        if (!template.equals("llama3_chat") && !template.equals("none")) throw new BadInputException(file, "template '" + template + "' is not llama3_chat or none");
        int greedy = n.path("greedy_tokens").asInt(d.greedyTokens());
        if (greedy < 0 || greedy > 1024) throw new BadInputException(file, "greedy_tokens must be 0..1024");
        return new ParityInputs(n.path("seed").asLong(d.seed()), image, n.path("question").asText(d.question()), template, ids, greedy);
    }

    public ParityInputs withGreedyTokens(int n) {
        return new ParityInputs(seed, image, question, template, inputIds, n);
    }

    public ParityInputs withSeed(long s) {
        return new ParityInputs(s, image, question, template, inputIds, greedyTokens);
    }

    /** The prompt text before tokenization. */
    public String prompt() {
        return template.equals("llama3_chat") ? PromptTokenizer.llama3Chat(question) : question;
    }

    /** Uniform values in [−1.8, 2.1] (about the CLIP-normalised range), {@code n} of them. */
    public float[] pixels(int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) (-1.8 + 3.9 * r.nextDouble());
        return out;
    }

    /** Standard normal values (Box–Muller), for connector inputs when no vision tower runs; {@code stream} separates uses. */
    public float[] normals(int n, long stream) {
        SplittableRandom r = new SplittableRandom(seed * 31 + stream);
        float[] out = new float[n];
        for (int i = 0; i < n; i += 2) {
            double u1 = 1.0 - r.nextDouble(), u2 = r.nextDouble();
            double rad = Math.sqrt(-2 * Math.log(u1));
            out[i] = (float) (rad * Math.cos(2 * Math.PI * u2));
            if (i + 1 < n) out[i + 1] = (float) (rad * Math.sin(2 * Math.PI * u2));
        }
        return out;
    }
}
