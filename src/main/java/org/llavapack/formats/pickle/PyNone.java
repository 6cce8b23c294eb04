package org.llavapack.formats.pickle;

/** Python's {@code None}. A singleton rather than Java null, so a missing map entry and a stored None differ. */
public enum PyNone {
    NONE;

    @Override
    public String toString() {
        return "None";
    }
}
