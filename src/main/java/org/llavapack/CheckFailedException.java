package org.llavapack;

/** A verification (parity, verify, self-check) ran to completion and found a mismatch. Exit code 1. */
public final class CheckFailedException extends LlavapackException {
    public CheckFailedException(String message) {
        super(message, null);
    }

    @Override
    public int exitCode() {
        return 1;
    }
}
