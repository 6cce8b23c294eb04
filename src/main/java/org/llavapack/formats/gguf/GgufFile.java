package org.llavapack.formats.gguf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.io.MappedFile;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A GGUF file, validated completely on open by the rules of llama.cpp's C reader ({@code gguf_init_from_file_impl}),
 * some of them stricter than the published spec: magic, version 2 or 3, counts that fit in the file, string lengths,
 * known value types (no arrays of arrays, BOOL 0/1), no duplicate or empty keys, {@code general.alignment} a UINT32
 * power of two, tensor names below 64 bytes and unique, at most 4 non-negative dimensions, a known ggml type whose
 * block divides {@code ne[0]}, offsets equal to the running padded total, and a data blob (with the last tensor's
 * padding) inside the file. Anything else is a {@link BadInputException} naming the file; no count read from the file
 * is trusted before it is checked against the bytes that remain, so hostile headers cannot make it allocate.
 *
 * <p>As a {@link TensorStore} it lists tensors under their GGUF names with PyTorch-order shapes; F32/F16/BF16/F64
 * and integer tensors are mapped as they are, quantized tensors read as F32 (dequantized on access).
 */
public final class GgufFile implements TensorStore {
    /** ggml refuses strings above 1 GiB. */
    static final long MAX_STRING_BYTES = 1L << 30;
    /** Per array, and in total over all arrays, to bound memory (Llama-3 needs 280147). */
    static final long MAX_ARRAY_ELEMENTS = 1L << 24;
    static final long MAX_TOTAL_ELEMENTS = 1L << 25;

    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MappedFile file;
    private final int version;
    private final Map<String, GgufValue> kv;
    private final List<GgufTensorInfo> infos;
    private final Map<String, GgufTensorInfo> byName;
    private final List<TensorInfo> storeInfos;
    private final int alignment;
    private final long dataStart;
    private final Arena heapArena = Arena.ofShared();

    private GgufFile(MappedFile file, int version, Map<String, GgufValue> kv, List<GgufTensorInfo> infos, int alignment, long dataStart) {
        this.file = file;
        this.version = version;
        this.kv = Collections.unmodifiableMap(kv);
        this.infos = List.copyOf(infos);
        this.alignment = alignment;
        this.dataStart = dataStart;
        Map<String, GgufTensorInfo> m = new HashMap<>();
        List<TensorInfo> si = new ArrayList<>();
        for (GgufTensorInfo t : infos) {
            m.put(t.name(), t);
            si.add(new TensorInfo(t.name(), storeDtype(t.type()), t.shape()));
        }
        this.byName = m;
        this.storeInfos = List.copyOf(si);
    }

    public static GgufFile open(Path path) {
        MappedFile mf = MappedFile.open(path);
        try {
            return new Parser(path, mf.whole(), mf.size()).parse(mf);
        } catch (RuntimeException e) {
            mf.close();
            throw e;
        }
    }

