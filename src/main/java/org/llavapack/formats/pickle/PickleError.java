package org.llavapack.formats.pickle;

/**
 * A malformed or refused construct found while reading a pickle. Internal: {@link PickleReader} turns it into a
 * {@link org.llavapack.BadInputException} that also names the file, the member and the byte offset.
 */
final class PickleError extends RuntimeException {
    PickleError(String message) {
        super(message, null, false, false);
    }
}
