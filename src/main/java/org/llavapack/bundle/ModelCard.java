package org.llavapack.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.llavapack.formats.safetensors.ByteSize;

/**
 * The bundle's README.md in Hugging Face model-card form: YAML front matter the Hub reads (license, base_model,
 * base_model_relation, library_name, pipeline_tag, tags, language) and sections on provenance, formats, parity and
 * intended use. Everything is derived from the bundled files (config.json, adapter_config.json, conversion.json,
 * parity report) and the bundle options, and nothing depends on the time or the machine, so the card, like the rest
 * of the bundle, is the same bytes for the same inputs.
 */
public final class ModelCard {
    private ModelCard() {}

    /** License ids the Hub accepts in card metadata (hub-docs repositories-licenses.md); others become "other". */
    static final Set<String> HUB_LICENSES = Set.of("apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
            "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause",
            "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
            "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
            "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0",
            "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl",
            "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl",
            "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0", "openrail++", "osl-3.0", "postgresql", "ofl-1.1",
            "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2",
            "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other");

    /** A Hub repo id ("name" or "owner/name"); local paths in adapter configs are not. */
    private static final Pattern HUB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?");

    /** What the card needs to know about one bundled file. */
    public record FileInfo(String path, long size, String sha256, FileFormat format) {}

    public record InputInfo(String label, String prefix, int files, long bytes) {}

    public record Signer(String algorithm, String fingerprint) {}

    public record Request(String name, String version, Optional<String> license, Optional<String> baseModel, List<String> language,
                          String toolkitVersion, List<InputInfo> inputs, List<FileInfo> files, Map<String, JsonNode> configs,
                          Provenance.Found provenance, Optional<Signer> signer) {}

    /** The Hub metadata block, kept as data so tests and the manifest can read what the card claims. */
    public record FrontMatter(Optional<String> license, Optional<String> licenseName, Optional<String> licenseLink,
                              Optional<String> baseModel, Optional<String> baseModelRelation, Optional<String> libraryName,
                              Optional<String> pipelineTag, List<String> tags, List<String> language) {}

    public record Card(String text, FrontMatter frontMatter, List<String> notes) {}

    public static Card render(Request r) {
        List<String> notes = new ArrayList<>();
        FrontMatter fm = frontMatter(r, notes);
        StringBuilder sb = new StringBuilder();
        writeFrontMatter(sb, fm);
        sb.append('\n').append("# ").append(r.name()).append("\n\n");
        sb.append("Release `").append(r.version()).append("`, packaged by llavapack ").append(r.toolkitVersion()).append(". ");
        sb.append(r.files().size()).append(" files, ").append(ByteSize.format(totalBytes(r.files()))).append(", listed below.");
        sb.append("\n\n");
        provenance(sb, r, fm, notes);
        formats(sb, r);
        parity(sb, r);
        intendedUse(sb, fm);
        verification(sb, r);
        return new Card(sb.toString(), fm, List.copyOf(notes));
    }

    private static long totalBytes(List<FileInfo> files) {
        return files.stream().mapToLong(FileInfo::size).sum();
    }

    // ---- front matter -------------------------------------------------------------------------------------------

