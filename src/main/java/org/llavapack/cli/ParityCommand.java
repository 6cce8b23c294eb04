package org.llavapack.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import org.llavapack.CheckFailedException;
import org.llavapack.OutputException;
import org.llavapack.io.AtomicOutput;
import org.llavapack.parity.ComponentSource;
import org.llavapack.parity.ComponentSources;
import org.llavapack.parity.ParityInputs;
import org.llavapack.parity.ParityReport;
import org.llavapack.parity.ParityReport.Component;
import org.llavapack.parity.ParityRunner;
import org.llavapack.parity.ReportHtml;
import org.llavapack.parity.ReportJson;
import org.llavapack.parity.ReportText;
import org.llavapack.parity.SourceOptions;
import org.llavapack.parity.Tolerance;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "parity", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the vision tower, connector and LLM of REFERENCE and CANDIDATE on the same inputs (DJL PyTorch engine, fp32) and say "
                + "with numbers whether they agree.",
                "REFERENCE/CANDIDATE: an HF Llama folder, a PEFT adapter folder (+ --base), a pth-to-hf output folder (llm_adapter/, projector/), "
                        + "a projector folder, a CLIP/PLIP folder, an XTuner .pth state dict, or an XTuner DeepSpeed checkpoint folder (fp32 masters). GGUF and ONNX are not readable here yet."},
        footer = {"", "Exit codes: 0 all compared components pass, 1 a component fails (named on stderr), 2 usage, 3 bad input, 4 I/O."})
final class ParityCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "REFERENCE", description = "The trusted side (e.g. the XTuner checkpoint).")
    Path reference;

    @Parameters(index = "1", paramLabel = "CANDIDATE", description = "The artifact to check.")
    Path candidate;

    @Option(names = "--component", paramLabel = "plip|connector|llm|all", description = "What to compare (default: all that both sides have).")
    String component = "all";

    @Option(names = "--base", paramLabel = "DIR", description = "Base HF Llama folder under LoRA adapters (default: the adapter's base_model_name_or_path if it is a local folder).")
    Path base;

    @Option(names = "--vision", paramLabel = "DIR", description = "CLIP/PLIP folder for sources without a vision tower (PA-LLaVA's is frozen and not in the checkpoint).")
    Path vision;

    @Option(names = "--device", paramLabel = "cpu|cuda[:N]", description = "Engine device (default cpu).")
    String device = "cpu";

    @Option(names = "--inputs", paramLabel = "FILE", description = "JSON: image, question, template (llama3_chat|none), input_ids, seed, greedy_tokens.")
    Path inputs;

    @Option(names = "--report", paramLabel = "FILE", description = "Write the JSON report here.")
    Path report;

    @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML page (verdicts, per-layer errors, |Δ| histogram, token agreement).")
    Path html;

    @Option(names = "--threads", paramLabel = "N", description = "PyTorch threads (default: 1 for models under 50M parameters, else all cores).")
    int threads;

    @Option(names = "--force", description = "Replace existing report files.")
    boolean force;

    @Option(names = "--qformer-heads", paramLabel = "N", description = "Q-Former attention heads (default: config.json's num_attention_heads, the checkpoint's config text, or hidden/64).")
    Integer qformerHeads;

    @Option(names = "--lora-alpha", paramLabel = "X", description = "LoRA alpha for an XTuner checkpoint whose config text does not say.")
    Double loraAlpha;

    @Option(names = "--greedy-tokens", paramLabel = "N", description = "Greedy continuation length (default 16).")
    Integer greedyTokens;

    @Option(names = "--seed", paramLabel = "N", description = "Seed for pixels and features (default 20240612).")
    Long seed;

    @Option(names = "--tolerance", paramLabel = "fp32|fp16|bf16|q8_0", description = "Use this tolerance class instead of the one the dtypes imply.")
    String toleranceClass;

    @Option(names = "--max-rel-l2", paramLabel = "X", description = "Override: largest relative L2 error ‖Δ‖/‖ref‖.")
    Double maxRelL2;

    @Option(names = "--min-cosine", paramLabel = "X", description = "Override: smallest cosine similarity.")
    Double minCosine;

    @Option(names = "--min-top1", paramLabel = "X", description = "Override: smallest LLM top-1 agreement (0..1).")
    Double minTop1;

    @Option(names = "--max-kl", paramLabel = "X", description = "Override: largest mean KL divergence (nats); NaN turns the check off.")
    Double maxKl;

    @Option(names = "--min-greedy", paramLabel = "N", description = "Override: greedy tokens that must agree before the first difference (-1: not checked).")
    Integer minGreedy;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        EnumSet<Component> components = switch (component) {
            case "all" -> EnumSet.allOf(Component.class);
            case "plip", "vision" -> EnumSet.of(Component.PLIP);
            case "connector", "projector" -> EnumSet.of(Component.CONNECTOR);
            case "llm" -> EnumSet.of(Component.LLM);
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--component must be plip, connector, llm or all, not '" + component + "'");
        };
        if (toleranceClass != null && Tolerance.named(toleranceClass).isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tolerance must be fp32, fp16, bf16, fp8 or q8_0");
        }
        if (report != null && !force && Files.exists(report)) throw new OutputException(report, "already exists (use --force to replace it)", null);
        if (html != null && !force && Files.exists(html)) throw new OutputException(html, "already exists (use --force to replace it)", null);
        ParityInputs in = inputs != null ? ParityInputs.read(inputs) : ParityInputs.defaults();
        if (greedyTokens != null) in = in.withGreedyTokens(greedyTokens);
        if (seed != null) in = in.withSeed(seed);
        SourceOptions opts = new SourceOptions(Optional.ofNullable(base), Optional.ofNullable(vision),
                qformerHeads == null ? OptionalInt.empty() : OptionalInt.of(qformerHeads), loraAlpha == null ? OptionalDouble.empty() : OptionalDouble.of(loraAlpha));
        Tolerance.Overrides overrides = new Tolerance.Overrides(toleranceClass, maxRelL2, minCosine, minTop1, maxKl, minGreedy);
        ParityReport r;
        try (ComponentSource ref = ComponentSources.open(reference, opts); ComponentSource cand = ComponentSources.open(candidate, opts)) {
            r = ParityRunner.run(ref, cand, new ParityRunner.Options(components, !component.equals("all"), device, in, overrides,
                    Long.getLong("llavapack.parity.maxResidentBytes", 4L << 30), Main.Version.get(), threads));
        }
        PrintWriter out = spec.commandLine().getOut();
        ReportText.print(r, out);
        if (report != null) write(report, ReportJson.render(r));
        if (html != null) write(html, ReportHtml.render(r));
        if (!r.passed()) {
            if (r.failed().isEmpty()) throw new CheckFailedException("parity: nothing was compared (no component on both sides)");
            throw new CheckFailedException("parity failed: " + String.join("; ", r.failed().stream()
                    .map(c -> c.component().label + " (" + c.reason() + ")").toList()));
        }
        return 0;
    }

    private void write(Path target, String text) {
        try (AtomicOutput o = AtomicOutput.file(target, force || !Files.exists(target))) {
            try {
                Files.writeString(o.path(), text, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw OutputException.of(target, e);
            }
            o.commit();
        }
    }
}
