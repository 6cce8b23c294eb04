package org.llavapack.formats.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.llavapack.BadInputException;
import org.llavapack.LlavapackException;
import org.llavapack.formats.FileKind;
import org.llavapack.formats.pickle.PickleHooks;
import org.llavapack.formats.pickle.PickleLimits;
import org.llavapack.formats.pickle.PickleReader;
import org.llavapack.formats.pickle.PyDict;
import org.llavapack.formats.pickle.PyList;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.formats.pickle.PyTuple;
import org.llavapack.io.MappedFile;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A {@code torch.save} file, read safely: the zip format (spec §1.1) or the legacy stream (§1.2), detected by content.
 * Opening parses the pickle into an object graph ({@link #root()}) whose tensors are {@link TorchTensor} references
 * into the mapped file; no tensor bytes are read until asked for.
 *
 * <p>As a {@link TensorStore} it lists the model weights: {@code root['state_dict']} when that is a dict (mmengine),
 * else {@code root['module']} (DeepSpeed model states), else the root itself; nested dicts, lists and tuples inside
 * that are flattened into dotted names ({@code a.b.0}). Other top-level entries are described by {@link #otherKeys()}.
 */
public final class TorchCheckpoint implements TensorStore {

    /**
     * @param limits caps for the pickle reader
     * @param verifyCrc check each zip storage's CRC-32 before its bytes are first used (data.pkl is always checked)
     */
    public record Options(PickleLimits limits, boolean verifyCrc) {
        public static final Options DEFAULT = new Options(PickleLimits.DEFAULT, true);
    }

    /** {@code torch.serialization.MAGIC_NUMBER}, the first pickle of a legacy stream. */
    private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long LEGACY_PROTOCOL = 1001;
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final MappedFile file;
    private final int maxDepth;
    private final Arena arena;
    private final String format;
    private final Object root;
    private final StorageSource storages;
    private final Map<String, TorchTensor> tensors;
    private final List<TensorInfo> infos;

    private TorchCheckpoint(Path path, MappedFile file, Arena arena, String format, Object root, StorageSource storages,
                            PickleLimits limits) {
        this.path = path;
        this.maxDepth = limits.maxDepth();
        this.file = file;
        this.arena = arena;
        this.format = format;
        this.root = root;
        this.storages = storages;
        this.tensors = Collections.unmodifiableMap(flatten(weightsRoot(root)));
        List<TensorInfo> list = new ArrayList<>();
        tensors.forEach((name, t) -> list.add(t.info(name)));
        this.infos = List.copyOf(list);
    }

    public static TorchCheckpoint open(Path path) {
        return open(path, Options.DEFAULT);
    }

    public static TorchCheckpoint open(Path path, Options options) {
        FileKind kind = FileKind.detect(path);
        switch (kind) {
            case ZIP, TORCH_LEGACY, PICKLE -> { }
            case TAR -> throw new BadInputException(path, "tar archive: the very old tar-based torch format is not supported");
            default -> throw new BadInputException(path, "not a torch checkpoint (the content looks like " + kind.name().toLowerCase() + ")");
        }
        MappedFile mf = MappedFile.open(path);
        Arena arena = Arena.ofShared();
        try {
            return switch (kind) {
                case ZIP -> openZip(path, mf, arena, options);
                case TORCH_LEGACY -> openLegacy(path, mf, arena, options);
                default -> throw refuseBarePickle(path, mf, options);
            };
        } catch (RuntimeException | Error e) {
            arena.close();
            mf.close();
            if (e instanceof LlavapackException || !(e instanceof RuntimeException || e instanceof StackOverflowError
                    || e instanceof OutOfMemoryError)) {
                throw e;
            }
            // Last resort: an unforeseen failure on hostile input is still bad input, never a crash.
            throw new BadInputException(path, "unreadable torch checkpoint (" + e + ")", e);
        }
    }

    /** A bare pickle holds no storages, so it cannot be a checkpoint; it is still read, so hostile content is named. */
    private static BadInputException refuseBarePickle(Path path, MappedFile mf, Options options) {
        new PickleReader(path, null, options.limits(), PickleHooks.INERT).read(mf.whole(), 0);
        return new BadInputException(path, "not a torch checkpoint: a bare pickle stream, which holds no tensor data "
                + "(torch.save writes a zip archive or a legacy stream)");
    }

    private static TorchCheckpoint openZip(Path path, MappedFile mf, Arena arena, Options options) {
        ZipArchive zip = ZipArchive.read(path, mf.whole());
        List<String> pickles = new ArrayList<>();
        for (String name : zip.entries().keySet()) {
            if (name.equals("constants.pkl") || name.endsWith("/constants.pkl") || name.startsWith("code/") || name.contains("/code/")) {
                throw new BadInputException(path, "TorchScript archive (member " + name + "): a program saved by torch.jit.save, "
                        + "not a state dict; refusing it");
            }
            if (name.endsWith(".py") || name.contains(".data/extern_modules")) {
                throw new BadInputException(path, "torch.package archive (member " + name + "): Python code, not a state dict; refusing it");
            }
            if (name.equals("data.pkl") || name.endsWith("/data.pkl")) pickles.add(name);
        }
        if (pickles.isEmpty()) throw new BadInputException(path, "zip archive without a */data.pkl member: not a torch checkpoint");
        if (pickles.size() > 1) {
            throw new BadInputException(path, "zip archive holds multiple data.pkl members (" + String.join(", ", pickles.subList(0, Math.min(4, pickles.size())))
                    + "): ambiguous, refusing it");
        }
        String pklName = pickles.getFirst();
        String prefix = pklName.substring(0, pklName.length() - "data.pkl".length());
        boolean bigEndian = false;
        ZipArchive.Entry order = zip.entries().get(prefix + "byteorder");
        if (order != null) {
            if (order.size() > 16) throw new BadInputException(path, "zip member " + order.name() + " is not 'little' or 'big'");
            MemorySegment text = zip.content(order, 16, arena);
            zip.verifyCrc(order, text);
            String value = new String(text.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).strip();
            if (!value.equals("little") && !value.equals("big")) {
                throw new BadInputException(path, "zip member " + order.name() + " says '" + PyRepr.of(value) + "', not 'little' or 'big'");
            }
            bigEndian = value.equals("big");
        }
        ZipArchive.Entry pkl = zip.entries().get(pklName);
        long cap = options.limits().maxPickleBytes();
        if (pkl.method() == ZipArchive.STORED && pkl.size() > cap) {
            throw new BadInputException(path, pklName + " is " + pkl.size() + " bytes, above the pickle cap of " + cap + " bytes");
        }
        MemorySegment pickle = zip.content(pkl, cap, arena);
        zip.verifyCrc(pkl, pickle);
        ZipStorages source = new ZipStorages(path, zip, prefix, bigEndian, options.verifyCrc(), arena);
        TorchHooks hooks = new TorchHooks(path, source, false);
        PickleReader.Result r = new PickleReader(path, pklName, options.limits(), hooks).read(pickle, 0);
        if (r.end() != pickle.byteSize()) {
            throw new BadInputException(path, pklName + " has " + (pickle.byteSize() - r.end()) + " bytes after its STOP opcode");
        }
        return new TorchCheckpoint(path, mf, arena, "torch zip", r.value(), source, options.limits());
    }

    private static TorchCheckpoint openLegacy(Path path, MappedFile mf, Arena arena, Options options) {
        MemorySegment seg = mf.whole();
        PickleLimits limits = options.limits();
        PickleReader.Result magic = new PickleReader(path, "legacy magic number", limits, PickleHooks.INERT).read(seg, 0);
        if (!LEGACY_MAGIC.equals(magic.value())) {
            throw new BadInputException(path, "not a torch legacy stream: wrong magic number " + PyRepr.of(magic.value()));
        }
        PickleReader.Result protocol = new PickleReader(path, "legacy protocol version", limits, PickleHooks.INERT).read(seg, magic.end());
        if (!(protocol.value() instanceof Long v) || v != LEGACY_PROTOCOL) {
            throw new BadInputException(path, "torch legacy stream protocol version " + PyRepr.of(protocol.value())
                    + " is not supported (expected " + LEGACY_PROTOCOL + ")");
        }
        PickleReader.Result sysInfo = new PickleReader(path, "legacy sys_info", limits, PickleHooks.INERT).read(seg, protocol.end());
        if (!(sysInfo.value() instanceof PyDict)) throw new BadInputException(path, "torch legacy stream: sys_info is not a dict");
        // Storage bytes are always little-endian in this format (torch's writeFileRaw converts), whatever sys_info says.
        LegacyStorages source = new LegacyStorages(path, seg, false);
        TorchHooks hooks = new TorchHooks(path, source, true);
        PickleReader.Result graph = new PickleReader(path, "legacy object pickle", limits, hooks).read(seg, sysInfo.end());
        PickleReader.Result keyList = new PickleReader(path, "legacy storage key list", limits, PickleHooks.INERT).read(seg, graph.end());
        if (!(keyList.value() instanceof PyList keys)) throw new BadInputException(path, "torch legacy stream: the storage key list is not a list");
        long pos = keyList.end(), size = seg.byteSize();
        Set<String> seen = new HashSet<>();
        for (Object k : keys) {
            if (!(k instanceof String key)) throw new BadInputException(path, "torch legacy stream: storage key " + PyRepr.of(k) + " is not a string");
            if (!seen.add(key)) throw new BadInputException(path, "torch legacy stream: storage key " + PyRepr.of(key) + " is listed twice");
            TorchStorage s = hooks.storages().get(key);
            if (s == null) {
                throw new BadInputException(path, "torch legacy stream: the storage key list names " + PyRepr.of(key)
                        + ", which no tensor references (storage count mismatch)");
            }
            if (size - pos < 8) throw new BadInputException(path, "storage " + PyRepr.of(key) + ": the file ends before its element count (truncated)");
            long count = seg.get(LE_LONG, pos);
            if (count != s.numel()) {
                throw new BadInputException(path, "storage " + PyRepr.of(key) + ": the stream holds " + count + " elements but its persistent id says " + s.numel());
            }
            pos += 8;
            if (size - pos < s.byteSize()) {
                throw new BadInputException(path, "storage " + PyRepr.of(key) + " needs " + s.byteSize() + " bytes but the file ends after "
                        + (size - pos) + " (truncated)");
            }
            source.place(key, pos);
            pos += s.byteSize();
        }
        for (String key : hooks.storages().keySet()) {
            if (!seen.contains(key)) throw new BadInputException(path, "storage " + PyRepr.of(key) + " is referenced but missing from the legacy storage key list");
        }
        return new TorchCheckpoint(path, mf, arena, "torch legacy", graph.value(), source, limits);
    }

    // ---- the object graph -------------------------------------------------------------------------------------------

    /** The decoded object graph (see {@link PickleReader} for the value types); tensors are {@link TorchTensor}s. */
    public Object root() {
        return root;
    }

    /** The weights this store lists, by name: the state dict (see the class comment), flattened. */
    public Map<String, TorchTensor> stateDict() {
        return tensors;
    }

    public Optional<TorchTensor> torchTensor(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** Whether storages are big-endian (a zip whose {@code byteorder} says so); reads then byte-swap. */
    public boolean bigEndian() {
        return storages.bigEndian();
    }

    /**
     * Top-level entries of a dict root that are not tensors, with their Python type names ({@code dict}, {@code str},
     * {@code OrderedDict}, {@code LossScaler} …), in file order. Empty when the root is not a dict.
     */
    public Map<String, String> otherKeys() {
        Map<String, String> out = new LinkedHashMap<>();
        if (root instanceof PyDict d) {
            for (Map.Entry<Object, Object> e : d.entrySet()) {
                if (e.getValue() instanceof TorchTensor) continue;
                String key = e.getKey() instanceof String s ? s : PyRepr.of(e.getKey());
                out.put(key, e.getValue() instanceof TorchStorage ? "TypedStorage" : PyRepr.typeName(e.getValue()));
            }
        }
        return out;
    }

    /** Checks the CRC-32 of every zip member now rather than on first use; nothing to check for a legacy stream. */
    public void verifyCrc() {
        if (storages instanceof ZipStorages z) z.verifyAll();
    }

    private static Object weightsRoot(Object root) {
        if (root instanceof PyDict d) {
            if (d.get("state_dict") instanceof PyDict sd) return sd;
            if (d.get("module") instanceof PyDict m) return m;
        }
        return root;
    }

    /**
     * Every tensor reachable from {@code value} through dicts, lists and tuples, named by its dotted path. Walked with
     * an explicit stack; a container reached twice is walked once (its first path names it), so shared and cyclic
     * graphs terminate. Inert objects are not entered.
     */
    public Map<String, TorchTensor> flatten(Object value) {
        record Item(String name, Object value, int depth) {}
        Map<String, TorchTensor> out = new LinkedHashMap<>();
        IdentityHashMap<Object, Boolean> visited = new IdentityHashMap<>();
        ArrayDeque<Item> pending = new ArrayDeque<>();
        pending.push(new Item("", value, 0));
        while (!pending.isEmpty()) {
            Item it = pending.pop();
            if (it.value() instanceof TorchTensor t) {
                String name = it.name().isEmpty() ? "tensor" : it.name();
                if (out.putIfAbsent(name, t) != null) throw new BadInputException(path, "two tensors are both named " + PyRepr.of(name));
                continue;
            }
            if (!(it.value() instanceof PyDict || it.value() instanceof PyList || it.value() instanceof PyTuple)) continue;
            if (visited.put(it.value(), Boolean.TRUE) != null) continue;
            if (it.depth() > maxDepth) {
                throw new BadInputException(path, "containers nested deeper than " + maxDepth + " (nesting too deep)");
            }
            List<Item> children = new ArrayList<>();
            if (it.value() instanceof PyDict d) {
                d.forEach((k, v) -> children.add(new Item(join(it.name(), k), v, it.depth() + 1)));
            } else {
                List<?> l = (List<?>) it.value();
                for (int i = 0; i < l.size(); i++) children.add(new Item(join(it.name(), (long) i), l.get(i), it.depth() + 1));
            }
            for (int i = children.size() - 1; i >= 0; i--) pending.push(children.get(i));
        }
        return out;
    }

    private static String join(String prefix, Object key) {
        String k = key instanceof String s ? s : key instanceof Long l ? l.toString() : PyRepr.of(key);
        return prefix.isEmpty() ? k : prefix + "." + k;
    }

    // ---- TensorStore ------------------------------------------------------------------------------------------------

    @Override
    public Path source() {
        return path;
    }

    /** {@code torch zip} or {@code torch legacy}. */
    @Override
    public String format() {
        return format;
    }

    @Override
    public List<TensorInfo> tensors() {
        return infos;
    }

    @Override
    public Map<String, String> metadata() {
        return Map.of();
    }

    @Override
    public Optional<TensorInfo> info(String name) {
        TorchTensor t = tensors.get(name);
        return t == null ? Optional.empty() : Optional.of(t.info(name));
    }

    private TorchTensor require(String name) {
        TorchTensor t = tensors.get(name);
        if (t == null) throw new BadInputException(path, "no tensor named " + PyRepr.of(name));
        return t;
    }

    /**
     * Contiguous little-endian tensors are slices of the file mapping; others are gathered into memory that lives until
     * the checkpoint is closed (use {@link #open} to release it sooner).
     */
    @Override
    public Tensor tensor(String name) {
        return require(name).toTensor(name, arena);
    }

    @Override
    public TensorHandle open(String name) {
        TorchTensor t = require(name);
        Optional<FileRegion> region = t.region();
        if (region.isPresent()) {
            MappedFile.Window w = file.window(region.get().offset(), region.get().length());
            return new TensorHandle(new Tensor(t.info(name), w.segment()), w);
        }
        Arena own = Arena.ofShared();
        try {
            return new TensorHandle(t.toTensor(name, own), own);
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
    }

    @Override
    public Optional<FileRegion> region(String name) {
        return require(name).region();
    }

    @Override
    public void close() {
        arena.close();
        file.close();
    }

    @Override
    public String toString() {
        return format + " " + path + " (" + tensors.size() + " tensors)";
    }
}
