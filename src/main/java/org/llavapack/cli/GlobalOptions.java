package org.llavapack.cli;

import java.io.PrintStream;
import org.llavapack.progress.Progress;
import org.llavapack.progress.TerminalProgress;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** Options every command accepts. */
public final class GlobalOptions {
    static volatile boolean debug;
    static volatile boolean quiet;

    @Option(names = "--debug", scope = ScopeType.INHERIT, description = "Print stack traces with errors.")
    void setDebug(boolean value) {
        debug = value;
    }

    @Option(names = {"-q", "--quiet"}, scope = ScopeType.INHERIT, description = "No progress display.")
    void setQuiet(boolean value) {
        quiet = value;
    }

    /**
     * A progress bar when stderr is a terminal (the launcher tells us: the JVM cannot see it) and --quiet is absent;
     * otherwise nothing, so logs and pipes stay clean.
     */
    static Progress progress() {
        if (quiet || !Boolean.getBoolean("llavapack.stderr.tty")) return Progress.NONE;
        return new TerminalProgress(new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true));
    }

    /** Informational messages go to stderr, never stdout, so --json output stays parseable. */
    static void info(String message) {
        if (!quiet) System.err.println(message);
    }
}
