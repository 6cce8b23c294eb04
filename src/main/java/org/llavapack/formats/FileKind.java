package org.llavapack.formats;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.llavapack.OutputException;

/**
 * What a file is, decided from its first bytes and never from its extension: a pickle renamed to .bin or
 * .safetensors must not reach a reader that trusts the name (CVE-2025-10155).
 */
public enum FileKind {
    SAFETENSORS,
    JSON,
    ZIP,
    TORCH_LEGACY,
    PICKLE,
    GGUF,
    TAR,
    UNKNOWN;

    public static FileKind detect(Path file) {
        byte[] head = new byte[512];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return ZIP;
        if (n >= 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F') return GGUF;
        if (n >= 4 && (head[0] & 0xFF) == 0x80 && head[1] == 2 && (head[2] & 0xFF) == 0x8A && head[3] == 0x0A) return TORCH_LEGACY;
        // Before the pickle test: a safetensors header length such as 384 (0x180) starts with the bytes 0x80 0x01.
        if (n >= 9) {
            long len = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (len > 0 && head[8] == '{') return SAFETENSORS;
        }
        if (n >= 2 && (head[0] & 0xFF) == 0x80 && head[1] >= 0 && head[1] <= 5) return PICKLE;
        if (n >= 262 && head[257] == 'u' && head[258] == 's' && head[259] == 't' && head[260] == 'a' && head[261] == 'r') return TAR;
        for (int i = 0; i < n; i++) {
            byte b = head[i];
            if (b == ' ' || b == '\n' || b == '\r' || b == '\t') continue;
            if (b == '{') return JSON;
            break;
        }
        return UNKNOWN;
    }
}
