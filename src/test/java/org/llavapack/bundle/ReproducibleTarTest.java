package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;

/** Headers for the cases ustar alone cannot express: sizes of 8 GiB and more, long names, non-ASCII names. */
class ReproducibleTarTest {

    /** Writes only the header(s) of one entry and returns them (the data is never written). */
    private static String headers(String name, long size) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes, 512, StandardCharsets.UTF_8.name());
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        tar.setAddPaxHeadersForNonAsciiNames(true);
        tar.putArchiveEntry(ReproducibleTar.entry(name, false, size, 0));
        tar.flush();
        return bytes.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void entriesOver8GiBGetAPaxSizeRecord() throws Exception {
        long size = 16_060_522_496L; // Llama-3-8B's total_size: a single-file 16 GB GGUF or safetensors
        String h = headers("model-f16.gguf", size);
        assertEquals('x', h.charAt(156), "first header is a PAX extended header");
        assertTrue(h.contains(" size=" + size + "\n"), "PAX record carries the exact size");
        assertEquals('0', h.charAt(512 + 512 + 156), "then the regular file header");
        // the octal size field holds zeros: the PAX record is authoritative
        assertEquals("00000000000", h.substring(1024 + 124, 1024 + 135));
    }

    @Test
    void exactly8GiBMinusOneStaysUstar() throws Exception {
        String h = headers("a.bin", 8L * 1024 * 1024 * 1024 - 1);
        assertEquals('0', h.charAt(156));
        assertEquals("77777777777", h.substring(124, 135));
    }

    @Test
    void longAndNonAsciiNamesGetPaxPathRecords() throws Exception {
        String longName = "onnx/" + "decoder-with-past-".repeat(8) + "model.onnx_data";
        String h = headers(longName, 10);
        assertEquals('x', h.charAt(156));
        assertTrue(h.contains(" path=" + longName + "\n"));
        String nonAscii = "modèle/poids.safetensors";
        String h2 = headers(nonAscii, 10);
        assertEquals('x', h2.charAt(156));
        assertTrue(new String(h2.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8).contains("path=" + nonAscii));
    }

    @Test
    void ordinaryEntriesArePlainUstarWithFixedFields() throws Exception {
        String h = headers("config.json", 672);
        assertEquals('0', h.charAt(156));
        assertEquals("ustar\u000000", h.substring(257, 265));
        assertEquals("0000644", h.substring(100, 107)); // mode
        assertEquals("0000000", h.substring(108, 115)); // uid
        assertEquals("0000000", h.substring(116, 123)); // gid
        assertEquals("00000000000", h.substring(136, 147)); // mtime 0
        assertEquals("\u0000".repeat(32), h.substring(265, 297)); // empty owner name
    }
}