    /** The DType a tensor of this ggml type reads as through {@link TensorStore}. */
    static DType storeDtype(GgmlType t) {
        return switch (t) {
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            case F64 -> DType.F64;
            case I8 -> DType.I8;
            case I16 -> DType.I16;
            case I32 -> DType.I32;
            case I64 -> DType.I64;
            default -> DType.F32;
        };
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    /** Absolute file offset of the data blob. */
    public long dataStart() {
        return dataStart;
    }

    public long fileSize() {
        return file.size();
    }

    /** Every KV pair with its wire type, in file order. */
    public Map<String, GgufValue> kv() {
        return kv;
    }

    public Optional<GgufValue> get(String key) {
        return Optional.ofNullable(kv.get(key));
    }

    public Optional<String> getString(String key) {
        return get(key).filter(v -> v instanceof GgufValue.Str).map(v -> ((GgufValue.Str) v).value());
    }

    /** The tensor infos in file order. */
    public List<GgufTensorInfo> tensorInfos() {
        return infos;
    }

    public GgufTensorInfo tensorInfo(String name) {
        GgufTensorInfo t = byName.get(name);
        if (t == null) throw new BadInputException(file.path(), "no tensor named '" + name + "'");
        return t;
    }

    /** The raw bytes of a tensor (a slice of the whole-file mapping). */
    public MemorySegment rawData(String name) {
        GgufTensorInfo t = tensorInfo(name);
        return file.whole().asSlice(dataStart + t.offset(), t.bytes());
    }

    /**
     * Dequantizes rows {@code [firstRow, firstRow + count)} of a tensor (a row is {@code ne[0]} values) into
     * {@code dst[dstOff…]}.
     */
    public void readRows(String name, long firstRow, int count, float[] dst, int dstOff) {
        GgufTensorInfo t = tensorInfo(name);
        if (!t.type().dequantizable()) throw new BadInputException(file.path(), "tensor '" + name + "': dequantizing " + t.type() + " is not supported");
        long rowBytes = t.rowBytes();
        byte[] buf = new byte[Math.toIntExact(rowBytes * count)];
        // a window of just these rows, unmapped right after, so streaming through a large file keeps RSS flat
        try (MappedFile.Window w = file.window(dataStart + t.offset() + firstRow * rowBytes, buf.length)) {
            MemorySegment.copy(w.segment(), ValueLayout.JAVA_BYTE, 0, buf, 0, buf.length);
        }
        BlockCodec.of(t.type()).dequantize(buf, 0, Math.toIntExact(t.ne()[0] * count), dst, dstOff);
    }

    /** The whole tensor as f32 (below 2^31 elements). */
    public float[] dequantize(String name) {
        GgufTensorInfo t = tensorInfo(name);
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException(name + " is too large for one array");
        float[] out = new float[(int) n];
        long rows = t.rows();
        long ne0 = t.ne()[0];
        int step = (int) Math.max(1, Math.min(rows, (8 << 20) / Math.max(1, t.rowBytes())));
        for (long r = 0; r < rows; r += step) {
            int c = (int) Math.min(step, rows - r);
            readRows(name, r, c, out, Math.toIntExact(r * ne0));
        }
        return out;
    }

    // ---- TensorStore ---------------------------------------------------------------------------------------

    @Override
    public Path source() {
        return file.path();
    }

    @Override
    public String format() {
        return "gguf";
    }

    @Override
    public List<TensorInfo> tensors() {
        return storeInfos;
    }

    /** Scalar values as text; arrays abbreviated. Use {@link #kv()} for typed values. */
    @Override
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        kv.forEach((k, v) -> m.put(k, v instanceof GgufValue.Str s ? s.value() : v.display(8)));
        return m;
    }

    @Override
    public Optional<TensorInfo> info(String name) {
        GgufTensorInfo t = byName.get(name);
        return t == null ? Optional.empty() : Optional.of(new TensorInfo(t.name(), storeDtype(t.type()), t.shape()));
    }

    @Override
    public Tensor tensor(String name) {
        GgufTensorInfo t = tensorInfo(name);
        TensorInfo info = info(name).orElseThrow();
        if (isPlain(t.type())) return new Tensor(info, rawData(name));
        MemorySegment seg;
        synchronized (heapArena) {
            seg = heapArena.allocate(info.byteSize(), 4);
        }
        fillDequantized(name, seg);
        return new Tensor(info, seg);
    }

    @Override
    public TensorHandle open(String name) {
        GgufTensorInfo t = tensorInfo(name);
        TensorInfo info = info(name).orElseThrow();
        if (isPlain(t.type())) {
            MappedFile.Window w = file.window(dataStart + t.offset(), t.bytes());
            return new TensorHandle(new Tensor(info, w.segment()), w);
        }
        Arena own = Arena.ofShared();
        MemorySegment seg = own.allocate(Math.max(1, info.byteSize()), 4).asSlice(0, info.byteSize());
        fillDequantized(name, seg);
        return new TensorHandle(new Tensor(info, seg), own);
    }

    @Override
    public Optional<FileRegion> region(String name) {
        GgufTensorInfo t = tensorInfo(name);
        if (!isPlain(t.type())) return Optional.empty();
        return Optional.of(new FileRegion(file.path(), dataStart + t.offset(), t.bytes()));
    }

    private static boolean isPlain(GgmlType t) {
        return switch (t) {
            case F32, F16, BF16, F64, I8, I16, I32, I64 -> true;
            default -> false;
        };
    }

