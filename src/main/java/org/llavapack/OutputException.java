package org.llavapack;

import java.io.IOException;
import java.nio.file.Path;

/** Reading or writing failed for a reason outside the input's content: disk full, permissions, vanished files. Exit code 4. */
public final class OutputException extends LlavapackException {
    public OutputException(Path path, String what, Throwable cause) {
        super(path + ": " + what, cause);
    }

    public static OutputException of(Path path, IOException e) {
        String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof java.nio.file.AccessDeniedException) reason = "permission denied";
        else if (e instanceof java.nio.file.NoSuchFileException) reason = "no such file or directory";
        else if (e instanceof java.nio.file.FileAlreadyExistsException) reason = "already exists";
        else if (reason.contains("No space left")) reason = "no space left on device";
        return new OutputException(path, reason, e);
    }

    @Override
    public int exitCode() {
        return 4;
    }
}
