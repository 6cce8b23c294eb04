package org.llavapack.progress;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.llavapack.formats.safetensors.ByteSize;

/**
 * A one-line progress bar on stderr: bytes and tensors done, rate and ETA, redrawn at most five times a second. Only
 * used when stderr is a terminal, so logs and pipes stay clean.
 */
public final class TerminalProgress implements Progress {
    private static final long REDRAW_NANOS = 200_000_000L;

    private final PrintStream out;
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicInteger tensors = new AtomicInteger();
    private volatile String label = "";
    private volatile long totalBytes;
    private volatile int totalTensors;
    private volatile long started;
    private volatile long lastDraw;

    public TerminalProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public void start(String label, long totalBytes, int totalTensors) {
        this.label = label;
        this.totalBytes = totalBytes;
        this.totalTensors = totalTensors;
        this.bytes.set(0);
        this.tensors.set(0);
        this.started = System.nanoTime();
        this.lastDraw = 0;
        draw(false);
    }

    @Override
    public void advance(long bytes, int tensors) {
        this.bytes.addAndGet(bytes);
        this.tensors.addAndGet(tensors);
        long now = System.nanoTime();
        if (now - lastDraw >= REDRAW_NANOS) {
            lastDraw = now;
            draw(false);
        }
    }

    private synchronized void draw(boolean last) {
        long done = bytes.get();
        double seconds = Math.max(1e-9, (System.nanoTime() - started) / 1e9);
        double rate = done / seconds;
        double fraction = totalBytes > 0 ? Math.min(1, (double) done / totalBytes) : 0;
        int width = 24;
        int filled = (int) Math.round(fraction * width);
        String bar = "#".repeat(filled) + "-".repeat(width - filled);
        String eta = rate > 0 && totalBytes > done ? String.format(Locale.ROOT, "ETA %ds", Math.round((totalBytes - done) / rate)) : (last ? String.format(Locale.ROOT, "%.1fs", seconds) : "");
        out.print(String.format(Locale.ROOT, "\r%s [%s] %s/%s  %d/%d tensors  %s/s  %s\u001b[K", label, bar,
                ByteSize.format(done), ByteSize.format(totalBytes), tensors.get(), totalTensors,
                ByteSize.format((long) rate), eta));
        if (last) out.println();
        out.flush();
    }

    @Override
    public void close() {
        draw(true);
    }
}