    private void fillDequantized(String name, MemorySegment dst) {
        GgufTensorInfo t = tensorInfo(name);
        long rows = t.rows();
        int ne0 = Math.toIntExact(t.ne()[0]);
        int step = (int) Math.max(1, Math.min(rows, (4 << 20) / Math.max(1, 4L * ne0)));
        float[] buf = new float[step * ne0];
        for (long r = 0; r < rows; r += step) {
            int c = (int) Math.min(step, rows - r);
            readRows(name, r, c, buf, 0);
            MemorySegment.copy(buf, 0, dst, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), r * ne0 * 4L, c * ne0);
        }
    }

    @Override
    public void close() {
        heapArena.close();
        file.close();
    }

    // ---- parsing -------------------------------------------------------------------------------------------

    private static final class Parser {
        private final Path path;
        private final MemorySegment seg;
        private final long size;
        private long pos;
        private long totalElements;

        Parser(Path path, MemorySegment seg, long size) {
            this.path = path;
            this.seg = seg;
            this.size = size;
        }

        private BadInputException bad(String what) {
            return new BadInputException(path, what);
        }

        private void need(long n, String what) {
            if (n < 0 || n > size - pos) {
                throw bad("file ends at byte " + size + " while reading " + what + " at offset " + pos
                        + " (needs " + (n < 0 ? Long.toUnsignedString(n) : Long.toString(n)) + " bytes)");
            }
        }

        private int u8(String what) {
            need(1, what);
            return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
        }

        private short u16(String what) {
            need(2, what);
            short v = seg.get(LE_SHORT, pos);
            pos += 2;
            return v;
        }

        private int u32(String what) {
            need(4, what);
            int v = seg.get(LE_INT, pos);
            pos += 4;
            return v;
        }

        private long u64(String what) {
            need(8, what);
            long v = seg.get(LE_LONG, pos);
            pos += 8;
            return v;
        }

        private byte[] bytes(long n, String what) {
            need(n, what);
            byte[] b = new byte[(int) n];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, (int) n);
            pos += n;
            return b;
        }

        private String string(String what, boolean strict) {
            long start = pos;
            long n = u64(what + " length");
            if (n < 0 || n > MAX_STRING_BYTES) {
                throw bad(what + " at offset " + start + " has length " + Long.toUnsignedString(n) + " (limit " + MAX_STRING_BYTES + ")");
            }
            byte[] b = bytes(n, what);
            if (!strict) return new String(b, StandardCharsets.UTF_8);
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw bad(what + " at offset " + start + " is not valid UTF-8");
            }
        }

        GgufFile parse(MappedFile mf) {
            if (size < 4) throw bad("file is " + size + " bytes, too short for a GGUF header");
            byte[] magic = bytes(4, "magic");
            if (magic[0] != 'G' || magic[1] != 'G' || magic[2] != 'U' || magic[3] != 'F') {
                throw bad("not a GGUF file (magic bytes " + hex(magic) + ", expected 47 47 55 46 \"GGUF\")");
            }
            int version = u32("version");
            if (version == 0) throw bad("GGUF version 0 is invalid");
            if ((version & 0xFFFF) == 0) throw bad("GGUF version " + Integer.toUnsignedString(version) + " looks byte-swapped (big-endian file?)");
            if (version == 1) throw bad("GGUF version 1 is no longer supported (llama.cpp refuses it too)");
            if (version < 0 || version > GgufWriter.VERSION) throw bad("GGUF version " + Integer.toUnsignedString(version) + " is not supported (1 < version ≤ 3)");
            long nTensors = u64("tensor count");
            long nKv = u64("metadata count");
            // Each tensor info takes at least 8+1+4+8+4+8 bytes and each KV pair at least 8+1+4+1: counts that
            // cannot fit in what is left of the file are refused before anything is allocated.
            if (nTensors < 0 || nTensors > (size - pos) / 33) {
                throw bad("tensor count " + Long.toUnsignedString(nTensors) + " cannot fit in a file of " + size + " bytes");
            }
            if (nKv < 0 || nKv > (size - pos) / 14) {
                throw bad("metadata count " + Long.toUnsignedString(nKv) + " cannot fit in a file of " + size + " bytes");
            }
            Map<String, GgufValue> kv = new LinkedHashMap<>();
            for (long i = 0; i < nKv; i++) {
                long at = pos;
                String key = string("key of metadata entry " + i, true);
                if (key.isEmpty()) throw bad("metadata entry " + i + " at offset " + at + " has an empty key");
                if (kv.containsKey(key)) throw bad("duplicate metadata key '" + key + "'");
                int typeId = u32("type of '" + key + "'");
                GgufValueType type = GgufValueType.fromId(Integer.toUnsignedLong(typeId))
                        .orElseThrow(() -> bad("metadata key '" + key + "' has unknown value type " + Integer.toUnsignedString(typeId)));
                kv.put(key, value(key, type));
            }
            int alignment = GgufWriter.DEFAULT_ALIGNMENT;
            GgufValue al = kv.get("general.alignment");
            if (al != null) {
                if (!(al instanceof GgufValue.Int ai) || ai.type() != GgufValueType.UINT32) {
                    throw bad("general.alignment must be UINT32, found " + al.type() + (al instanceof GgufValue.Int ai2 ? " " + ai2.type() : ""));
                }
                long a = ai.value();
                if (a == 0 || Long.bitCount(a) != 1 || a > (1 << 30)) throw bad("general.alignment " + a + " is not a power of two");
                alignment = (int) a;
            }
            List<GgufTensorInfo> infos = new ArrayList<>();
            java.util.Set<String> names = new java.util.HashSet<>();
            long expectedOffset = 0;
            for (long i = 0; i < nTensors; i++) {
                long at = pos;
                String name = string("name of tensor " + i, true);
                int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
                if (nameBytes >= 64) throw bad("tensor " + i + " at offset " + at + ": name is " + nameBytes + " bytes (llama.cpp allows at most 63)");
                if (!names.add(name)) throw bad("duplicate tensor name '" + name + "'");
                int nDims = u32("dimension count of '" + name + "'");
                if (nDims < 0 || nDims > GgufWriter.MAX_DIMS) throw bad("tensor '" + name + "' has " + Integer.toUnsignedString(nDims) + " dimensions (at most 4)");
                long[] ne = new long[nDims];
                long numel = 1;
                for (int d = 0; d < nDims; d++) {
                    ne[d] = u64("dimension " + d + " of '" + name + "'");
                    if (ne[d] < 0) throw bad("tensor '" + name + "' has negative dimension " + ne[d]);
                    try {
                        numel = Math.multiplyExact(numel, ne[d]);
                    } catch (ArithmeticException e) {
                        throw bad("tensor '" + name + "' has too many elements (overflow)");
                    }
                }
                if (nDims == 0) throw bad("tensor '" + name + "' has no dimensions");
                int typeId = u32("type of '" + name + "'");
                GgmlType type = GgmlType.fromId(Integer.toUnsignedLong(typeId))
                        .orElseThrow(() -> bad("tensor '" + name + "' has unknown or removed ggml type " + Integer.toUnsignedString(typeId)));
                if (ne[0] % type.blockSize() != 0) {
                    throw bad("tensor '" + name + "': row of " + ne[0] + " elements is not a multiple of " + type + "'s block size " + type.blockSize());
                }
                long offset = u64("offset of '" + name + "'");
                if (offset != expectedOffset) {
                    throw bad("tensor '" + name + "' has offset " + Long.toUnsignedString(offset) + ", expected " + expectedOffset
                            + " (offsets must follow each other, padded to " + alignment + ")");
                }
                GgufTensorInfo t = new GgufTensorInfo(name, ne, type, offset);
                long bytes;
                try {
                    bytes = t.bytes();
                    expectedOffset = Math.addExact(offset, GgufWriter.pad(bytes, alignment));
                } catch (ArithmeticException e) {
                    throw bad("tensor '" + name + "' is too large (overflow)");
                }
                if (expectedOffset > size) throw bad("tensor '" + name + "' (" + bytes + " bytes at blob offset " + offset + ") cannot fit in a file of " + size + " bytes");
                infos.add(t);
            }
            long dataStart = nTensors == 0 ? pos : GgufWriter.pad(pos, alignment);
            if (nTensors > 0) {
                if (dataStart + expectedOffset > size) {
                    throw bad("data blob needs " + expectedOffset + " bytes from offset " + dataStart + " (with padding after the last tensor), but the file has "
                            + size + " bytes: truncated");
                }
            }
            return new GgufFile(mf, version, kv, infos, alignment, dataStart);
        }

        private void count(long n, String key) {
            if (n > MAX_ARRAY_ELEMENTS) throw bad("array '" + key + "' has " + n + " elements (limit " + MAX_ARRAY_ELEMENTS + ")");
            totalElements += n;
            if (totalElements > MAX_TOTAL_ELEMENTS) throw bad("metadata arrays hold more than " + MAX_TOTAL_ELEMENTS + " elements in total");
        }

        private GgufValue value(String key, GgufValueType type) {
            return switch (type) {
                case ARRAY -> array(key);
                case STRING -> new GgufValue.Str(string("value of '" + key + "'", false));
                case BOOL -> {
                    int b = u8("value of '" + key + "'");
                    if (b > 1) throw bad("metadata key '" + key + "': BOOL value " + b + " is neither 0 nor 1");
                    yield new GgufValue.Bool(b == 1);
                }
                case FLOAT32 -> new GgufValue.Float(type, Float.intBitsToFloat(u32("value of '" + key + "'")));
                case FLOAT64 -> new GgufValue.Float(type, Double.longBitsToDouble(u64("value of '" + key + "'")));
                default -> new GgufValue.Int(type, integer(type, "value of '" + key + "'"));
            };
        }

        private long integer(GgufValueType t, String what) {
            return switch (t) {
                case UINT8 -> u8(what);
                case INT8 -> (byte) u8(what);
                case UINT16 -> u16(what) & 0xFFFF;
                case INT16 -> u16(what);
                case UINT32 -> u32(what) & 0xFFFFFFFFL;
                case INT32 -> u32(what);
                case UINT64, INT64 -> u64(what);
                default -> throw new IllegalStateException(t.toString());
            };
        }

        private GgufValue array(String key) {
            int et = u32("element type of '" + key + "'");
            GgufValueType type = GgufValueType.fromId(Integer.toUnsignedLong(et))
                    .orElseThrow(() -> bad("array '" + key + "' has unknown element type " + Integer.toUnsignedString(et)));
            if (type == GgufValueType.ARRAY) throw bad("array '" + key + "' holds arrays (not supported by llama.cpp)");
            long n = u64("length of '" + key + "'");
            long minSize = type == GgufValueType.STRING ? 8 : type.size();
            if (n < 0 || n > (size - pos) / minSize) {
                throw bad("array '" + key + "' claims " + Long.toUnsignedString(n) + " elements, more than the " + (size - pos) + " bytes left can hold");
            }
            count(n, key);
            int len = (int) n;
            String what = "element of '" + key + "'";
            switch (type) {
                case STRING -> {
                    List<String> l = new ArrayList<>(Math.min(len, 1 << 16));
                    for (int i = 0; i < len; i++) l.add(string(what, false));
                    return new GgufValue.StringArray(l);
                }
                case BOOL -> {
                    boolean[] b = new boolean[len];
                    for (int i = 0; i < len; i++) {
                        int v = u8(what);
                        if (v > 1) throw bad("array '" + key + "': BOOL element " + i + " is " + v);
                        b[i] = v == 1;
                    }
                    return new GgufValue.BoolArray(b);
                }
                case FLOAT32, FLOAT64 -> {
                    double[] d = new double[len];
                    for (int i = 0; i < len; i++) {
                        d[i] = type == GgufValueType.FLOAT32 ? Float.intBitsToFloat(u32(what)) : Double.longBitsToDouble(u64(what));
                    }
                    return new GgufValue.FloatArray(type, d);
                }
                default -> {
                    long[] v = new long[len];
                    for (int i = 0; i < len; i++) v[i] = integer(type, what);
                    return new GgufValue.IntArray(type, v);
                }
            }
        }

        private static String hex(byte[] b) {
            StringBuilder sb = new StringBuilder();
            for (byte x : b) {
                if (!sb.isEmpty()) sb.append(' ');
                sb.append(String.format("%02x", x & 0xFF));
            }
            return sb.toString();
        }
    }
}
