package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;

/**
 * Output faults through the real CLI (issue #9): a full disk and an unwritable folder end in exit 4 with one clear
 * line, no partial output and untouched inputs; existing data is never replaced without --force; a flipped byte in
 * a checkpoint's storage is caught by the zip CRC (exit 3 naming the file).
 *
 * <p>A small file system needs privileges: the test mounts a tmpfs inside {@code unshare --user --map-root-user
 * --mount}, which works without root where unprivileged user namespaces are enabled, and skips with the reason
 * printed where they are not. Root ignores permission bits, so as root the unwritable-folder test runs the CLI as an
 * unmapped user through {@code unshare --user}.
 */
class OutputFaultsIT {
    private static final int LAYERS = 2; // 12 MB: more than the 4 MB file system below, quick to write

    @TempDir
    static Path work;
    static Path base, adapter;

    @BeforeAll
    static void fixtures() throws IOException {
        base = SyntheticModel.base(work.resolve("base"), LAYERS);
        adapter = SyntheticModel.adapter(work.resolve("adapter"), LAYERS);
    }

    static TreeMap<String, byte[]> snapshot(Path... inputs) throws IOException {
        TreeMap<String, byte[]> m = new TreeMap<>();
        for (Path in : inputs) KillNineIT.contents(in).forEach((k, v) -> m.put(in + "/" + k, v));
        return m;
    }

    static void assertUnchanged(TreeMap<String, byte[]> before, Path... inputs) throws IOException {
        TreeMap<String, byte[]> after = snapshot(inputs);
        assertEquals(before.keySet(), after.keySet(), "input file list");
        for (String k : before.keySet()) assertArrayEquals(before.get(k), after.get(k), "input modified: " + k);
    }

