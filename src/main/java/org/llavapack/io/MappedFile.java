package org.llavapack.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.llavapack.OutputException;

/**
 * A read-only file opened for memory mapping. {@link #whole()} maps the file once for its lifetime; {@link #window}
 * maps a region that the caller unmaps by closing it, which keeps resident memory bounded when streaming through
 * files larger than RAM (touched pages of a live mapping count in RSS until it is unmapped).
 */
public final class MappedFile implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final long size;
    private final Arena arena = Arena.ofShared();
    private MemorySegment whole;

    private MappedFile(Path path, FileChannel channel, long size) {
        this.path = path;
        this.channel = channel;
        this.size = size;
    }

    public static MappedFile open(Path path) {
        try {
            FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
            return new MappedFile(path, ch, ch.size());
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
    }

    public Path path() {
        return path;
    }

    public long size() {
        return size;
    }

    public FileChannel channel() {
        return channel;
    }

    /** The whole file as one segment, mapped on first use and unmapped by {@link #close()}. */
    public synchronized MemorySegment whole() {
        if (whole == null) whole = map(0, size, arena);
        return whole;
    }

    /** Maps {@code [offset, offset+length)} in its own arena; close the window to unmap it. */
    public Window window(long offset, long length) {
        Arena own = Arena.ofShared();
        try {
            return new Window(map(offset, length, own), own);
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
    }

    private MemorySegment map(long offset, long length, Arena into) {
        if (length == 0) return MemorySegment.NULL.reinterpret(0);
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, offset, length, into);
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
    }

    @Override
    public void close() {
        arena.close();
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only channel: nothing was written that could be lost
        }
    }

    /** A mapped region; closing it unmaps the pages. */
    public record Window(MemorySegment segment, Arena arena) implements AutoCloseable {
        @Override
        public void close() {
            arena.close();
        }
    }
}
