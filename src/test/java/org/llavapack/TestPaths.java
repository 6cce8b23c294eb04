package org.llavapack;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locations of the committed fixtures, wherever the tests run from. */
public final class TestPaths {
    private TestPaths() {}

    public static Path repo() {
        String prop = System.getProperty("llavapack.repo");
        Path p = prop != null ? Path.of(prop) : Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("test-checkpoints"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("cannot find the repository root (test-checkpoints/)");
        return p;
    }

    public static Path checkpoints() {
        return repo().resolve("test-checkpoints");
    }

    public static Path checkpoint(String name) {
        return checkpoints().resolve(name);
    }
}