    private static String run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            return p.waitFor() == 0 ? null : "'" + String.join(" ", cmd) + "' failed: " + out;
        } catch (IOException | InterruptedException e) {
            return "'" + String.join(" ", cmd) + "' cannot run: " + e.getMessage();
        }
    }

    /** Skips (printing why) when this machine cannot give an unprivileged process a mount namespace. */
    private static void assumeUserNamespaces(List<String> probe) {
        String why = run(probe);
        if (why != null) System.out.println("OutputFaultsIT: skipped: " + why);
        Assumptions.assumeTrue(why == null, () -> "user namespaces unavailable: " + why);
    }

    private static final String TMPFS_SCRIPT = """
            mount -t tmpfs -o size=4m llavapack-full "$1" || exit 97
            dir="$1"; shift
            "$@"; rc=$?
            echo "LEFT:$(ls -A "$dir" | tr '\\n' ' ')"
            exit $rc
            """;

    /** Runs the CLI with {@code dir} as a 4 MB tmpfs; returns the result, stdout ending in the folder's listing. */
    private static CliRunner.Result onTinyDisk(Path dir, String... args) throws IOException {
        List<String> prefix = List.of("unshare", "--user", "--map-root-user", "--mount", "bash", "-c", TMPFS_SCRIPT, "bash", dir.toString());
        Launch l = Launch.start(work.resolve("logs"), Map.of(), prefix, args);
        return l.await(300);
    }

    private static void assertOneLine(CliRunner.Result r, int exit, String... needles) {
        String errors = r.stderr().strip();
        assertEquals(exit, r.exit(), r.stderr() + r.stdout());
        assertEquals(1, errors.lines().count(), "one line on stderr: " + errors);
        assertTrue(errors.startsWith("error: "), errors);
        for (String n : needles) assertTrue(errors.contains(n), "'" + n + "' in: " + errors);
    }

    @Test
    void diskFullExitsFourLeavingNothing() throws IOException {
        assumeUserNamespaces(List.of("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m probe /mnt"));
        var before = snapshot(base, adapter);
        Path full = Files.createDirectories(work.resolve("full"));
        for (String[] args : List.of(
                new String[] {"merge-lora", "-q", base.toString(), adapter.toString(), full.resolve("merged").toString()},
                new String[] {"export", "gguf", "-q", base.toString(), full.resolve("model.gguf").toString(), "--outtype", "f32"},
                new String[] {"convert", "safetensors", "-q", base.toString(), full.resolve("f32").toString(), "--dtype", "fp32"},
                new String[] {"bundle", "-q", base.toString(), "--out", full.resolve("bundle").toString(), "--name", "s", "--version", "1", "--license", "llama3"})) {
            var r = onTinyDisk(full, args);
            String what = String.join(" ", args[0], args[1]);
            assertOneLine(r, 4, "no space left on device", full.toString());
            assertFalse(r.stderr().contains("llavapack-tmp"), what + ": the message names the output, not its temporary: " + r.stderr());
            assertFalse(r.stderr().contains(base.toString()), what + ": the message names the output, not the input: " + r.stderr());
            assertTrue(r.stdout().strip().endsWith("LEFT:"), what + ": the full file system holds nothing afterwards: " + r.stdout());
            System.out.println("disk full, " + what + ": exit 4, " + r.stderr().strip());
        }
        assertUnchanged(before, base, adapter);
    }

    @Test
    void unwritableFolderExitsFour() throws IOException {
        boolean root = "0".equals(uid());
        List<String> prefix = root ? List.of("unshare", "--user") : List.of();
        if (root) assumeUserNamespaces(List.of("unshare", "--user", "true"));
        // The CLI may run as an unmapped user: it must be able to read the inputs and the launcher.
        for (Path p = work; p != null && p.startsWith(work.getRoot()) && !p.equals(p.getRoot()); p = p.getParent()) {
            if (p.startsWith(work)) Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            else break;
        }
        Path ro = Files.createDirectories(work.resolve("readonly"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        var before = snapshot(base, adapter);
        try {
            for (String[] args : List.of(
                    new String[] {"merge-lora", "-q", base.toString(), adapter.toString(), ro.resolve("merged").toString()},
                    new String[] {"export", "gguf", "-q", base.toString(), ro.resolve("model.gguf").toString()},
                    new String[] {"convert", "pth-to-hf", "-q", TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), ro.resolve("hf").toString()})) {
                var r = Launch.start(work.resolve("logs"), Map.of(), prefix, args).await(300);
                assertOneLine(r, 4, "permission denied", ro.toString());
                try (Stream<Path> s = Files.list(ro)) {
                    assertEquals(List.of(), s.toList());
                }
                System.out.println("unwritable folder" + (root ? " (as an unmapped user, since tests run as root)" : "") + ", " + args[0] + ": " + r.stderr().strip());
            }
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        assertUnchanged(before, base, adapter);
    }

    private static String uid() {
        try {
            Process p = new ProcessBuilder("id", "-u").start();
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void existingOutputsAreNeverReplacedWithoutForce() throws IOException {
        Path dir = Files.createDirectories(work.resolve("existing"));
        List<String[]> commands = new ArrayList<>();
        Path folder = Files.createDirectories(dir.resolve("folder"));
        Files.writeString(folder.resolve("precious.txt"), "user data");
        Files.writeString(dir.resolve("file.gguf"), "user data");
        commands.add(new String[] {"merge-lora", "-q", base.toString(), adapter.toString(), folder.toString()});
        commands.add(new String[] {"convert", "pth-to-hf", "-q", TestPaths.checkpoint("xtuner-zero2-bf16/iter_8.pth").toString(), folder.toString()});
        commands.add(new String[] {"convert", "safetensors", "-q", base.toString(), folder.toString()});
        commands.add(new String[] {"bundle", "-q", base.toString(), "--out", folder.toString(), "--name", "s", "--version", "1", "--license", "llama3"});
        commands.add(new String[] {"export", "gguf", "-q", base.toString(), dir.resolve("file.gguf").toString()});
        for (String[] args : commands) {
            var r = CliRunner.run(args);
            assertOneLine(r, 4, "already exists", "--force");
            assertEquals("user data", Files.readString(folder.resolve("precious.txt")), args[0]);
            assertEquals("user data", Files.readString(dir.resolve("file.gguf")), args[0]);
            try (Stream<Path> s = Files.list(dir)) {
                assertEquals(2, s.count(), args[0] + ": nothing else written");
            }
        }
        var forced = CliRunner.run("export", "gguf", "-q", "--force", base.toString(), dir.resolve("file.gguf").toString());
        assertEquals(0, forced.exit(), forced.stderr());
        assertFalse(Files.readString(dir.resolve("file.gguf"), StandardCharsets.ISO_8859_1).equals("user data"));
    }

    /** Offset of a stored member's data in a zip, found through its local header (the fixture stores, never deflates). */
    private static int memberData(byte[] zip, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = 0; i + 30 + n.length <= zip.length; i++) {
            if (zip[i] != 'P' || zip[i + 1] != 'K' || zip[i + 2] != 3 || zip[i + 3] != 4) continue;
            int nameLen = (zip[i + 26] & 0xFF) | (zip[i + 27] & 0xFF) << 8, extraLen = (zip[i + 28] & 0xFF) | (zip[i + 29] & 0xFF) << 8;
            if (nameLen != n.length) continue;
            for (int k = 0; k < n.length; k++) if (zip[i + 30 + k] != n[k]) continue outer;
            return i + 30 + nameLen + extraLen;
        }
        throw new IllegalStateException(name + " not in the zip");
    }

    @Test
    void aFlippedStorageByteIsCaughtByTheZipCrc() throws IOException {
        byte[] zip = Files.readAllBytes(TestPaths.checkpoint("xtuner-single.pth"));
        zip[memberData(zip, "archive/data/11") + 100] ^= 0x01;
        Path bad = Files.write(work.resolve("flipped.pth"), zip);
        var r = CliRunner.run("convert", "pth-to-hf", "-q", bad.toString(), work.resolve("flipped-hf").toString());
        assertOneLine(r, 3, bad.toString(), "CRC");
        assertFalse(Files.exists(work.resolve("flipped-hf")));
        var i = CliRunner.run("inspect", "--stats", bad.toString());
        assertOneLine(i, 3, bad.toString(), "CRC");
        System.out.println("flipped storage byte: " + r.stderr().strip());
    }
}
