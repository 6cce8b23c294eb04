package org.llavapack.convert.xtuner;

/**
 * A setting the checkpoint does not record and llavapack will not guess (lora_alpha): the user has to name it. An
 * {@link IllegalArgumentException} so the CLI reports it as a usage error (exit 2), the way it reports bad option
 * values.
 */
public final class MissingSettingException extends IllegalArgumentException {
    private final String option;

    public MissingSettingException(String option, String message) {
        super(message);
        this.option = option;
    }

    /** The command-line option that supplies the setting, e.g. {@code --lora-alpha}. */
    public String option() {
        return option;
    }
}
