package org.llavapack.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Properties;
import org.llavapack.LlavapackException;
import org.llavapack.OutputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code llavapack} command line. */
@Command(name = "llavapack",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Turns LLaVA-family training checkpoints into released artifacts: exactly, safely, in bounded memory.",
        subcommands = {InspectCommand.class, ConvertCommand.class, MergeLoraCommand.class, ExportCommand.class, ParityCommand.class, KeygenCommand.class, BundleCommand.class, VerifyCommand.class,
                PublishCommand.class, PullCommand.class, ReleaseCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 bad input, 4 I/O error."})
public final class Main implements Runnable {

    @CommandLine.Mixin
    GlobalOptions global;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    public static void main(String[] args) {
        int code = run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        System.exit(code);
    }

    /** Runs the CLI and returns the exit code (used by tests in-process). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> report(ex, err));
        try {
            return cli.execute(args);
        } finally {
            out.flush();
            err.flush();
        }
    }

    /** One line on stderr; the stack trace only with --debug. */
    static int report(Throwable ex, PrintWriter err) {
        Throwable cause = ex;
        if (cause instanceof UncheckedIOException u) cause = OutputException.of(java.nio.file.Path.of("?"), u.getCause());
        int code;
        if (cause instanceof LlavapackException le) {
            err.println("error: " + org.llavapack.io.AtomicOutput.finalNames(le.getMessage()));
            code = le.exitCode();
        } else if (cause instanceof OutOfMemoryError) {
            err.println("error: out of memory (raise -Xmx through JAVA_OPTS); this is a bug if the input is well-formed");
            code = 4;
        } else {
            err.println("error: internal error, please report: " + cause);
            code = 70;
        }
        if (GlobalOptions.debug) cause.printStackTrace(err);
        err.flush();
        return code;
    }

    /** Reads the version Maven wrote into the jar. */
    public static final class Version implements CommandLine.IVersionProvider {
        public static String get() {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("/org/llavapack/version.properties")) {
                if (in != null) p.load(in);
            } catch (IOException ignored) {
                // fall through to "unknown"
            }
            return p.getProperty("version", "unknown");
        }

        @Override
        public String[] getVersion() {
            return new String[] {"llavapack " + get(), "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
