package org.llavapack.formats.torch;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.pickle.PickleReader;
import org.llavapack.formats.pickle.PyRepr;

/**
 * Randomly corrupted checkpoints and pickles: whatever the damage, the reader either loads the file or refuses it
 * with a {@link BadInputException}; never another exception, a hang or a crash. Seeded, so failures reproduce.
 */
class CorruptionFuzzTest {
    private static final Path DIR = TestPaths.checkpoint("torch");

    @TempDir
    Path tmp;

    private static byte[] mutate(byte[] original, Random rnd) {
        byte[] b;
        switch (rnd.nextInt(4)) {
            case 0 -> b = Arrays.copyOf(original, rnd.nextInt(original.length)); // truncate
            case 1 -> { // a few random bytes
                b = original.clone();
                for (int k = 1 + rnd.nextInt(3); k > 0; k--) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
            }
            case 2 -> { // an interesting byte: small/large lengths and opcodes
                b = original.clone();
                int[] interesting = {0x00, 0x01, 0x7F, 0x80, 0xFF, '(', ')', ']', '}', 'R', 'b', 's', 'u', 'a', 'e', 'Q', 'h', 'q', '0', '.'};
                b[rnd.nextInt(b.length)] = (byte) interesting[rnd.nextInt(interesting.length)];
            }
            default -> { // a block moved elsewhere
                b = original.clone();
                int len = 1 + rnd.nextInt(16), from = rnd.nextInt(b.length), to = rnd.nextInt(b.length);
                System.arraycopy(original, from, b, to, Math.min(len, Math.min(b.length - from, b.length - to)));
            }
        }
        return b;
    }

    private static byte[] dataPkl(Path zip) throws IOException {
        try (ZipFile z = new ZipFile(zip.toFile())) {
            for (ZipEntry e : java.util.Collections.list(z.entries())) {
                if (e.getName().endsWith("/data.pkl")) {
                    try (InputStream in = z.getInputStream(e)) {
                        return in.readAllBytes();
                    }
                }
            }
        }
        throw new IllegalStateException("no data.pkl in " + zip);
    }

    @Test
    void corruptedCheckpointsAreRefusedCleanly() throws IOException {
        Random rnd = new Random(20240612);
        for (String name : new String[] {"legacy.pth", "zip-basic.pth", "ordered.pth", "zip-deflated.pth"}) {
            byte[] original = Files.readAllBytes(DIR.resolve(name));
            for (int i = 0; i < 250; i++) {
                Path f = tmp.resolve("fuzz-" + name);
                Files.write(f, mutate(original, rnd));
                try (TorchCheckpoint c = TorchCheckpoint.open(f); Arena arena = Arena.ofConfined()) {
                    c.stateDict().values().forEach(t -> t.data(arena));
                    c.otherKeys();
                    PyRepr.of(c.root());
                } catch (BadInputException expected) {
                    // refused: fine
                } catch (RuntimeException | Error e) {
                    fail(name + " mutation " + i + ": " + e, e);
                }
            }
        }
    }

    @Test
    void corruptedPicklesAreRefusedCleanly() throws IOException {
        Random rnd = new Random(7);
        for (String name : new String[] {"zip-basic.pth", "zip-proto4.pth", "ordered.pth"}) {
            byte[] original = dataPkl(DIR.resolve(name));
            for (int i = 0; i < 1000; i++) {
                byte[] b = mutate(original, rnd);
                try {
                    PyRepr.of(PickleReader.parse(Path.of(name), b));
                } catch (BadInputException expected) {
                    // refused: fine
                } catch (RuntimeException | Error e) {
                    fail(name + " data.pkl mutation " + i + ": " + e, e);
                }
            }
        }
    }
}
