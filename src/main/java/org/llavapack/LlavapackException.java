package org.llavapack;

/**
 * The failures llavapack reports to its user. Each kind maps to one exit code, so the CLI never has to guess
 * from a message whether the input, a check or the disk was at fault.
 */
public sealed abstract class LlavapackException extends RuntimeException
        permits BadInputException, CheckFailedException, OutputException {

    protected LlavapackException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Process exit code for this failure (see README: 1 check, 3 bad input, 4 I/O). */
    public abstract int exitCode();
}
