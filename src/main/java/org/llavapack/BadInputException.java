package org.llavapack;

import java.nio.file.Path;

/** An input file is not what it claims to be, or is hostile. Exit code 3. */
public final class BadInputException extends LlavapackException {
    private final String file;

    public BadInputException(Path file, String what) {
        this(file == null ? null : file.toString(), what, null);
    }

    public BadInputException(Path file, String what, Throwable cause) {
        this(file == null ? null : file.toString(), what, cause);
    }

    public BadInputException(String file, String what, Throwable cause) {
        super(file == null ? what : file + ": " + what, cause);
        this.file = file;
    }

    /** The offending file as given on the command line or found inside a folder, or null. */
    public String file() {
        return file;
    }

    @Override
    public int exitCode() {
        return 3;
    }
}
