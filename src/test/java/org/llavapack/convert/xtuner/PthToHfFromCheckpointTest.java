package org.llavapack.convert.xtuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorInfo;

/**
 * convert pth-to-hf on the committed XTuner/DeepSpeed checkpoints, read through the safe torch reader, against the
 * values PyTorch computed when it wrote them (test-checkpoints/expected).
 */
class PthToHfFromCheckpointTest {

    @TempDir
    Path tmp;

    private static PthToHf.Options options(Optional<DType> dtype, PthToHf.Source source) {
        return new PthToHf.Options(Optional.empty(), Optional.empty(), dtype, source, 5_000_000_000L, false);
    }

    private static Path expected(String name) {
        return TestPaths.checkpoint("expected").resolve(name);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"xtuner-zero2-bf16/iter_8.pth,zero2-bf16", "xtuner-zero2-fp16/iter_8.pth,zero2-fp16",
            "xtuner-zero2-bf16-xattn/iter_8.pth,zero2-bf16-xattn", "xtuner-zero3-bf16/iter_8.pth,zero3-bf16",
            "xtuner-workdir,workdir-iter_8"})
    void fp32MastersEqualPytorchBitForBit(String checkpoint, String variant) throws IOException {
        Path out = tmp.resolve("f32");
        PthToHf.run(TestPaths.checkpoint(checkpoint), out, options(Optional.of(DType.F32), PthToHf.Source.MASTER), Progress.NONE);
        assertArrayEquals(Files.readAllBytes(expected("xtuner-" + variant + "-adapter-f32.safetensors")),
                Files.readAllBytes(out.resolve("llm_adapter/adapter_model.safetensors")), "adapter");
        assertSameTensors(expected("xtuner-" + variant + "-projector-f32.safetensors"), out.resolve("projector/model.safetensors"), null);
        JsonNode adapterConfig = new ObjectMapper().readTree(out.resolve("llm_adapter/adapter_config.json").toFile());
        assertEquals(8, adapterConfig.get("r").asInt());
        assertEquals(16, adapterConfig.get("lora_alpha").asInt(), "alpha from the config mmengine stored in meta.cfg");
        assertEquals("LORA", adapterConfig.get("peft_type").asText());
        assertEquals(7, adapterConfig.get("target_modules").size());
    }

    /** 16-bit output is the fp32 master rounded once (RNE), in the dtype the run trained in. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"xtuner-zero2-bf16/iter_8.pth,zero2-bf16,BF16", "xtuner-zero2-fp16/iter_8.pth,zero2-fp16,F16",
            "xtuner-zero3-bf16/iter_8.pth,zero3-bf16,BF16"})
    void autoDtypeRoundsMastersOnceToTheTrainingDtype(String checkpoint, String variant, DType dtype) throws IOException {
        Path out = tmp.resolve("auto");
        var result = PthToHf.run(TestPaths.checkpoint(checkpoint), out, options(Optional.empty(), PthToHf.Source.MASTER), Progress.NONE);
        assertEquals(dtype, result.export().dtype());
        assertSameTensors(expected("xtuner-" + variant + "-adapter-f32.safetensors"), out.resolve("llm_adapter/adapter_model.safetensors"), dtype);
        assertSameTensors(expected("xtuner-" + variant + "-projector-f32.safetensors"), out.resolve("projector/model.safetensors"), dtype);
        JsonNode record = new ObjectMapper().readTree(out.resolve("conversion.json").toFile());
        assertEquals(dtype.torchName(), record.get("dtype").asText());
        if (!variant.startsWith("zero3")) assertTrue(record.get("self_check").get("passed").asBoolean());
        for (JsonNode in : record.get("inputs")) {
            Path p = Path.of(in.get("path").asText());
            assertEquals(Files.size(p), in.get("size").asLong());
            assertEquals(sha256(p), in.get("sha256").asText(), p.toString());
        }
    }

    @Test
    void moduleSourceAndSingleFilesGiveTheStored16BitCopies() throws IOException {
        Path module = tmp.resolve("module");
        PthToHf.run(TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth"), module, options(Optional.empty(), PthToHf.Source.MODULE), Progress.NONE);
        for (String single : new String[] {"xtuner-single.pth", "xtuner-legacy.pth"}) {
            Path out = tmp.resolve(single);
            PthToHf.run(TestPaths.checkpoint(single), out, options(Optional.empty(), PthToHf.Source.MASTER), Progress.NONE);
            assertArrayEquals(Files.readAllBytes(module.resolve("llm_adapter/adapter_model.safetensors")),
                    Files.readAllBytes(out.resolve("llm_adapter/adapter_model.safetensors")), single);
        }
        try (SafetensorsFile expected = SafetensorsFile.open(expected("xtuner-zero2-bf16-module-16.safetensors"));
             SafetensorsFile got = SafetensorsFile.open(module.resolve("llm_adapter/adapter_model.safetensors"))) {
            for (TensorInfo t : got.tensors()) {
                String source = "llm." + t.name().replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default.");
                assertEquals(-1L, expected.tensor(source).data().mismatch(got.tensor(t.name()).data()), t.name());
            }
        }
    }

    @Test
    void missingRankFileIsNamed() throws IOException {
        Path src = TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth");
        Path copy = Files.createDirectories(tmp.resolve("iter_8.pth"));
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.toList()) {
                if (!p.getFileName().toString().contains("rank_7_")) Files.copy(p, copy.resolve(p.getFileName()));
            }
        }
        var e = assertThrows(BadInputException.class, () -> PthToHf.run(copy, tmp.resolve("out"), options(Optional.empty(), PthToHf.Source.MASTER), Progress.NONE));
        assertTrue(e.getMessage().contains("11") && e.getMessage().contains("optim"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    @Test
    void alphaIsNotGuessed() throws IOException {
        Path config = tmp.resolve("no_alpha.py");
        Files.writeString(config, "llm_lora = dict(type='LoraConfig', r=8, lora_dropout=0.05)\n");
        var opts = new PthToHf.Options(Optional.of(config), Optional.empty(), Optional.empty(), PthToHf.Source.MASTER, 5_000_000_000L, false);
        var e = assertThrows(MissingSettingException.class, () -> PthToHf.run(TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth"), tmp.resolve("o"), opts, Progress.NONE));
        assertTrue(e.getMessage().contains("alpha"), e.getMessage());
        var withAlpha = new PthToHf.Options(Optional.of(config), Optional.of(32), Optional.empty(), PthToHf.Source.MASTER, 5_000_000_000L, false);
        PthToHf.run(TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth"), tmp.resolve("o2"), withAlpha, Progress.NONE);
        assertEquals(32, new ObjectMapper().readTree(tmp.resolve("o2/llm_adapter/adapter_config.json").toFile()).get("lora_alpha").asInt());
        assertTrue(Files.exists(tmp.resolve("o2/xtuner_config.py")));
    }

    /** Same tensor names and shapes; values equal the expected fp32 ones, rounded once to {@code dtype} when given. */
    private static void assertSameTensors(Path expectedFile, Path actualFile, DType dtype) {
        try (SafetensorsFile e = SafetensorsFile.open(expectedFile); SafetensorsFile a = SafetensorsFile.open(actualFile)) {
            assertEquals(e.tensors().stream().map(TensorInfo::name).sorted().toList(), a.tensors().stream().map(TensorInfo::name).sorted().toList());
            for (TensorInfo t : e.tensors()) {
                Tensor want = e.tensor(t.name());
                Tensor got = a.tensor(t.name());
                assertArrayEquals(t.shape(), got.info().shape(), t.name());
                if (!want.dtype().isFloatingPoint()) continue;
                for (long i = 0; i < want.numel(); i++) {
                    float w = want.getFloat(i);
                    if (dtype == DType.BF16) w = BFloat16.toFloat(BFloat16.fromFloat(w));
                    if (dtype == DType.F16) w = Float16.toFloat(Float16.fromFloat(w));
                    assertEquals(Float.floatToIntBits(w), Float.floatToIntBits(got.getFloat(i)), t.name() + "[" + i + "]");
                }
            }
        }
    }

    private static String sha256(Path p) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
