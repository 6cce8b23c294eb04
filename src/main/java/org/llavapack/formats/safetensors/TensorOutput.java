package org.llavapack.formats.safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * The sink one tensor's bytes go to while a file is being written. It counts what it receives, so a producer that
 * writes too little or too much is caught before the file is committed.
 */
public final class TensorOutput {
    private static final int CHUNK = 1 << 20;

    private final FileChannel channel;
    private final MemorySegment scratch;
    private TensorInfo info;
    private long written;

    TensorOutput(FileChannel channel, Arena arena) {
        this.channel = channel;
        this.scratch = arena.allocate(CHUNK, 64);
    }

    void begin(TensorInfo info) {
        this.info = info;
        this.written = 0;
    }

    void end() {
        if (written != info.byteSize()) {
            throw new IllegalStateException(info + ": producer wrote " + written + " of " + info.byteSize() + " bytes");
        }
    }

    public TensorInfo info() {
        return info;
    }

    /** Appends raw little-endian bytes. */
    public void write(MemorySegment bytes) throws IOException {
        long size = bytes.byteSize();
        for (long pos = 0; pos < size; ) {
            long n = Math.min(size - pos, 1L << 30);
            var buf = bytes.asSlice(pos, n).asByteBuffer();
            while (buf.hasRemaining()) channel.write(buf);
            pos += n;
        }
        written += size;
    }

    /** Copies a byte range of another file, kernel to kernel where the platform allows. */
    public void transferFrom(TensorStore.FileRegion region) throws IOException {
        FileChannel opened;
        try {
            opened = FileChannel.open(region.file(), StandardOpenOption.READ);
        } catch (IOException e) {
            throw org.llavapack.OutputException.of(region.file(), e); // the input, not the output the caller names
        }
        try (FileChannel in = opened) {
            long done = 0;
            while (done < region.length()) {
                long n = in.transferTo(region.offset() + done, region.length() - done, channel);
                if (n <= 0) throw new IOException(region.file() + " ended while copying tensor " + info.name());
                done += n;
            }
        }
        written += region.length();
    }

    /** Appends floats converted to this tensor's dtype (F32, BF16 or F16; narrowing rounds to nearest even). */
    public void writeFloats(float[] src, int offset, int count) throws IOException {
        DType t = info.dtype();
        int per = switch (t) {
            case F32 -> 4;
            case BF16, F16 -> 2;
            default -> throw new IllegalStateException("cannot write floats into " + t + " tensor " + info.name());
        };
        int maxElems = CHUNK / per;
        for (int done = 0; done < count; ) {
            int n = Math.min(count - done, maxElems);
            switch (t) {
                case F32 -> MemorySegment.copy(src, offset + done, scratch, BFloat16LE.FLOAT, 0, n);
                case BF16 -> BFloat16.fromFloats(src, offset + done, scratch, 0, n);
                case F16 -> Float16.fromFloats(src, offset + done, scratch, 0, n);
                default -> throw new AssertionError();
            }
            write(scratch.asSlice(0, (long) n * per));
            done += n;
        }
    }

    private static final class BFloat16LE {
        static final java.lang.foreign.ValueLayout.OfFloat FLOAT =
                java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    }
}