    static FrontMatter frontMatter(Request r, List<String> notes) {
        Optional<String> license = Optional.empty(), licenseName = Optional.empty(), licenseLink = Optional.empty();
        if (r.license().isPresent()) {
            String l = r.license().get().trim();
            if (HUB_LICENSES.contains(l.toLowerCase(Locale.ROOT))) {
                license = Optional.of(l.toLowerCase(Locale.ROOT));
            } else {
                // The Hub validates `license`; anything off its list is "other" plus a name and, if bundled, the text.
                license = Optional.of("other");
                licenseName = Optional.of(l.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.]+", "-").replaceAll("^-+|-+$", ""));
                licenseLink = r.files().stream().map(FileInfo::path).filter(p -> p.equalsIgnoreCase("LICENSE") || p.equalsIgnoreCase("LICENSE.txt")
                        || p.equalsIgnoreCase("LICENSE.md")).findFirst();
                notes.add("license '" + l + "' is not a Hub license id: written as 'other' with license_name");
            }
        } else {
            notes.add("no --license given: the card has no license (the Hub will flag it)");
        }

        boolean adapter = false, transformers = false, gguf = false, onnx = false, vision = false, languageModel = false, llava = false;
        Set<String> modelTypes = new LinkedHashSet<>();
        Optional<String> base = Optional.empty();
        for (var e : r.configs().entrySet()) {
            String base0 = e.getKey().substring(e.getKey().lastIndexOf('/') + 1);
            JsonNode c = e.getValue();
            if (base0.equals("adapter_config.json")) {
                adapter = true;
                if (c.path("task_type").asText("").equals("CAUSAL_LM")) languageModel = true;
                String b = c.path("base_model_name_or_path").asText("");
                if (!b.isEmpty() && base.isEmpty() && r.baseModel().isEmpty()) {
                    if (HUB_ID.matcher(b).matches()) base = Optional.of(b);
                    else notes.add(e.getKey() + " names base model '" + b + "', which is not a Hub id: pass --base-model");
                }
            } else if (base0.equals("config.json")) {
                String modelType = c.path("model_type").asText("");
                String archs = c.path("architectures").toString().toLowerCase(Locale.ROOT);
                if (c.has("architectures") || !modelType.isEmpty()) transformers = true;
                if (!modelType.isEmpty()) modelTypes.add(modelType.toLowerCase(Locale.ROOT).replace('_', '-'));
                if (modelType.contains("llava") || archs.contains("llava") || c.has("vision_config") && c.has("text_config")) llava = true;
                if (archs.contains("causallm") || c.has("text_config")) languageModel = true;
                if (modelType.contains("clip") || modelType.contains("vision") || archs.contains("vision")) vision = true;
            }
        }
        for (FileInfo f : r.files()) {
            if (f.format() == FileFormat.GGUF) {
                gguf = true;
                String name = f.path().substring(f.path().lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
                if (name.startsWith("mmproj")) vision = true;
                else languageModel = true;
            }
            if (f.format() == FileFormat.ONNX) onnx = true;
        }
        if (r.baseModel().isPresent()) base = r.baseModel();

        Optional<String> relation = Optional.empty(), library = Optional.empty();
        if (adapter) {
            library = Optional.of("peft");
            relation = Optional.of("adapter");
        } else if (transformers) {
            library = Optional.of("transformers");
            // A merged LoRA is a fine-tune of its base (the Hub's reading for merged adapters).
            if (base.isPresent()) relation = Optional.of("finetune");
        } else if (gguf) {
            library = Optional.of("gguf");
            if (base.isPresent()) relation = Optional.of("quantized");
        } else if (onnx) {
            library = Optional.of("onnx");
        }
        if (base.isEmpty()) relation = Optional.empty();

        Optional<String> pipeline;
        if (llava || (vision && languageModel)) pipeline = Optional.of("image-text-to-text");
        else if (languageModel) pipeline = Optional.of("text-generation");
        else if (vision) pipeline = Optional.of("image-feature-extraction");
        else pipeline = Optional.empty();

        // Pathology first: llavapack exists to release PA-LLaVA-style pathology models; filters on the Hub key on it.
        Set<String> tags = new LinkedHashSet<>(List.of("pathology", "llava", "llavapack"));
        if (r.files().stream().anyMatch(f -> f.format() == FileFormat.SAFETENSORS)) tags.add("safetensors");
        if (gguf) tags.add("gguf");
        if (onnx) tags.add("onnx");
        if (adapter) {
            tags.add("peft");
            tags.add("lora");
        }
        modelTypes.forEach(tags::add);
        return new FrontMatter(license, licenseName, licenseLink, base, relation, library, pipeline, List.copyOf(tags), List.copyOf(r.language()));
    }

    static void writeFrontMatter(StringBuilder sb, FrontMatter fm) {
        sb.append("---\n");
        fm.license().ifPresent(v -> sb.append("license: ").append(yaml(v)).append('\n'));
        fm.licenseName().ifPresent(v -> sb.append("license_name: ").append(yaml(v)).append('\n'));
        fm.licenseLink().ifPresent(v -> sb.append("license_link: ").append(yaml(v)).append('\n'));
        fm.baseModel().ifPresent(v -> sb.append("base_model: ").append(yaml(v)).append('\n'));
        fm.baseModelRelation().ifPresent(v -> sb.append("base_model_relation: ").append(yaml(v)).append('\n'));
        fm.libraryName().ifPresent(v -> sb.append("library_name: ").append(yaml(v)).append('\n'));
        fm.pipelineTag().ifPresent(v -> sb.append("pipeline_tag: ").append(yaml(v)).append('\n'));
        sb.append("tags:\n");
        for (String t : fm.tags()) sb.append("- ").append(yaml(t)).append('\n');
        sb.append("language:\n");
        for (String l : fm.language()) sb.append("- ").append(yaml(l)).append('\n');
        sb.append("---\n");
    }

    /** Plain scalars where YAML reads them back as the same string, double-quoted JSON-style otherwise. */
    static String yaml(String s) {
        boolean plain = !s.isEmpty() && s.matches("[A-Za-z0-9][A-Za-z0-9._/+-]*")
                && !s.matches("(?i)true|false|yes|no|on|off|null|~|[-+]?[0-9._]+([eE][-+]?[0-9]+)?|0x.*|0o.*");
        if (plain) return s;
        StringBuilder q = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> q.append("\\\"");
                case '\\' -> q.append("\\\\");
                default -> {
                    if (c < 0x20) q.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    else q.append(c);
                }
            }
        }
        return q.append('"').toString();
    }

    // ---- sections -------------------------------------------------------------------------------------------

    private static void provenance(StringBuilder sb, Request r, FrontMatter fm, List<String> notes) {
        sb.append("## Provenance\n\n");
        fm.baseModel().ifPresent(b -> sb.append("- Base model: `").append(b).append('`')
                .append(fm.baseModelRelation().map(rel -> " (this release: " + rel + ")").orElse("")).append('\n'));
        sb.append("- Packaged by llavapack ").append(r.toolkitVersion()).append(" from ").append(r.inputs().size())
                .append(r.inputs().size() == 1 ? " folder" : " folders").append(":\n\n");
        sb.append("| input | placed at | files | size |\n|---|---|---:|---:|\n");
        for (InputInfo in : r.inputs()) {
            sb.append("| `").append(md(in.label())).append("` | ").append(in.prefix().isEmpty() ? "bundle root" : "`" + md(in.prefix()) + "/`")
                    .append(" | ").append(in.files()).append(" | ").append(ByteSize.format(in.bytes())).append(" |\n");
        }
        sb.append('\n');
        for (var e : r.configs().entrySet()) {
            if (!e.getKey().endsWith("adapter_config.json")) continue;
            JsonNode c = e.getValue();
            sb.append("- Adapter `").append(md(e.getKey())).append("`: ").append(c.path("peft_type").asText("PEFT"))
                    .append(" r=").append(c.path("r").asText("?")).append(", alpha=").append(c.path("lora_alpha").asText("?"));
            if (c.path("use_rslora").asBoolean(false)) sb.append(", rsLoRA");
            if (c.path("use_dora").asBoolean(false)) sb.append(", DoRA");
            if (c.path("target_modules").isArray()) {
                List<String> mods = new ArrayList<>();
                c.path("target_modules").forEach(m -> mods.add(m.asText()));
                sb.append(", target modules ").append(String.join(", ", mods));
            }
            String b = c.path("base_model_name_or_path").asText("");
            if (!b.isEmpty()) sb.append(", trained on `").append(md(b)).append('`');
            sb.append(".\n");
        }
        for (var e : r.configs().entrySet()) {
            if (!e.getKey().endsWith("config.json") || e.getKey().endsWith("adapter_config.json")) continue;
            JsonNode c = e.getValue();
            if (!c.has("model_type") && !c.has("architectures")) continue;
            sb.append("- Model `").append(md(e.getKey())).append("`: ").append(c.path("architectures").isArray() && !c.path("architectures").isEmpty()
                    ? c.path("architectures").get(0).asText() : c.path("model_type").asText());
            for (String k : new String[] {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "torch_dtype"}) {
                if (c.has(k)) sb.append(", ").append(k).append('=').append(c.path(k).asText());
            }
            sb.append(".\n");
        }
        List<Provenance.Conversion> conversions = r.provenance().conversions();
        if (conversions.isEmpty()) {
            sb.append("- No `conversion.json` was bundled, so the training checkpoint these files came from is not recorded here.\n\n");
        } else {
            for (Provenance.Conversion c : conversions) {
                sb.append("- Converted from a training checkpoint, recorded in `").append(md(c.bundlePath())).append("`");
                List<String> facts = new ArrayList<>();
                c.facts().forEach((k, v) -> {
                    if (facts.size() < 12) facts.add(k + "=" + v);
                });
                if (!facts.isEmpty()) sb.append(" (").append(md(String.join(", ", facts))).append(')');
                sb.append(".\n");
                if (!c.checkpointFiles().isEmpty()) {
                    sb.append("\n| source file | size | SHA-256 |\n|---|---:|---|\n");
                    for (Provenance.SourceFile f : c.checkpointFiles()) {
                        sb.append("| `").append(md(f.path())).append("` | ").append(f.size() < 0 ? "?" : String.format(Locale.ROOT, "%,d", f.size()))
                                .append(" | `").append(f.sha256()).append("` |\n");
                    }
                }
                sb.append('\n');
            }
        }
    }

    private static void formats(StringBuilder sb, Request r) {
        sb.append("## Formats\n\n");
        Map<FileFormat, List<FileInfo>> byFormat = new TreeMap<>();
        for (FileInfo f : r.files()) byFormat.computeIfAbsent(f.format(), k -> new ArrayList<>()).add(f);
        List<String> loadHints = new ArrayList<>();
        if (byFormat.containsKey(FileFormat.SAFETENSORS)) loadHints.add("safetensors weights load with `transformers` (and `peft` for adapters)");
        if (byFormat.containsKey(FileFormat.GGUF)) loadHints.add("GGUF files run with llama.cpp (`llama-cli -m FILE`, `--mmproj` for the vision projector)");
        if (byFormat.containsKey(FileFormat.ONNX)) loadHints.add("ONNX graphs run with ONNX Runtime (external data next to each graph)");
        if (!loadHints.isEmpty()) sb.append(String.join("; ", loadHints)).append(".\n\n");
        sb.append("| file | format | size | SHA-256 |\n|---|---|---:|---|\n");
        for (FileInfo f : r.files()) {
            sb.append("| `").append(md(f.path())).append("` | ").append(f.format().label()).append(" | ")
                    .append(String.format(Locale.ROOT, "%,d", f.size())).append(" | `").append(f.sha256()).append("` |\n");
        }
        sb.append('\n');
    }

    private static void parity(StringBuilder sb, Request r) {
        sb.append("## Parity results\n\n");
        List<Provenance.Parity> reports = r.provenance().parity();
        if (reports.isEmpty()) {
            sb.append("No parity report was bundled: these files have not been compared numerically with the checkpoint they came from ")
                    .append("(`llavapack parity` writes such a report).\n\n");
            return;
        }
        for (Provenance.Parity p : reports) {
            sb.append("Report `").append(md(p.bundlePath())).append("`: **").append(p.passed() ? "PASS" : md(p.verdict().toUpperCase(Locale.ROOT))).append("**");
            p.htmlPath().ifPresent(h -> sb.append(" (rendered: [").append(md(h)).append("](").append(h).append("))"));
            sb.append(".\n\n");
            if (!p.components().isEmpty()) {
                Set<String> metricNames = new LinkedHashSet<>();
                p.components().forEach(c -> metricNames.addAll(c.metrics().keySet()));
                List<String> cols = new ArrayList<>(metricNames).subList(0, Math.min(8, metricNames.size()));
                sb.append("| component | verdict |");
                cols.forEach(c -> sb.append(' ').append(md(c)).append(" |"));
                sb.append("\n|---|---|");
                cols.forEach(c -> sb.append("---:|"));
                sb.append('\n');
                for (Provenance.Component c : p.components()) {
                    sb.append("| ").append(md(c.name())).append(" | ").append(md(c.verdict())).append(" |");
                    cols.forEach(col -> sb.append(' ').append(c.metrics().getOrDefault(col, "")).append(" |"));
                    sb.append('\n');
                }
                sb.append('\n');
            }
        }
    }

    private static void intendedUse(StringBuilder sb, FrontMatter fm) {
        sb.append("## Intended use\n\n");
        sb.append("Research on computational pathology: describing and answering questions about histopathology images");
        if (fm.pipelineTag().orElse("").equals("text-generation")) sb.append(" (this release holds the language-model part)");
        sb.append(". It is not a medical device: it is not intended for diagnosis, treatment decisions or any clinical use, and its ")
                .append("outputs must be reviewed by a qualified pathologist. It inherits the license terms, biases and limitations of its ")
                .append("base model and training data.\n\n");
    }

    private static void verification(StringBuilder sb, Request r) {
        sb.append("## Verifying these files\n\n");
        sb.append("`").append(BundleLayout.MANIFEST).append("` lists every file with its size and SHA-256 and `").append(BundleLayout.SUMS)
                .append("` repeats the digests in `sha256sum -c` form.");
        if (r.signer().isPresent()) {
            Signer s = r.signer().get();
            sb.append(" `").append(BundleLayout.SIGNATURE).append("` is an OpenSSF Model Signing v1.0 signature (").append(s.algorithm())
                    .append(", key SHA-256 `").append(s.fingerprint()).append("`) over all of them.\n\n");
            sb.append("```\nllavapack verify . --key public.pem\n```\n");
        } else {
            sb.append(" This release is not signed.\n\n```\nsha256sum -c ").append(BundleLayout.SUMS).append("\nllavapack verify .\n```\n");
        }
    }

    /** Keeps table cells intact: pipes and backticks in names would break the Markdown table. */
    private static String md(String s) {
        return s.replace("|", "\\|").replace("`", "'");
    }
}
