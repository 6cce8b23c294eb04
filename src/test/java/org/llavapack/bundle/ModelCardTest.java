package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.progress.Progress;

/** The Hub front matter is derived from the bundled configs; the sections carry provenance and parity. */
class ModelCardTest {
    @TempDir
    Path tmp;

    /** The front matter as key → value lines (lists joined by ','): enough YAML for what the card writes. */
    static Map<String, String> frontMatter(String card) {
        assertTrue(card.startsWith("---\n"), "card starts with front matter");
        String block = card.substring(4, card.indexOf("\n---\n", 4));
        Map<String, String> out = new LinkedHashMap<>();
        String list = null;
        for (String line : block.split("\n")) {
            if (line.startsWith("- ")) {
                out.merge(list, line.substring(2), (a, b) -> a.isEmpty() ? b : a + "," + b);
            } else {
                int colon = line.indexOf(':');
                String key = line.substring(0, colon);
                String value = line.substring(colon + 1).trim();
                out.put(key, value);
                list = value.isEmpty() ? key : null;
            }
        }
        return out;
    }

    private Bundler.Result bundle(List<String> inputs, Bundler.Options o) {
        return Bundler.create(inputs.stream().map(BundleInputs.Spec::parse).toList(), tmp.resolve("out-" + System.nanoTime()), o, Progress.NONE, w -> {});
    }

    private static String card(Bundler.Result r) throws IOException {
        return Files.readString(r.output().resolve(BundleLayout.CARD));
    }

    private Path folder(String name, Map<String, String> files) throws IOException {
        Path d = tmp.resolve(name);
        Files.createDirectories(d);
        for (var e : files.entrySet()) {
            Files.createDirectories(d.resolve(e.getKey()).getParent());
            Files.writeString(d.resolve(e.getKey()), e.getValue());
        }
        return d;
    }

    @Test
    void adapterReleaseIsPeftAdapterOfItsBase() throws IOException {
        Bundler.Result r = BundleFixtures.bundle(tmp.resolve("b"), Optional.empty());
        Map<String, String> fm = frontMatter(card(r));
        assertEquals("llama3", fm.get("license"));
        assertEquals("tiny-llama", fm.get("base_model")); // from adapter_config.json base_model_name_or_path
        assertEquals("adapter", fm.get("base_model_relation"));
        assertEquals("peft", fm.get("library_name"));
        assertEquals("text-generation", fm.get("pipeline_tag"));
        assertTrue(fm.get("tags").startsWith("pathology,"), fm.get("tags"));
        assertTrue(fm.get("tags").contains("lora") && fm.get("tags").contains("safetensors"), fm.get("tags"));
        assertEquals("en", fm.get("language"));
        String card = card(r);
        for (String section : List.of("## Provenance", "## Formats", "## Parity results", "## Intended use", "## Verifying these files")) {
            assertTrue(card.contains(section), section);
        }
        assertTrue(card.contains("LORA r=8, alpha=16"), card);
        assertFalse(card.contains(tmp.toString()) || card.contains(TestPaths.repo().toString()), "no absolute paths in the card");
    }

    @Test
    void mergedModelIsATransformersFinetune() throws IOException {
        Path merged = folder("merged", Map.of("config.json", Files.readString(TestPaths.checkpoint("tiny-llama").resolve("config.json")),
                "model.safetensors", "not really weights"));
        Bundler.Options o = new Bundler.Options(Optional.of("m"), Optional.of("1"), Optional.of("apache-2.0"),
                Optional.of("meta-llama/Meta-Llama-3-8B-Instruct"), List.of("en"), Optional.empty(), false, 2, 0);
        Map<String, String> fm = frontMatter(card(bundle(List.of(merged.toString()), o)));
        assertEquals("meta-llama/Meta-Llama-3-8B-Instruct", fm.get("base_model"));
        assertEquals("finetune", fm.get("base_model_relation"));
        assertEquals("transformers", fm.get("library_name"));
        assertEquals("apache-2.0", fm.get("license"));
    }

