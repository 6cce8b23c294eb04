package org.llavapack.parity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.llavapack.TestPaths;

/** DJL's HuggingFace tokenizers on the tiny model's tokenizer.json, against the generator's own BPE. */
class PromptTokenizerTest {

    @Test
    void tokenizerCasesMatchTheGenerator() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(TestPaths.checkpoint("expected").resolve("tokenizer-cases.json").toFile());
        try (PromptTokenizer tok = PromptTokenizer.load(TestPaths.checkpoint("tiny-llama"))) {
            for (JsonNode c : cases.get("cases")) {
                int[] want = new int[c.get("ids").size()];
                for (int i = 0; i < want.length; i++) want[i] = c.get("ids").get(i).asInt();
                assertArrayEquals(want, tok.encode(c.get("text").asText()), c.get("text").asText());
            }
        }
    }

    @Test
    void fixturePromptAndTemplateWithImagePlaceholder() {
        try (PromptTokenizer tok = PromptTokenizer.load(TestPaths.checkpoint("tiny-llama"))) {
            // test-checkpoints README: BOS + "The tumor cells show nuclear pleomorphism and".
            assertArrayEquals(new int[] {500, 272, 307, 313, 277, 430, 295, 303, 78, 287, 79, 321, 76, 271},
                    tok.encode(PromptTokenizer.BOS + "The tumor cells show nuclear pleomorphism and"));
            int[] ids = tok.encode(PromptTokenizer.llama3Chat("<image>\nWhat?"));
            assertEquals(500, ids[0]);
            assertEquals(506, ids[1]);
            assertEquals(1, java.util.Arrays.stream(ids).filter(t -> t == LlamaForward.IMAGE_TOKEN).count());
            assertEquals(198, ids[ids.length - 1]);
            assertEquals("The tumor", tok.decode(new int[] {272, 307}));
        }
    }
}
