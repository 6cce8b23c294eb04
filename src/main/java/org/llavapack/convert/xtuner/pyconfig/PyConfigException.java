package org.llavapack.convert.xtuner.pyconfig;

/**
 * The one exception the config reader throws: the text as a whole cannot be read (too large, not text). Anything
 * smaller — a statement it cannot follow — becomes a warning instead, so a config that uses one unusual construct
 * still yields everything else.
 */
public final class PyConfigException extends RuntimeException {
    public PyConfigException(String message) {
        super(message);
    }
}
