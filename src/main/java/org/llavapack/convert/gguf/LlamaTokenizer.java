package org.llavapack.convert.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.convert.HfFolder;
import org.llavapack.formats.gguf.GgufValue;

/**
 * The {@code tokenizer.*} KV pairs for a Llama-3-style byte-level BPE tokenizer, built from {@code tokenizer.json},
 * {@code tokenizer_config.json} and {@code config.json} the way convert_hf_to_gguf.py does
 * ({@code get_vocab_base}, {@code _set_vocab_gpt2}, gguf-py {@code SpecialVocab}).
 *
 * <p>Pre-tokenizer: llama.cpp needs {@code tokenizer.ggml.pre} to name its pre-tokenizer. The converter identifies it by
 * hashing the HF tokenizer's ids for a check string, a hash that depends on the vocabulary; llavapack instead checks
 * that {@code tokenizer.json} uses exactly Llama-3's pipeline (no normalizer, Split with the Llama-3 regex, Isolated,
 * then ByteLevel without prefix space or regex, model BPE) and then writes {@code llama-bpe}, as the spec allows.
 * Anything else is refused rather than guessed.
 */
public final class LlamaTokenizer {
    private LlamaTokenizer() {}

    /** Llama-3's pre-tokenizer regex as it appears (JSON-decoded) in tokenizer.json. */
    public static final String LLAMA3_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    public static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

    private static final String[] SPECIAL_TYPES = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
    private static final Map<String, String> ID_KEYS = Map.of(
            "bos", "tokenizer.ggml.bos_token_id", "eos", "tokenizer.ggml.eos_token_id",
            "unk", "tokenizer.ggml.unknown_token_id", "sep", "tokenizer.ggml.seperator_token_id",
            "pad", "tokenizer.ggml.padding_token_id", "cls", "tokenizer.ggml.cls_token_id",
            "mask", "tokenizer.ggml.mask_token_id", "eot", "tokenizer.ggml.eot_token_id");

