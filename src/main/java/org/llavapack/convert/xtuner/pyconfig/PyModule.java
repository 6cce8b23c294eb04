package org.llavapack.convert.xtuner.pyconfig;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A config file read as data: its top-level variables (last assignment wins, as when Python runs it) and what could
 * not be read, one line per item.
 */
public record PyModule(Map<String, PyValue> variables, List<String> warnings) {
    public PyModule {
        variables = Collections.unmodifiableMap(new LinkedHashMap<>(variables));
        warnings = List.copyOf(warnings);
    }

    public Optional<PyValue> get(String name) {
        return Optional.ofNullable(variables.get(name));
    }
}
