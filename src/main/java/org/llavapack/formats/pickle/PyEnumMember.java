package org.llavapack.formats.pickle;

/**
 * An enum member as Python ≥ 3.11 pickles it: {@code builtins.getattr(EnumClass, 'NAME')}. Kept symbolic; the
 * reader refuses any attempt to call it. For DeepSpeed's {@code ZeroStageEnum} the names map to stages as
 * disabled 0, optimizer_states 1, gradients 2, weights 3 (max_stage is an alias of 3).
 */
public record PyEnumMember(PyGlobal type, String name) {
    @Override
    public String toString() {
        return type.qualifiedName() + "." + name;
    }
}