    /** The KV pairs in the order the converter writes them. */
    public static LinkedHashMap<String, GgufValue> export(Path modelDir, int vocabSize) {
        Path tj = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tj)) {
            if (Files.isRegularFile(modelDir.resolve("tokenizer.model"))) {
                throw new BadInputException(modelDir, "SentencePiece tokenizer (tokenizer.model, Llama 1/2) is not supported; export gguf handles Llama-3 byte-level BPE tokenizers (tokenizer.json)");
            }
            throw new BadInputException(modelDir, "no tokenizer.json: a GGUF model needs its tokenizer");
        }
        JsonNode tok = HfFolder.readJson(tj);
        JsonNode model = tok.path("model");
        if (!model.path("type").asText("").equals("BPE")) {
            throw new BadInputException(tj, "tokenizer model type '" + model.path("type").asText("?") + "' is not BPE");
        }
        checkLlama3PreTokenizer(tj, tok);

        // id -> token, from the BPE vocab and the added tokens (HF's tokenizer.vocab holds both)
        Map<Integer, String> reverse = new HashMap<>();
        JsonNode vocab = model.path("vocab");
        if (!vocab.isObject()) throw new BadInputException(tj, "model.vocab is not an object");
        for (Map.Entry<String, JsonNode> e : vocab.properties()) reverse.put(e.getValue().asInt(), e.getKey());
        Map<Integer, JsonNode> added = new HashMap<>();
        for (JsonNode a : tok.path("added_tokens")) {
            int id = a.path("id").asInt(-1);
            String content = a.path("content").asText(null);
            if (id < 0 || content == null) throw new BadInputException(tj, "added token without id or content: " + a);
            reverse.put(id, content);
            added.put(id, a);
        }
        int maxId = reverse.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
        if (maxId >= vocabSize) {
            throw new BadInputException(tj, "token id " + maxId + " is outside config.json's vocab_size " + vocabSize);
        }
        List<String> tokens = new ArrayList<>(vocabSize);
        int[] types = new int[vocabSize];
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < vocabSize; i++) {
            String t = reverse.get(i);
            int type;
            if (t == null) {
                t = "[PAD" + i + "]";
                type = UNUSED;
            } else if (added.containsKey(i)) {
                JsonNode a = added.get(i);
                if (a.path("special").asBoolean(false) || looksSpecial(t)) {
                    type = CONTROL;
                } else {
                    t = t.replace("\u2581", " ");
                    type = USER_DEFINED;
                }
            } else {
                type = NORMAL;
            }
            if (!seen.add(t)) throw new BadInputException(tj, "token '" + t + "' appears twice (llama.cpp rejects duplicate tokens)");
            tokens.add(t);
            types[i] = type;
        }

        List<String> merges = merges(tj, model.path("merges"));
        if (merges.isEmpty()) throw new BadInputException(tj, "no merges: a byte-level BPE (gpt2) vocabulary needs them");

        Path tcPath = modelDir.resolve("tokenizer_config.json");
        JsonNode tc = Files.isRegularFile(tcPath) ? HfFolder.readJson(tcPath) : null;
        Map<String, String> tcTokens = new HashMap<>();
        if (tc != null) {
            for (String typ : SPECIAL_TYPES) {
                String content = tokenContent(tc.get(typ + "_token"));
                if (content != null) tcTokens.put(typ, content);
            }
            if (!tcTokens.containsKey("bos") && tcTokens.containsKey("cls")) tcTokens.put("bos", tcTokens.get("cls"));
            if (!tcTokens.containsKey("eos") && tcTokens.containsKey("sep")) tcTokens.put("eos", tcTokens.get("sep"));
        }
        List<String> types2 = new ArrayList<>(List.of(SPECIAL_TYPES));
        LinkedHashMap<String, Boolean> addSpecial = new LinkedHashMap<>();
        // TemplateProcessing decides add_bos / add_eos (and may turn the old eos into eot)
        JsonNode pp = tok.path("post_processor");
        if (pp.isObject()) {
            List<JsonNode> procs = new ArrayList<>();
            if (pp.has("processors")) pp.get("processors").forEach(procs::add);
            else procs.add(pp);
            for (JsonNode proc : procs) {
                if (!proc.path("type").asText("").equals("TemplateProcessing")) continue;
                JsonNode single = proc.path("single");
                if (single.size() > 1) {
                    String first = single.get(0).path("SpecialToken").path("id").asText(null);
                    if (first != null) {
                        if (tc == null) tcTokens.put("bos", first);
                        addSpecial.put("bos", first.equals(tcTokens.get("bos")) || first.equals(tcTokens.get("cls")));
                    }
                    String last = single.get(single.size() - 1).path("SpecialToken").path("id").asText(null);
                    if (last != null) {
                        if (tc == null) {
                            tcTokens.put("eos", last);
                        } else if (!last.equals(tcTokens.get("eos"))) {
                            if (!types2.contains("eot")) {
                                types2.add("eot");
                                if (tcTokens.get("eos") != null) tcTokens.put("eot", tcTokens.get("eos"));
                            }
                            tcTokens.put("eos", last);
                        }
                        addSpecial.put("eos", last.equals(tcTokens.get("eos")));
                    }
                }
                break;
            }
        }
        LinkedHashMap<String, Integer> ids = new LinkedHashMap<>();
        if (tc != null) {
            for (String typ : types2) {
                JsonNode add = tc.get("add_" + typ + "_token");
                if (add != null && add.isBoolean()) addSpecial.put(typ, add.booleanValue());
                String content = tcTokens.get(typ);
                if (content == null) continue;
                for (JsonNode a : tok.path("added_tokens")) {
                    if (content.equals(a.path("content").asText(null))) {
                        setSpecial(ids, typ, a.path("id").asInt(), vocabSize, tj);
                        break;
                    }
                }
            }
        }
        Path cfg = modelDir.resolve("config.json");
        if (Files.isRegularFile(cfg)) {
            JsonNode c = HfFolder.readJson(cfg);
            for (String typ : types2) {
                JsonNode id = c.get(typ + "_token_id");
                if (id != null && id.isIntegralNumber()) setSpecial(ids, typ, id.asInt(), vocabSize, cfg);
            }
        }

        LinkedHashMap<String, GgufValue> kv = new LinkedHashMap<>();
        kv.put("tokenizer.ggml.model", GgufValue.str("gpt2"));
        kv.put("tokenizer.ggml.pre", GgufValue.str("llama-bpe"));
        kv.put("tokenizer.ggml.tokens", GgufValue.strings(tokens));
        kv.put("tokenizer.ggml.token_type", GgufValue.i32s(types));
        kv.put("tokenizer.ggml.merges", GgufValue.strings(merges));
        ids.forEach((typ, id) -> kv.put(ID_KEYS.get(typ), GgufValue.u32(id)));
        addSpecial.forEach((typ, v) -> {
            if (typ.equals("bos") || typ.equals("eos")) kv.put("tokenizer.ggml.add_" + typ + "_token", GgufValue.bool(v));
        });
        chatTemplate(modelDir, tc, kv);
        return kv;
    }

    private static void setSpecial(Map<String, Integer> ids, String typ, int id, int vocab, Path from) {
        if (ids.containsKey(typ)) return;
        if (id < 0 || id >= vocab) throw new BadInputException(from, typ + " token id " + id + " is outside the vocabulary of " + vocab);
        ids.put(typ, id);
    }

    private static String tokenContent(JsonNode n) {
        if (n == null) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.path("content").isTextual()) return n.get("content").asText();
        return null;
    }

    /** convert_hf_to_gguf.py {@code does_token_look_special}. */
    static boolean looksSpecial(String t) {
        return t.equals("<pad>") || t.equals("<mask>") || t.equals("<2mass>") || t.equals("[@BOS@]")
                || (t.startsWith("<|") && t.endsWith("|>"))
                || (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>"))
                || (t.startsWith("<unused") && t.endsWith(">"));
    }

    private static List<String> merges(Path tj, JsonNode m) {
        List<String> out = new ArrayList<>(m.size());
        for (JsonNode e : m) {
            if (e.isTextual()) {
                out.add(e.asText());
            } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                // transformers >= 4.45 stores pairs; spaces inside a part are written as U+0120 (gguf-py SpecialVocab)
                out.add(e.get(0).asText().replace(' ', '\u0120') + " " + e.get(1).asText().replace(' ', '\u0120'));
            } else {
                throw new BadInputException(tj, "unknown merges format: " + e);
            }
        }
        return out;
    }

    private static void checkLlama3PreTokenizer(Path tj, JsonNode tok) {
        JsonNode pre = tok.path("pre_tokenizer");
        boolean ok = tok.path("normalizer").isNull() || tok.path("normalizer").isMissingNode();
        JsonNode steps = pre.path("pretokenizers");
        ok &= pre.path("type").asText("").equals("Sequence") && steps.size() == 2;
        if (ok) {
            JsonNode split = steps.get(0), bl = steps.get(1);
            ok = split.path("type").asText("").equals("Split")
                    && LLAMA3_REGEX.equals(split.path("pattern").path("Regex").asText(null))
                    && split.path("behavior").asText("").equals("Isolated")
                    && !split.path("invert").asBoolean(false)
                    && bl.path("type").asText("").equals("ByteLevel")
                    && !bl.path("add_prefix_space").asBoolean(true)
                    && !bl.path("use_regex").asBoolean(true);
        }
        if (!ok) {
            String found = pre.toString();
            if (found.length() > 300) found = found.substring(0, 300) + "…";
            throw new BadInputException(tj, "unknown pre-tokenizer: export gguf recognises only Llama-3's (normalizer null; Split with the Llama-3 regex, "
                    + "Isolated; ByteLevel without prefix space or regex), which llama.cpp calls 'llama-bpe', and refuses to guess others. Found: " + found);
        }
    }

    private static void chatTemplate(Path dir, JsonNode tc, Map<String, GgufValue> kv) {
        JsonNode tpl = tc == null ? null : tc.get("chat_template");
        if (tpl == null || tpl.isNull()) {
            Path jinja = dir.resolve("chat_template.jinja"), json = dir.resolve("chat_template.json");
            try {
                if (Files.isRegularFile(jinja)) {
                    kv.put("tokenizer.chat_template", GgufValue.str(Files.readString(jinja, StandardCharsets.UTF_8)));
                    return;
                }
            } catch (IOException e) {
                throw OutputException.of(jinja, e);
            }
            if (Files.isRegularFile(json)) tpl = HfFolder.readJson(json).get("chat_template");
        }
        if (tpl == null || tpl.isNull()) return;
        if (tpl.isTextual()) {
            kv.put("tokenizer.chat_template", GgufValue.str(tpl.asText()));
            return;
        }
        if (tpl.isArray()) {
            String def = null;
            TreeSet<String> names = new TreeSet<>();
            Map<String, String> named = new LinkedHashMap<>();
            for (JsonNode choice : tpl) {
                String name = choice.path("name").asText("").replaceAll("[^A-Za-z0-9]", "_");
                JsonNode t = choice.get("template");
                if (name.isEmpty() || t == null || !t.isTextual()) continue;
                if (name.equals("default")) def = t.asText();
                else {
                    names.add(name);
                    named.put(name, t.asText());
                }
            }
            named.forEach((n, t) -> kv.put("tokenizer.chat_template." + n, GgufValue.str(t)));
            if (!names.isEmpty()) kv.put("tokenizer.chat_templates", GgufValue.strings(List.copyOf(names)));
            if (def != null) kv.put("tokenizer.chat_template", GgufValue.str(def));
        }
    }
}
