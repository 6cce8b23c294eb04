package org.llavapack.formats.torch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.llavapack.BadInputException;

/**
 * A zip archive read through its central directory, over a memory-mapped file. torch.save writes STORED members with
 * data descriptors (local headers carry zero sizes, which is why {@code ZipInputStream} cannot read them), ZIP64 end
 * records, and pads extra fields so data starts on 64-byte boundaries; STORED data is therefore used in place, never
 * copied. Deflated members (a torch file re-zipped by hand) are inflated with a hard cap on the output. Nothing is
 * ever extracted to disk, so member names such as {@code ../../x} are only strings to look up.
 */
final class ZipArchive {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
    private static final int CEN = 0x02014b50, LOC = 0x04034b50, DESCRIPTOR = 0x08074b50;
    static final int STORED = 0, DEFLATED = 8;

    /**
     * One member. {@code dataOffset} comes from the member's own local header (its name and extra lengths may differ
     * from the central directory's, and torch's alignment padding lives there).
     */
    record Entry(String name, int flags, int method, long crc, long compressedSize, long size, long localHeaderOffset,
                 long dataOffset) {
        boolean hasDescriptor() {
            return (flags & 0x8) != 0;
        }
    }

    private final Path path;
    private final MemorySegment file;
    private final Map<String, Entry> entries;

    private ZipArchive(Path path, MemorySegment file, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.entries = entries;
    }

    /** Entries in central-directory order, by name. */
    Map<String, Entry> entries() {
        return entries;
    }

