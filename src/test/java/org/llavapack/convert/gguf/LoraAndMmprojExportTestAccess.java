package org.llavapack.convert.gguf;

import java.nio.file.Path;

/** Lets integration tests in other packages build the test projector folder. */
public final class LoraAndMmprojExportTestAccess {
    private LoraAndMmprojExportTestAccess() {}

    public static Path projector(Path dir) {
        return LoraAndMmprojExportTest.projector(dir, true);
    }
}
