package org.llavapack.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import org.llavapack.OutputException;
import org.llavapack.tensor.TensorStore.FileRegion;

/**
 * Walks a file region in fixed-size mapped windows, unmapping each before the next: the way to stream through a
 * tensor of any size while resident memory stays at one window.
 */
public final class RegionChunks {
    private RegionChunks() {}

    /** Default window: large enough for throughput, small enough to keep RSS flat. */
    public static final long WINDOW = 32L << 20;

    @FunctionalInterface
    public interface ChunkConsumer {
        /** {@code chunk} starts {@code offset} bytes into the region. */
        void accept(MemorySegment chunk, long offset) throws IOException;
    }

    public static void forEach(FileRegion region, long window, ChunkConsumer consumer) {
        try {
            forEachWriting(region, window, consumer);
        } catch (IOException e) {
            throw OutputException.of(region.file(), e);
        }
    }

    /**
     * Like {@link #forEach}, for consumers that write an output: their own IOExceptions reach the caller unchanged,
     * so a full disk is reported against the file being written, not the input being read (the caller's writer
     * names its output). Failures reading the region still name the region's file.
     */
    public static void forEachWriting(FileRegion region, long window, ChunkConsumer consumer) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(region.file(), StandardOpenOption.READ);
        } catch (IOException e) {
            throw OutputException.of(region.file(), e);
        }
        try (ch) {
            for (long pos = 0; pos < region.length(); pos += window) {
                long n = Math.min(window, region.length() - pos);
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment seg;
                    try {
                        seg = ch.map(FileChannel.MapMode.READ_ONLY, region.offset() + pos, n, arena);
                    } catch (IOException e) {
                        throw OutputException.of(region.file(), e);
                    }
                    consumer.accept(seg, pos);
                }
            }
        }
    }
}
