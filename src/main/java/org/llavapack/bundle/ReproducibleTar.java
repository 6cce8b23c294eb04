package org.llavapack.bundle;

import com.github.luben.zstd.ZstdOutputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;

/**
 * A tar stream whose bytes depend only on the entries written, following reproducible-builds.org's archive rules:
 * entries in the caller's (sorted) order, one fixed mtime, uid/gid 0 with empty owner names, modes 0644/0755,
 * POSIX ustar headers with PAX extended headers where ustar cannot say it (names over 100 bytes, non-ASCII names,
 * sizes of 8 GiB and more). Compression adds nothing variable: zstd frames carry no time, and the gzip header is
 * written with mtime 0, no file name and OS "unknown".
 */
public final class ReproducibleTar implements Closeable {
    /** zstd's default level: weights barely compress, so speed matters more than ratio. Fixed, so output is too. */
    public static final int ZSTD_LEVEL = 3;
    /** zlib's default level, fixed for the same reason. */
    public static final int GZIP_LEVEL = 6;
    // Permission bits only, as GNU tar writes them; the entry type lives in the typeflag.
    static final int FILE_MODE = 0644;
    static final int DIR_MODE = 0755;

    private final TarArchiveOutputStream tar;
    private final long mtimeSeconds;

    /**
     * @param threads zstd worker threads. zstd's output with one or more workers does not depend on how many (checked:
     *                1, 2 and 4 workers give identical frames), so any machine reproduces the bytes while using its cores.
     */
    public ReproducibleTar(OutputStream raw, ArchiveFormat format, long mtimeSeconds, int threads) throws IOException {
        OutputStream buffered = new BufferedOutputStream(raw, 1 << 20);
        OutputStream compressed = switch (format) {
            case TAR -> buffered;
            case TAR_ZSTD -> new ZstdOutputStream(buffered, ZSTD_LEVEL).setChecksum(true).setWorkers(Math.max(1, threads));
            case TAR_GZIP -> {
                GzipParameters p = new GzipParameters();
                p.setCompressionLevel(GZIP_LEVEL);
                p.setModificationTime(0);
                p.setFileName(null);
                p.setOperatingSystem(255);
                yield new GzipCompressorOutputStream(buffered, p);
            }
            case DIRECTORY -> throw new IllegalArgumentException("a folder is not a tar stream");
        };
        this.tar = new TarArchiveOutputStream(compressed, TarConstants.DEFAULT_BLKSIZE, StandardCharsets.UTF_8.name());
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        tar.setAddPaxHeadersForNonAsciiNames(true);
        this.mtimeSeconds = mtimeSeconds;
    }

    /** A header with every variable field pinned. */
    static TarArchiveEntry entry(String name, boolean directory, long size, long mtimeSeconds) {
        TarArchiveEntry e = new TarArchiveEntry(directory ? name + "/" : name, directory ? TarConstants.LF_DIR : TarConstants.LF_NORMAL);
        e.setMode(directory ? DIR_MODE : FILE_MODE);
        e.setModTime(mtimeSeconds * 1000L);
        e.setUserId(0);
        e.setGroupId(0);
        e.setUserName("");
        e.setGroupName("");
        e.setSize(directory ? 0 : size);
        return e;
    }

    public void directory(String path) throws IOException {
        tar.putArchiveEntry(entry(path, true, 0, mtimeSeconds));
        tar.closeArchiveEntry();
    }

    public void file(String path, byte[] content) throws IOException {
        tar.putArchiveEntry(entry(path, false, content.length, mtimeSeconds));
        tar.write(content);
        tar.closeArchiveEntry();
    }

    /**
     * Copies exactly {@code size} bytes from {@code in}, feeding them to {@code digest} as they pass, so the caller
     * can check that what went into the archive is what it hashed before.
     */
    public void file(String path, long size, InputStream in, MessageDigest digest) throws IOException {
        tar.putArchiveEntry(entry(path, false, size, mtimeSeconds));
        byte[] buffer = new byte[Sha256.BUFFER];
        long left = size;
        while (left > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
            if (n < 0) throw new IOException(path + " shrank while it was being archived");
            digest.update(buffer, 0, n);
            tar.write(buffer, 0, n);
            left -= n;
        }
        if (in.read() >= 0) throw new IOException(path + " grew while it was being archived");
        tar.closeArchiveEntry();
    }

    @Override
    public void close() throws IOException {
        tar.close(); // finishes the archive (two zero blocks, padding to the record size) and closes the compressor
    }
}
