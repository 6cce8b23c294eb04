package org.llavapack.formats.pickle;

/**
 * A symbol named by GLOBAL or STACK_GLOBAL: {@code module.name}, kept as text and never imported. The module is kept
 * as the pickle spelled it ({@code __builtin__} or {@code builtins}); {@link #canonical()} unifies spellings.
 */
public record PyGlobal(String module, String name) {

    /** {@code module.name} as written in the pickle, the form error messages use. */
    public String qualifiedName() {
        return module + "." + name;
    }

    /**
     * The name with Python 2 and numpy 1/2 spellings unified ({@code __builtin__} → {@code builtins},
     * {@code copy_reg} → {@code copyreg}, {@code numpy._core} → {@code numpy.core}), for table look-ups.
     */
    public String canonical() {
        String m = switch (module) {
            case "__builtin__" -> "builtins";
            case "copy_reg" -> "copyreg";
            default -> module.startsWith("numpy._core") ? "numpy.core" + module.substring("numpy._core".length()) : module;
        };
        return m + "." + name;
    }

    public boolean is(String canonicalName) {
        return canonical().equals(canonicalName);
    }

    @Override
    public String toString() {
        return qualifiedName();
    }
}
