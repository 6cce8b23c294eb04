package org.llavapack.convert.xtuner;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.convert.xtuner.pyconfig.PyConfigException;
import org.llavapack.convert.xtuner.pyconfig.PyConfigReader;
import org.llavapack.convert.xtuner.pyconfig.PyModule;
import org.llavapack.convert.xtuner.pyconfig.PyValue;

/**
 * What {@code pth-to-hf} takes from an XTuner training config (the {@code --config} file, or the config text mmengine
 * stores in the checkpoint's {@code meta.cfg}), read as text and never run: model names, LoRA settings, prompt
 * template, connector settings. Whatever it could not read is listed in {@link #warnings()}.
 *
 * <p>The connector layout itself is never taken from here (spec §8.2: the config's {@code add_cross_attention} is
 * known to disagree with the weights); these values only fill gaps and are cross-checked against the tensors.
 */
public record XtunerConfig(Optional<String> llmName, Optional<String> visualEncoderName, Optional<LoraSettings> llmLora,
                           Optional<LoraSettings> visualEncoderLora, Optional<String> promptTemplate,
                           Optional<Integer> visualSelectLayer, ProjectorSettings projector, List<String> warnings) {

    public XtunerConfig {
        warnings = List.copyOf(warnings);
    }

    /**
     * A {@code dict(type=LoraConfig, …)}. {@code alpha} and {@code dropout} keep Python's int/float distinction (Long
     * or Double) so adapter_config.json writes them as PEFT would.
     */
    public record LoraSettings(Optional<Long> r, Optional<Number> alpha, Optional<Number> dropout, Optional<String> bias,
                               Optional<List<String>> targetModules, Optional<String> taskType, Optional<Boolean> useRslora,
                               Optional<Boolean> useDora, Optional<List<String>> modulesToSave) {}

    /** Connector settings as the config states them (informational; layout comes from the keys). */
    public record ProjectorSettings(Optional<String> type, Optional<Integer> depth, Optional<Integer> numHiddenLayers,
                                    Optional<Integer> crossAttentionFreq, Optional<Boolean> addCrossAttention) {}

    /** Reads a config file; unreadable input is bad input naming the file. */
    public static XtunerConfig read(Path file) {
        String text;
        try {
            if (Files.size(file) > 4L * PyConfigReader.MAX_INPUT_CHARS) {
                throw new BadInputException(file, "too large for an XTuner config");
            }
            byte[] bytes = Files.readAllBytes(file);
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new BadInputException(file, "not UTF-8 text: not a Python config");
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);
        return parse(text, file.toString());
    }

    /** Reads config text; {@code origin} names it in errors. */
    public static XtunerConfig parse(String text, String origin) {
        PyModule module;
        try {
            module = PyConfigReader.read(text);
        } catch (PyConfigException e) {
            throw new BadInputException(origin, e.getMessage(), e);
        }
        return new Extractor(module).extract();
    }

    /** Pulls the known settings out of the module, noting what it could not use. */
    private static final class Extractor {
        private final PyModule m;
        private final List<String> warnings;

        Extractor(PyModule m) {
            this.m = m;
            this.warnings = new ArrayList<>(m.warnings());
        }

        XtunerConfig extract() {
            Optional<PyValue.Dict> model = m.get("model").flatMap(v -> {
                if (v instanceof PyValue.Dict d) return Optional.of(d);
                warnings.add("'model' is not a dict(...) the reader can follow: " + describe(v));
                return Optional.empty();
            });
            if (m.get("model").isEmpty()) warnings.add("no top-level 'model = dict(...)' found");

            Optional<String> llm = model.flatMap(d -> d.get("llm")).flatMap(v -> pretrainedName(v, "model.llm"));
            if (llm.isEmpty()) llm = string("llm_name_or_path", m.get("llm_name_or_path"));
            Optional<String> vis = model.flatMap(d -> d.get("visual_encoder")).flatMap(v -> pretrainedName(v, "model.visual_encoder"));
            if (vis.isEmpty()) vis = string("visual_encoder_name_or_path", m.get("visual_encoder_name_or_path"));

            Optional<LoraSettings> llmLora = model.flatMap(d -> d.get("llm_lora")).flatMap(v -> lora(v, "model.llm_lora"));
            Optional<LoraSettings> visLora = model.flatMap(d -> d.get("visual_encoder_lora"))
                    .flatMap(v -> lora(v, "model.visual_encoder_lora"));

            Optional<String> template = m.get("prompt_template").flatMap(v -> switch (v) {
                case PyValue.Name n -> Optional.of(n.last());
                case PyValue.Str s -> Optional.of(s.value());
                default -> {
                    warnings.add("prompt_template: cannot read " + describe(v));
                    yield Optional.empty();
                }
            });

            Optional<Integer> selectLayer = integer("visual_select_layer", setting(model, "visual_select_layer"));
            ProjectorSettings projector = new ProjectorSettings(
                    string("projector_type", setting(model, "projector_type")),
                    integer("projector_depth", setting(model, "projector_depth")),
                    integer("num_hidden_layers", setting(model, "num_hidden_layers")),
                    integer("cross_attention_freq", setting(model, "cross_attention_freq")),
                    bool("add_cross_attention", setting(model, "add_cross_attention")));
            return new XtunerConfig(llm, vis, llmLora, visLora, template, selectLayer, projector, warnings);
        }

        /** A model kwarg, else the top-level variable of the same name. */
        private Optional<PyValue> setting(Optional<PyValue.Dict> model, String key) {
            Optional<PyValue> v = model.flatMap(d -> d.get(key));
            return v.isPresent() ? v : m.get(key);
        }

        /** {@code 'path'} or {@code dict(type=…, pretrained_model_name_or_path='path', …)}. */
        private Optional<String> pretrainedName(PyValue v, String where) {
            return switch (v) {
                case PyValue.Str s -> Optional.of(s.value());
                case PyValue.Dict d -> {
                    Optional<PyValue> p = d.get("pretrained_model_name_or_path");
                    if (p.isEmpty()) {
                        warnings.add(where + ": no pretrained_model_name_or_path");
                        yield Optional.empty();
                    }
                    yield string(where + ".pretrained_model_name_or_path", p);
                }
                case PyValue.None n -> Optional.empty();
                default -> {
                    warnings.add(where + ": cannot read " + describe(v));
                    yield Optional.empty();
                }
            };
        }

        private static final Set<String> LORA_KEYS = Set.of("type", "r", "lora_alpha", "lora_dropout", "bias",
                "target_modules", "task_type", "use_rslora", "use_dora", "modules_to_save");

        private Optional<LoraSettings> lora(PyValue v, String where) {
            if (v instanceof PyValue.None) return Optional.empty();
            if (!(v instanceof PyValue.Dict d)) {
                warnings.add(where + ": cannot read " + describe(v));
                return Optional.empty();
            }
            Optional<PyValue> type = d.get("type");
            if (type.isEmpty() || !(type.get() instanceof PyValue.Name n && n.last().equals("LoraConfig"))) {
                warnings.add(where + ": type is " + type.map(XtunerConfig::describe).orElse("missing")
                        + ", expected LoraConfig; read anyway");
            }
            for (PyValue.Entry e : d.entries()) {
                String key = e.key() instanceof PyValue.Str s ? s.value() : describe(e.key());
                if (!LORA_KEYS.contains(key)) warnings.add(where + "." + key + " not used");
            }
            Optional<Long> r = integer(where + ".r", d.get("r")).map(Integer::longValue);
            return Optional.of(new LoraSettings(r, number(where + ".lora_alpha", d.get("lora_alpha")),
                    number(where + ".lora_dropout", d.get("lora_dropout")), string(where + ".bias", d.get("bias")),
                    strings(where + ".target_modules", d.get("target_modules")), string(where + ".task_type", d.get("task_type")),
                    bool(where + ".use_rslora", d.get("use_rslora")), bool(where + ".use_dora", d.get("use_dora")),
                    strings(where + ".modules_to_save", d.get("modules_to_save"))));
        }

        private Optional<String> string(String where, Optional<PyValue> v) {
            if (v.isEmpty() || v.get() instanceof PyValue.None) return Optional.empty();
            if (v.get() instanceof PyValue.Str s) return Optional.of(s.value());
            warnings.add(where + ": cannot read " + describe(v.get()) + " as a string");
            return Optional.empty();
        }

        private Optional<Integer> integer(String where, Optional<PyValue> v) {
            if (v.isEmpty() || v.get() instanceof PyValue.None) return Optional.empty();
            if (v.get() instanceof PyValue.Int i && i.value().bitLength() < 32) return Optional.of(i.value().intValue());
            warnings.add(where + ": cannot read " + describe(v.get()) + " as an integer");
            return Optional.empty();
        }

        private Optional<Number> number(String where, Optional<PyValue> v) {
            if (v.isEmpty() || v.get() instanceof PyValue.None) return Optional.empty();
            if (v.get() instanceof PyValue.Int i && i.value().bitLength() < 63) return Optional.of(i.value().longValue());
            if (v.get() instanceof PyValue.Float f && Double.isFinite(f.value())) return Optional.of(f.value());
            warnings.add(where + ": cannot read " + describe(v.get()) + " as a number");
            return Optional.empty();
        }

        private Optional<Boolean> bool(String where, Optional<PyValue> v) {
            if (v.isEmpty() || v.get() instanceof PyValue.None) return Optional.empty();
            if (v.get() instanceof PyValue.Bool b) return Optional.of(b.value());
            warnings.add(where + ": cannot read " + describe(v.get()) + " as True/False");
            return Optional.empty();
        }

        /** A list/tuple of strings, or one string (PEFT accepts a regex there). */
        private Optional<List<String>> strings(String where, Optional<PyValue> v) {
            if (v.isEmpty() || v.get() instanceof PyValue.None) return Optional.empty();
            List<PyValue> items = switch (v.get()) {
                case PyValue.PyList l -> l.items();
                case PyValue.Tuple t -> t.items();
                case PyValue.Str s -> List.of(s);
                default -> null;
            };
            if (items != null && items.stream().allMatch(i -> i instanceof PyValue.Str)) {
                return Optional.of(items.stream().map(i -> ((PyValue.Str) i).value()).toList());
            }
            warnings.add(where + ": cannot read " + describe(v.get()) + " as a list of names");
            return Optional.empty();
        }
    }

    static String describe(PyValue v) {
        String s = switch (v) {
            case PyValue.Unknown u -> "`" + u.source() + "` (" + u.reason() + ")";
            case PyValue.Call c -> "`" + describeShort(c.callee()) + "(…)` (a call, not evaluated)";
            case PyValue.Str s2 -> "'" + s2.value() + "'";
            case PyValue.Int i -> i.value().bitLength() < 64 ? i.value().toString() : "a " + i.value().bitLength() + "-bit integer";
            default -> describeShort(v);
        };
        return s.length() <= 140 ? s : s.substring(0, 137) + "…";
    }

    private static String describeShort(PyValue v) {
        return switch (v) {
            case PyValue.Name n -> n.dotted();
            case PyValue.Float f -> Double.toString(f.value());
            case PyValue.Bool b -> b.value() ? "True" : "False";
            case PyValue.None n -> "None";
            case PyValue.PyList l -> "a list of " + l.items().size();
            case PyValue.Tuple t -> "a tuple of " + t.items().size();
            case PyValue.Dict d -> "a dict of " + d.entries().size();
            case PyValue.Int i -> i.value().bitLength() < 64 ? i.value().toString() : "a large integer";
            case PyValue.Str s -> "a string";
            case PyValue.Call c -> "a call";
            case PyValue.Unknown u -> u.source();
        };
    }
}
