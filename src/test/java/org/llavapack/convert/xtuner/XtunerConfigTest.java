package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;

class XtunerConfigTest {

    @Test
    void readsThePallavaTinyConfig() {
        XtunerConfig c = XtunerConfig.read(TestPaths.checkpoint("xtuner-workdir/pallava_tiny_config.py"));
        assertEquals(Optional.of("test-checkpoints/tiny-llama"), c.llmName());
        assertEquals(Optional.of("test-checkpoints/tiny-plip"), c.visualEncoderName());
        XtunerConfig.LoraSettings l = c.llmLora().orElseThrow();
        assertEquals(Optional.of(8L), l.r());
        assertEquals(Optional.of(16L), l.alpha().map(Number::longValue));
        assertTrue(l.alpha().orElseThrow() instanceof Long, "an int in Python stays an int");
        assertEquals(Optional.of(0.05), l.dropout());
        assertEquals(Optional.of("none"), l.bias());
        assertEquals(Optional.of("CAUSAL_LM"), l.taskType());
        assertEquals(Optional.empty(), l.targetModules());
        assertEquals(Optional.empty(), c.visualEncoderLora());
        assertEquals(Optional.of("llama3_chat"), c.promptTemplate());
        assertEquals(Optional.empty(), c.visualSelectLayer());
        assertEquals(new XtunerConfig.ProjectorSettings(Optional.empty(), Optional.of(1), Optional.of(2), Optional.of(1),
                Optional.of(false)), c.projector());
        assertEquals(List.of(), c.warnings());
    }

    @Test
    void readsTheUpstreamXtunerLlavaStyle() {
        String cfg = """
                from xtuner.utils import PROMPT_TEMPLATE
                llm_name_or_path = 'meta-llama/Meta-Llama-3-8B-Instruct'
                visual_encoder_name_or_path = 'openai/clip-vit-large-patch14-336'
                prompt_template = PROMPT_TEMPLATE.llama3_chat
                max_length = int(2048 - (336 / 14)**2)
                model = dict(
                    type=LLaVAModel,
                    freeze_llm=True,
                    pretrained_pth=pretrained_pth,
                    llm=dict(
                        type=AutoModelForCausalLM.from_pretrained,
                        pretrained_model_name_or_path=llm_name_or_path,
                        trust_remote_code=True,
                        torch_dtype=torch.float16),
                    llm_lora=dict(
                        type=LoraConfig,
                        r=512,
                        lora_alpha=256.0,
                        lora_dropout=0.05,
                        target_modules=['q_proj', 'v_proj'],
                        bias='none',
                        task_type='CAUSAL_LM'),
                    visual_encoder=dict(
                        type=CLIPVisionModel.from_pretrained,
                        pretrained_model_name_or_path=visual_encoder_name_or_path),
                    visual_encoder_lora=dict(
                        type=LoraConfig, r=64, lora_alpha=16, lora_dropout=0.05, bias='none', init_lora_weights='gaussian'),
                    visual_select_layer=-2)
                if True:
                    lr = 1
                """;
        XtunerConfig c = XtunerConfig.parse(cfg, "llava.py");
        assertEquals(Optional.of("meta-llama/Meta-Llama-3-8B-Instruct"), c.llmName());
        assertEquals(Optional.of("openai/clip-vit-large-patch14-336"), c.visualEncoderName());
        assertEquals(Optional.of(256.0), c.llmLora().orElseThrow().alpha());
        assertEquals(Optional.of(List.of("q_proj", "v_proj")), c.llmLora().orElseThrow().targetModules());
        assertEquals(Optional.of(64L), c.visualEncoderLora().orElseThrow().r());
        assertEquals(Optional.of(-2), c.visualSelectLayer());
        assertEquals(2, c.warnings().size(), c.warnings().toString());
        assertTrue(c.warnings().get(0).contains("'if' block not evaluated"), c.warnings().toString());
        assertTrue(c.warnings().get(1).contains("init_lora_weights not used"), c.warnings().toString());
    }

    @Test
    void unreadableValuesAreReported() {
        XtunerConfig c = XtunerConfig.parse("""
                alpha = get_alpha()
                model = dict(llm_lora=dict(type=LoraConfig, r=8, lora_alpha=alpha, lora_dropout=[x for x in y]),
                             llm=dict(pretrained_model_name_or_path=os.environ['LLM']))
                """, "c.py");
        List<String> w = c.warnings();
        assertTrue(w.stream().anyMatch(s -> s.contains("model.llm_lora.lora_alpha") && s.contains("get_alpha")), w.toString());
        assertTrue(w.stream().anyMatch(s -> s.contains("model.llm_lora.lora_dropout") && s.contains("comprehension")), w.toString());
        assertTrue(w.stream().anyMatch(s -> s.contains("model.llm.pretrained_model_name_or_path")), w.toString());
        assertEquals(Optional.empty(), c.llmLora().orElseThrow().alpha());
        assertEquals(Optional.of(8L), c.llmLora().orElseThrow().r());
        assertTrue(XtunerConfig.parse("x = 1\n", "c.py").warnings().contains("no top-level 'model = dict(...)' found"));
    }

    @Test
    void unreadableFilesAreBadInput(@TempDir Path dir) throws Exception {
        Path binary = dir.resolve("bin.py");
        Files.write(binary, new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, 2});
        assertThrows(BadInputException.class, () -> XtunerConfig.read(binary));
        Path nul = dir.resolve("nul.py");
        Files.writeString(nul, "a = 1\u0000\n");
        BadInputException e = assertThrows(BadInputException.class, () -> XtunerConfig.read(nul));
        assertEquals(nul.toString(), e.file());
    }
}
