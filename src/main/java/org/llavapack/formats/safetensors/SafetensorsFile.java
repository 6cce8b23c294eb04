package org.llavapack.formats.safetensors;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.io.MappedFile;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/** One safetensors file, validated completely on open and read through memory mappings. */
public final class SafetensorsFile implements TensorStore {
    private final MappedFile file;
    private final SafetensorsHeader header;
    private final Map<String, SafetensorsHeader.Entry> byName;
    private final List<TensorInfo> infos;
    private final long dataStart;

    private SafetensorsFile(MappedFile file, SafetensorsHeader header, long dataStart) {
        this.file = file;
        this.header = header;
        this.byName = header.byName();
        this.infos = header.entries().stream().map(SafetensorsHeader.Entry::info).toList();
        this.dataStart = dataStart;
    }

    public static SafetensorsFile open(Path path) {
        MappedFile mf = MappedFile.open(path);
        try {
            long size = mf.size();
            if (size < 8) throw new BadInputException(path, "file is " + size + " bytes, too short for a safetensors header");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(mf, lenBuf, 0);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > SafetensorsHeader.MAX_HEADER_BYTES) {
                throw new BadInputException(path, "safetensors header length " + Long.toUnsignedString(n)
                        + " exceeds the limit of " + SafetensorsHeader.MAX_HEADER_BYTES + " bytes");
            }
            if (8 + n > size) {
                throw new BadInputException(path, "safetensors header length " + n + " runs past the end of the file (" + size + " bytes)");
            }
            ByteBuffer json = ByteBuffer.allocate((int) n);
            readFully(mf, json, 8);
            SafetensorsHeader header = SafetensorsHeader.parse(json.array(), size - 8 - n, path);
            return new SafetensorsFile(mf, header, 8 + n);
        } catch (RuntimeException e) {
            mf.close();
            throw e;
        }
    }

    private static void readFully(MappedFile mf, ByteBuffer buf, long position) {
        try {
            while (buf.hasRemaining()) {
                int r = mf.channel().read(buf, position + buf.position());
                if (r < 0) throw new BadInputException(mf.path(), "file ended while reading the safetensors header");
            }
        } catch (IOException e) {
            throw OutputException.of(mf.path(), e);
        }
    }

    public SafetensorsHeader header() {
        return header;
    }

    /** Byte offset of the data area in the file (8 + header length). */
    public long dataStart() {
        return dataStart;
    }

    @Override
    public Path source() {
        return file.path();
    }

    @Override
    public String format() {
        return "safetensors";
    }

    @Override
    public List<TensorInfo> tensors() {
        return infos;
    }

    @Override
    public Map<String, String> metadata() {
        return header.metadata();
    }

    @Override
    public Optional<TensorInfo> info(String name) {
        SafetensorsHeader.Entry e = byName.get(name);
        return e == null ? Optional.empty() : Optional.of(e.info());
    }

    private SafetensorsHeader.Entry entry(String name) {
        SafetensorsHeader.Entry e = byName.get(name);
        if (e == null) throw new BadInputException(file.path(), "no tensor named '" + name + "'");
        return e;
    }

    @Override
    public Tensor tensor(String name) {
        SafetensorsHeader.Entry e = entry(name);
        MemorySegment all = file.whole();
        return new Tensor(e.info(), all.asSlice(dataStart + e.begin(), e.end() - e.begin()));
    }

    @Override
    public TensorHandle open(String name) {
        SafetensorsHeader.Entry e = entry(name);
        MappedFile.Window w = file.window(dataStart + e.begin(), e.end() - e.begin());
        return new TensorHandle(new Tensor(e.info(), w.segment()), w);
    }

    @Override
    public Optional<FileRegion> region(String name) {
        SafetensorsHeader.Entry e = entry(name);
        return Optional.of(new FileRegion(file.path(), dataStart + e.begin(), e.end() - e.begin()));
    }

    MappedFile mappedFile() {
        return file;
    }

    @Override
    public void close() {
        file.close();
    }
}
