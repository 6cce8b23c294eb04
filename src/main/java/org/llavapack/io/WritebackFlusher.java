package org.llavapack.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Flushes the files of a folder being written to disk while they are written, from a background thread.
 *
 * <p>Why: Linux starts writing dirty pages back only when they are 30 s old or exceed a tenth of memory, so a writer
 * that produces a few GB more slowly than a copy (because it computes) finds all of them still dirty at its final
 * fsync and then waits for the whole disk write at the end, after the computing is over. Syncing the growing files
 * every quarter second overlaps that write with the computing. It changes no byte and decides nothing: a failed flush
 * is left for the writer's own final fsync to report.
 */
public final class WritebackFlusher implements AutoCloseable {
    private static final long PERIOD_MS = 250;

    private final Path dir;
    private final String suffix;
    private final Thread thread;
    private final Map<Path, Long> flushedSize = new HashMap<>();
    private volatile boolean running = true;

    private WritebackFlusher(Path dir, String suffix) {
        this.dir = dir;
        this.suffix = suffix;
        this.thread = new Thread(this::loop, "llavapack-writeback");
        thread.setDaemon(true);
    }

    /** Starts flushing the files in {@code dir} whose names end with {@code suffix}. */
    public static WritebackFlusher start(Path dir, String suffix) {
        WritebackFlusher f = new WritebackFlusher(dir, suffix);
        f.thread.start();
        return f;
    }

    private void loop() {
        while (running) {
            flushGrownFiles();
            try {
                Thread.sleep(PERIOD_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void flushGrownFiles() {
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
        } catch (IOException e) {
            return;
        }
        for (Path f : files) {
            if (!running) return;
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size == flushedSize.getOrDefault(f, -1L)) continue;
                ch.force(false);
                flushedSize.put(f, size);
            } catch (IOException e) {
                // best effort: the writer's own fsync reports real errors
            }
        }
    }

    /** Stops the thread and waits for a flush in progress, so nothing touches the folder afterwards. */
    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