    @Test
    void ggufWithProjectorIsQuantizedImageTextToText() throws IOException {
        Path gguf = folder("gguf", Map.of("tiny-pallava-Q8_0.gguf", "GGUF", "mmproj-tiny-pallava-f16.gguf", "GGUF"));
        Bundler.Options o = new Bundler.Options(Optional.of("g"), Optional.of("1"), Optional.empty(), Optional.of("meta-llama/Meta-Llama-3-8B-Instruct"),
                List.of("en"), Optional.empty(), false, 2, 0);
        Bundler.Result r = bundle(List.of(gguf.toString()), o);
        Map<String, String> fm = frontMatter(card(r));
        assertEquals("gguf", fm.get("library_name"));
        assertEquals("quantized", fm.get("base_model_relation"));
        assertEquals("image-text-to-text", fm.get("pipeline_tag"));
        assertFalse(fm.containsKey("license"));
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains("no --license")), r.warnings().toString());
        assertEquals("application/vnd.llavapack.gguf", r.manifest().entry("tiny-pallava-Q8_0.gguf").orElseThrow().mediaType());
    }

    @Test
    void llavaConfigAndVisionTowerAreImageTextToText() throws IOException {
        Path llava = folder("llava", Map.of("config.json", "{\"architectures\":[\"LlavaForConditionalGeneration\"],\"model_type\":\"llava\","
                + "\"text_config\":{\"model_type\":\"llama\"},\"vision_config\":{\"model_type\":\"clip_vision_model\"}}"));
        assertEquals("image-text-to-text", frontMatter(card(bundle(List.of(llava.toString()), Bundler.Options.defaults()))).get("pipeline_tag"));
        Map<String, String> plip = frontMatter(card(bundle(List.of(TestPaths.checkpoint("tiny-plip").toString()), Bundler.Options.defaults())));
        assertEquals("image-feature-extraction", plip.get("pipeline_tag"));
        assertTrue(plip.get("tags").contains("clip-vision-model"), plip.get("tags"));
        Map<String, String> both = frontMatter(card(bundle(List.of(TestPaths.checkpoint("tiny-llama").toString(),
                "vision=" + TestPaths.checkpoint("tiny-plip")), Bundler.Options.defaults())));
        assertEquals("image-text-to-text", both.get("pipeline_tag"));
    }

    @Test
    void localBaseModelPathsAreNotHubIdsAndOtherLicensesAreNamed() throws IOException {
        Path adapter = folder("ad", Map.of("adapter_config.json", "{\"base_model_name_or_path\":\"/mnt/petrelfs/models/Meta-Llama-3-8B-Instruct\","
                + "\"peft_type\":\"LORA\",\"task_type\":\"CAUSAL_LM\",\"r\":16}", "adapter_model.safetensors", "x", "LICENSE", "terms"));
        Bundler.Options o = new Bundler.Options(Optional.of("a"), Optional.of("1"), Optional.of("PA-LLaVA Research License"), Optional.empty(),
                List.of("en", "zh"), Optional.empty(), false, 2, 0);
        Bundler.Result r = bundle(List.of(adapter.toString()), o);
        Map<String, String> fm = frontMatter(card(r));
        assertFalse(fm.containsKey("base_model"), "a filesystem path is not a Hub id");
        assertFalse(fm.containsKey("base_model_relation"));
        assertEquals("other", fm.get("license"));
        assertEquals("pa-llava-research-license", fm.get("license_name"));
        assertEquals("LICENSE", fm.get("license_link"));
        assertEquals("en,zh", fm.get("language"));
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains("--base-model")), r.warnings().toString());
    }

    @Test
    void conversionAndParityReportsReachCardAndManifest() throws IOException {
        Path hf = folder("hf", Map.of(
                "config.json", Files.readString(TestPaths.checkpoint("tiny-llama").resolve("config.json")),
                "model.safetensors", "w",
                "conversion.json", "{\"ds_version\":\"0.14.0\",\"stage\":2,\"dtype\":\"bfloat16\",\"inputs\":[{\"path\":\"iter_8.pth/mp_rank_00_model_states.pt\","
                        + "\"size\":1234,\"sha256\":\"" + "ab".repeat(32) + "\"}],\"self_check\":{\"mismatches\":0}}",
                "parity-report.json", "{\"verdict\":\"pass\",\"components\":{\"llm\":{\"verdict\":\"pass\",\"nmse\":1.5e-06,\"top1_agreement\":1.0},"
                        + "\"plip\":{\"passed\":true,\"max_abs_diff\":0.0}}}",
                "parity-report.html", "<html></html>"));
        Bundler.Result r = bundle(List.of(hf.toString()), Bundler.Options.defaults());
        String card = card(r);
        assertTrue(card.contains("`iter_8.pth/mp_rank_00_model_states.pt` | 1,234 | `" + "ab".repeat(32) + "`"), card);
        assertTrue(card.contains("ds_version=0.14.0") && card.contains("self_check.mismatches=0"), card);
        assertTrue(card.contains("**PASS**") && card.contains("[parity-report.html](parity-report.html)"), card);
        assertTrue(card.contains("| llm | pass |") && card.contains("1.500e-06"), card);
        var prov = r.manifest().provenance();
        assertEquals("ab".repeat(32), prov.get("conversions").get(0).get("checkpoint_files").get(0).get("sha256").asText());
        assertEquals("pass", prov.get("parity").get(0).get("verdict").asText());
        // and the manifest round-trips through its parser with the provenance intact
        var parsed = assertInstanceOf(BundleManifest.Ok.class, BundleManifest.parse(Files.readAllBytes(r.output().resolve(BundleLayout.MANIFEST))));
        assertEquals(prov.toString(), parsed.manifest().provenance().toString());
    }

    @Test
    void failingParityIsWarnedAndShown() throws IOException {
        Path hf = folder("hf2", Map.of("model.safetensors", "w", "parity.json", "{\"passed\":false}"));
        Bundler.Result r = bundle(List.of(hf.toString()), Bundler.Options.defaults());
        assertTrue(card(r).contains("**FAIL**"));
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains("parity verdict is 'fail'")));
    }

    @Test
    void yamlScalarsNeedingQuotesAreQuoted() {
        assertEquals("apache-2.0", ModelCard.yaml("apache-2.0"));
        assertEquals("meta-llama/Meta-Llama-3-8B", ModelCard.yaml("meta-llama/Meta-Llama-3-8B"));
        assertEquals("\"yes\"", ModelCard.yaml("yes"));
        assertEquals("\"1.0\"", ModelCard.yaml("1.0"));
        assertEquals("\"a: b\"", ModelCard.yaml("a: b"));
        assertEquals("\"say \\\"hi\\\"\"", ModelCard.yaml("say \"hi\""));
    }
}
