package org.llavapack.release;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.bundle.Keys;
import org.llavapack.io.AtomicOutput;

/**
 * {@code release --demo}: the tiny PA-LLaVA checkpoint shipped in test-checkpoints/ (an XTuner ZeRO-2 run of 16 ranks
 * with a LoRA Llama, a Q-Former connector and a frozen PLIP; see test-checkpoints/README.md), released in every format.
 * The files live in the checkout, not in the jar, so they are looked up next to the jar ({@code target/..}), in
 * {@code llavapack.home}, and in the working directory.
 */
public final class Demo {
    private Demo() {}

    public static final String CHECKPOINT = "xtuner-zero2-bf16/iter_8.pth", BASE = "tiny-llama", VISION = "tiny-plip";
    /** The Q-Former's head count: no tensor shape shows it and the tiny run's config text does not say. */
    public static final int QFORMER_HEADS = 4;

    public record Inputs(Path checkpoint, Path base, Path vision) {}

    public static Inputs locate() {
        List<Path> tried = new ArrayList<>();
        for (Path root : roots()) {
            Path tc = root.resolve("test-checkpoints");
            tried.add(tc);
            if (Files.isDirectory(tc.resolve(CHECKPOINT)) && Files.isDirectory(tc.resolve(BASE)) && Files.isDirectory(tc.resolve(VISION))) {
                return new Inputs(shortest(tc.resolve(CHECKPOINT)), shortest(tc.resolve(BASE)), shortest(tc.resolve(VISION)));
            }
        }
        throw new BadInputException((String) null, "the demo checkpoint was not found (looked in " + tried
                + "): run the demo from a llavapack checkout", null);
    }

    /**
     * Relative to the working directory when inside it: conversion.json and the model card record input paths as
     * given, so the demo's bundle then does not depend on where the checkout lives.
     */
    private static Path shortest(Path p) {
        Path cwd = Path.of("").toAbsolutePath();
        Path abs = p.toAbsolutePath().normalize();
        return abs.startsWith(cwd) ? cwd.relativize(abs) : abs;
    }

    private static List<Path> roots() {
        List<Path> roots = new ArrayList<>();
        Optional.ofNullable(System.getProperty("llavapack.home")).map(Path::of).ifPresent(roots::add);
        try {
            // target/llavapack.jar or target/classes → the checkout
            Path code = Path.of(Demo.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (code.getParent() != null && code.getParent().getParent() != null) roots.add(code.getParent().getParent());
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            // no code source: fall back to the working directory
        }
        roots.add(Path.of("").toAbsolutePath());
        return roots;
    }

    /**
     * The demo signs its bundle with a key of its own, made once in {@code out/demo-key/} and reused on reruns (Ed25519
     * signatures are deterministic, so the bundle stays byte-identical). Real releases pass --key.
     */
    public static Path demoKey(Path out) {
        Path dir = out.resolve("demo-key");
        Path priv = dir.resolve("private.pem");
        if (Files.isRegularFile(priv)) return priv;
        Keys.SigningKey k = Keys.generateEd25519();
        try {
            Files.createDirectories(dir);
            write(priv, Keys.privatePem(k.privateKey()));
            write(dir.resolve("public.pem"), Keys.publicPem(k.publicKey()));
        } catch (IOException e) {
            throw OutputException.of(dir, e);
        }
        return priv;
    }

    private static void write(Path file, String text) throws IOException {
        try (AtomicOutput out = AtomicOutput.file(file, true)) {
            Files.writeString(out.path(), text);
            out.commit();
        }
    }
}