    static ZipArchive read(Path path, MemorySegment file) {
        long size = file.byteSize();
        long eocd = findEocd(file);
        if (eocd < 0) throw bad(path, "not a readable zip archive: no end of central directory record (truncated?)");
        long count = file.get(U16, eocd + 10) & 0xFFFF;
        long cdSize = file.get(U32, eocd + 12) & 0xFFFFFFFFL;
        long cdOffset = file.get(U32, eocd + 16) & 0xFFFFFFFFL;
        long cdEndLimit = eocd;
        if (eocd >= 20 && file.get(U32, eocd - 20) == ZIP64_LOCATOR) {
            long z = file.get(U64, eocd - 20 + 8);
            if (z < 0 || z > eocd - 20 - 56) throw bad(path, "zip64 end of central directory record lies past the end of the file (offset " + Long.toUnsignedString(z) + ")");
            if (file.get(U32, z) != ZIP64_EOCD) throw bad(path, "zip64 end of central directory record missing at offset " + z);
            count = file.get(U64, z + 32);
            cdSize = file.get(U64, z + 40);
            cdOffset = file.get(U64, z + 48);
            cdEndLimit = z;
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > cdEndLimit || cdSize > cdEndLimit - cdOffset) {
            throw bad(path, "central directory at offset " + Long.toUnsignedString(cdOffset) + " (" + Long.toUnsignedString(cdSize)
                    + " bytes) lies past the end of the file (" + size + " bytes)");
        }
        if (count < 0 || count > cdSize / 46) throw bad(path, "zip central directory claims " + Long.toUnsignedString(count) + " entries in " + cdSize + " bytes");
        Map<String, Entry> entries = new LinkedHashMap<>();
        long p = cdOffset, end = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (end - p < 46 || file.get(U32, p) != CEN) throw bad(path, "zip central directory entry " + i + " is malformed");
            int flags = file.get(U16, p + 8) & 0xFFFF;
            int method = file.get(U16, p + 10) & 0xFFFF;
            long crc = file.get(U32, p + 16) & 0xFFFFFFFFL;
            long csize = file.get(U32, p + 20) & 0xFFFFFFFFL;
            long usize = file.get(U32, p + 24) & 0xFFFFFFFFL;
            int nameLen = file.get(U16, p + 28) & 0xFFFF, extraLen = file.get(U16, p + 30) & 0xFFFF, commentLen = file.get(U16, p + 32) & 0xFFFF;
            long local = file.get(U32, p + 42) & 0xFFFFFFFFL;
            if (end - p - 46 < (long) nameLen + extraLen + commentLen) throw bad(path, "zip central directory entry " + i + " runs past the central directory");
            byte[] nameBytes = bytes(file, p + 46, nameLen);
            String name = checkName(path, decodeName(path, nameBytes));
            // ZIP64 extended information: the 64-bit values present are those whose 32-bit fields are saturated.
            long x = p + 46 + nameLen, xEnd = x + extraLen;
            while (xEnd - x >= 4) {
                int id = file.get(U16, x) & 0xFFFF, len = file.get(U16, x + 2) & 0xFFFF;
                if (xEnd - x - 4 < len) break;
                if (id == 0x0001) {
                    long q = x + 4, qEnd = q + len;
                    if (usize == 0xFFFFFFFFL && qEnd - q >= 8) { usize = file.get(U64, q); q += 8; }
                    if (csize == 0xFFFFFFFFL && qEnd - q >= 8) { csize = file.get(U64, q); q += 8; }
                    if (local == 0xFFFFFFFFL && qEnd - q >= 8) { local = file.get(U64, q); }
                }
                x += 4 + len;
            }
            p += 46L + nameLen + extraLen + commentLen;
            if ((flags & 0x1) != 0) throw bad(path, "zip member " + name + " is encrypted");
            if (csize < 0 || usize < 0 || local < 0) throw bad(path, "zip member " + name + " has sizes or offsets beyond 2^63");
            if (local > cdOffset || cdOffset - local < 30 || file.get(U32, local) != LOC) {
                throw bad(path, "zip member " + name + ": no local header at offset " + local);
            }
            int localNameLen = file.get(U16, local + 26) & 0xFFFF, localExtraLen = file.get(U16, local + 28) & 0xFFFF;
            long dataOffset = local + 30 + localNameLen + localExtraLen;
            if (dataOffset > cdOffset || !java.util.Arrays.equals(bytes(file, local + 30, localNameLen), nameBytes)) {
                throw bad(path, "zip member " + name + ": its local header does not match the central directory");
            }
            if (csize > cdOffset - dataOffset) throw bad(path, "zip member " + name + " (" + csize + " bytes) runs past the start of the central directory");
            if (method == STORED && csize != usize) throw bad(path, "zip member " + name + " is stored but its sizes differ (" + csize + " vs " + usize + ")");
            if (method != STORED && method != DEFLATED) throw bad(path, "zip member " + name + " uses compression method " + method + " (only stored and deflate are read)");
            if (entries.putIfAbsent(name, new Entry(name, flags, method, crc, csize, usize, local, dataOffset)) != null) {
                throw bad(path, "duplicate zip member " + name);
            }
        }
        return new ZipArchive(path, file, Collections.unmodifiableMap(entries));
    }

    private static long findEocd(MemorySegment file) {
        long size = file.byteSize();
        for (long p = size - 22; p >= 0 && p >= size - 22 - 0xFFFF; p--) {
            if (file.get(U32, p) == EOCD && (file.get(U16, p + 20) & 0xFFFF) <= size - p - 22) return p;
        }
        return -1;
    }

    private static byte[] bytes(MemorySegment file, long offset, int n) {
        byte[] b = new byte[n];
        MemorySegment.copy(file, ValueLayout.JAVA_BYTE, offset, b, 0, n);
        return b;
    }

    private static String decodeName(Path path, byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw bad(path, "zip member name is not valid UTF-8");
        }
    }

    /** Names end up in messages and on terminals; torch never writes control characters in them. */
    private static String checkName(Path path, String name) {
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < 0x20 || c == 0x7F || Character.getType(c) == Character.FORMAT) {
                throw bad(path, "zip member name contains control characters");
            }
        }
        return name;
    }

    private static BadInputException bad(Path path, String what) {
        return new BadInputException(path, what);
    }

    /** A STORED member's bytes, in place in the mapping. */
    MemorySegment stored(Entry e) {
        if (e.method() != STORED) throw new IllegalStateException(e.name() + " is compressed");
        return file.asSlice(e.dataOffset(), e.size());
    }

    /**
     * A member's content: the mapped bytes when STORED, else inflated into {@code into} (at most {@code cap} bytes, and
     * never more than the member declares, so a zip bomb stops at its declared size).
     */
    MemorySegment content(Entry e, long cap, java.lang.foreign.Arena into) {
        if (e.method() == STORED) return stored(e);
        if (e.size() > cap) {
            throw bad(path, "zip member " + e.name() + " is compressed (deflate) and declares " + e.size()
                    + " bytes, above the cap of " + cap + " bytes");
        }
        MemorySegment out = into.allocate(Math.max(1, e.size())).asSlice(0, e.size());
        Inflater inf = new Inflater(true);
        try {
            long in = 0, produced = 0, csize = e.compressedSize();
            ByteBuffer probe = ByteBuffer.allocate(1);
            int idle = 0;
            while (true) {
                if (inf.needsInput() && in < csize) {
                    long n = Math.min(csize - in, 1 << 20);
                    inf.setInput(file.asSlice(e.dataOffset() + in, n).asByteBuffer());
                    in += n;
                }
                int got;
                if (produced < e.size()) {
                    long room = Math.min(e.size() - produced, 1 << 30);
                    got = inf.inflate(out.asSlice(produced, room).asByteBuffer());
                    produced += got;
                } else {
                    got = inf.inflate(probe.clear());
                    if (got > 0) {
                        throw bad(path, "compressed zip member " + e.name() + " inflates past its declared size of "
                                + e.size() + " bytes (deflate bomb?)");
                    }
                }
                if (inf.finished()) break;
                if (got == 0 && inf.needsInput() && in >= csize) {
                    throw bad(path, "compressed zip member " + e.name() + " ends early (truncated deflate stream)");
                }
                if (got == 0 && inf.needsDictionary()) throw bad(path, "compressed zip member " + e.name() + " needs a preset dictionary");
                idle = got == 0 && !inf.needsInput() ? idle + 1 : 0;
                if (idle > 1000) throw bad(path, "compressed zip member " + e.name() + " makes no progress when inflated");
            }
            if (produced != e.size()) {
                throw bad(path, "compressed zip member " + e.name() + " inflates to " + produced + " bytes, not the declared " + e.size());
            }
            return out;
        } catch (DataFormatException ex) {
            throw new BadInputException(path, "compressed zip member " + e.name() + " is not a valid deflate stream", ex);
        } finally {
            inf.end();
        }
    }

    /**
     * Checks a member's content against its CRC-32: the central directory's, and the data descriptor's or local
     * header's when they carry one. PyTorch ignores CRCs (the basis of CVE-2025-10156); llavapack refuses a mismatch.
     */
    void verifyCrc(Entry e, MemorySegment content) {
        CRC32 crc = new CRC32();
        for (long off = 0; off < content.byteSize(); off += 1 << 30) {
            crc.update(content.asSlice(off, Math.min(1 << 30, content.byteSize() - off)).asByteBuffer());
        }
        long actual = crc.getValue();
        if (actual != e.crc()) {
            throw bad(path, String.format("CRC-32 mismatch in zip member %s: the central directory says %08x, the content has %08x",
                    e.name(), e.crc(), actual));
        }
        long other = -1;
        String where = null;
        if (e.hasDescriptor()) {
            long d = e.dataOffset() + e.compressedSize();
            if (d + 4 <= file.byteSize() && file.get(U32, d) == DESCRIPTOR) d += 4;
            if (d + 4 <= file.byteSize()) {
                other = file.get(U32, d) & 0xFFFFFFFFL;
                where = "data descriptor";
            }
        } else {
            other = file.get(U32, e.localHeaderOffset() + 14) & 0xFFFFFFFFL;
            where = "local header";
        }
        if (other >= 0 && other != actual) {
            throw bad(path, String.format("CRC-32 mismatch in zip member %s: the %s says %08x, the content has %08x",
                    e.name(), where, other, actual));
        }
    }
}
