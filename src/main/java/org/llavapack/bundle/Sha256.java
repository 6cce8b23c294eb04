package org.llavapack.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.llavapack.LlavapackException;
import org.llavapack.OutputException;
import org.llavapack.progress.Progress;

/** Streaming SHA-256 of files and streams; many files are hashed in parallel, each one sequentially. */
public final class Sha256 {
    private Sha256() {}

    /** Large enough to keep the SHA-256 intrinsic busy, small enough that 16 threads cost 16 MiB. */
    static final int BUFFER = 1 << 20;

    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    public static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }

    public static String of(byte[] data) {
        return hex(newDigest().digest(data));
    }

    public static boolean isHex(String s) {
        if (s == null || s.length() != 64) return false;
        for (int i = 0; i < 64; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        }
        return true;
    }

    /** Size and digest of one file's bytes as read now. */
    public record Facts(long size, String sha256) {}

    public static Facts ofFile(Path file, Progress progress) {
        MessageDigest md = newDigest();
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER);
        long size = 0;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            int n;
            while ((n = ch.read(buffer.clear())) >= 0) {
                if (n == 0) continue;
                md.update(buffer.array(), 0, n);
                size += n;
                progress.advance(n, 0);
            }
        } catch (IOException e) {
            throw OutputException.of(file, e);
        }
        progress.advance(0, 1);
        return new Facts(size, hex(md.digest()));
    }

    /** Reads {@code in} to its end. */
    public static Facts ofStream(InputStream in, Progress progress) throws IOException {
        MessageDigest md = newDigest();
        byte[] buffer = new byte[BUFFER];
        long size = 0;
        int n;
        while ((n = in.read(buffer)) >= 0) {
            md.update(buffer, 0, n);
            size += n;
            progress.advance(n, 0);
        }
        return new Facts(size, hex(md.digest()));
    }

    /**
     * Hashes every file with up to {@code threads} threads, largest first so one big shard does not start last and
     * leave the other cores idle. Returns the results keyed like {@code files}, in its order.
     */
    public static Map<String, Facts> ofFiles(Map<String, Path> files, int threads, Progress progress) {
        List<Map.Entry<String, Path>> order = new ArrayList<>(files.entrySet());
        Map<Path, Long> sizes = new java.util.HashMap<>();
        for (var e : order) sizes.put(e.getValue(), e.getValue().toFile().length());
        order.sort(Comparator.comparingLong((Map.Entry<String, Path> e) -> sizes.get(e.getValue())).reversed());
        int n = Math.max(1, Math.min(threads, order.size()));
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "llavapack-sha256");
            t.setDaemon(true);
            return t;
        });
        try {
            Map<String, Future<Facts>> futures = new LinkedHashMap<>();
            for (var e : order) futures.put(e.getKey(), pool.submit(() -> ofFile(e.getValue(), progress)));
            Map<String, Facts> result = new LinkedHashMap<>();
            for (String key : files.keySet()) {
                try {
                    result.put(key, futures.get(key).get());
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof LlavapackException le) throw le;
                    throw new IllegalStateException(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while hashing", e);
                }
            }
            return result;
        } finally {
            pool.shutdownNow();
        }
    }
}
