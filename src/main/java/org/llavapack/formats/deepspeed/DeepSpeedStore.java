package org.llavapack.formats.deepspeed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.llavapack.BadInputException;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A DeepSpeed checkpoint folder seen as the state dict it consolidates to: the fp32 masters when the optimizer files
 * are there, else the 16-bit module copies. What {@code inspect} shows for a folder, and a store other commands can
 * read weights from.
 */
public final class DeepSpeedStore implements TensorStore {
    private final DeepSpeedCheckpoint checkpoint;
    private final Consolidation consolidation;
    private final Map<String, ReconstructedTensor> byName = new LinkedHashMap<>();
    private final List<TensorInfo> infos;
    private final Arena arena = Arena.ofShared();

    private DeepSpeedStore(DeepSpeedCheckpoint checkpoint) {
        this.checkpoint = checkpoint;
        this.consolidation = checkpoint.ranks().isEmpty() ? checkpoint.module() : checkpoint.masters();
        for (ReconstructedTensor t : consolidation.tensors()) byName.put(t.name(), t);
        this.infos = consolidation.tensors().stream().map(t -> t.info(null)).toList();
    }

    public static DeepSpeedStore open(Path folder) {
        DeepSpeedCheckpoint c = DeepSpeedCheckpoint.open(folder);
        try {
            return new DeepSpeedStore(c);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /** The training config text mmengine stored in the model-states file, if any. */
    public Optional<String> configText() {
        return checkpoint.configText();
    }

    public Consolidation consolidation() {
        return consolidation;
    }

    @Override
    public Path source() {
        return checkpoint.files().tagDir();
    }

    @Override
    public String format() {
        ConsolidationReport r = consolidation.report();
        return "deepspeed zero-" + r.stage() + " (" + r.worldSize() + " ranks, " + r.groups() + " groups, "
                + (r.source() == ConsolidationReport.Source.MASTER ? "fp32 masters" : "16-bit module copies") + ")";
    }

    @Override
    public List<TensorInfo> tensors() {
        return infos;
    }

    @Override
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("ds_version", checkpoint.model().dsVersion());
        checkpoint.model().trainDtype().ifPresent(t -> m.put("train_dtype", t.torchName()));
        return m;
    }

    @Override
    public Optional<TensorInfo> info(String name) {
        ReconstructedTensor t = byName.get(name);
        return t == null ? Optional.empty() : Optional.of(t.info(null));
    }

    /** Reconstructed values are assembled from rank slices, so the tensor is materialised (once) in native memory. */
    @Override
    public synchronized Tensor tensor(String name) {
        ReconstructedTensor t = byName.get(name);
        if (t == null) throw new BadInputException(source(), "no tensor named '" + name + "'");
        return materialise(t, arena);
    }

    @Override
    public TensorHandle open(String name) {
        ReconstructedTensor t = byName.get(name);
        if (t == null) throw new BadInputException(source(), "no tensor named '" + name + "'");
        Arena own = Arena.ofShared();
        return new TensorHandle(materialise(t, own), own);
    }

    private static Tensor materialise(ReconstructedTensor t, Arena arena) {
        TensorInfo info = t.info(null);
        if (t.source() instanceof TensorSource.Stored s) return s.tensor();
        MemorySegment seg = arena.allocate(Math.max(1, info.byteSize()), 8).asSlice(0, info.byteSize());
        float[] buf = new float[TensorSource.CHUNK];
        long n = t.numel();
        for (long i = 0; i < n; i += buf.length) {
            int k = (int) Math.min(buf.length, n - i);
            t.source().readFloats(i, buf, 0, k);
            switch (info.dtype()) {
                case F32 -> MemorySegment.copy(buf, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 4 * i, k);
                case BF16 -> BFloat16.fromFloats(buf, 0, seg, 2 * i, k);
                case F16 -> Float16.fromFloats(buf, 0, seg, 2 * i, k);
                default -> throw new IllegalStateException("cannot materialise " + info);
            }
        }
        return new Tensor(info, seg);
    }

    @Override
    public void close() {
        arena.close();
        checkpoint.close();
    }

}
