package org.llavapack.convert;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.llavapack.BadInputException;
import org.llavapack.formats.TensorStores;
import org.llavapack.model.lora.LoraModule;
import org.llavapack.model.lora.LoraUpdate;
import org.llavapack.model.lora.PeftAdapter;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A PEFT adapter merged while the base weights stream into an export ({@code export gguf --adapter}): the same
 * validation ({@link PeftAdapter}) and the same fp32 arithmetic ({@link LoraUpdate}, one fused product per row block)
 * as merge-lora, so an f32 export equals merge-lora's {@code --dtype f32} output bit for bit and lower-precision
 * exports round only once, from the merged fp32 value to the export type.
 *
 * <p>A module's factors are loaded when its first rows arrive and dropped when its last row is done, so memory holds
 * the factors of the tensors being encoded, not of the whole adapter (r=128 on Llama-3-8B is about 1 GB of fp32).
 */
public final class AdapterMerge implements WeightTransform, AutoCloseable {
    private final PeftAdapter adapter;

    private AdapterMerge(PeftAdapter adapter) {
        this.adapter = adapter;
    }

    /** Opens and validates the adapter in {@code adapterDir} against the base model folder {@code baseDir}. */
    public static AdapterMerge open(Path adapterDir, Path baseDir) {
        if (!Files.isDirectory(adapterDir)) throw new BadInputException(adapterDir, "no such adapter folder");
        try (TensorStore base = TensorStores.open(baseDir)) {
            PeftAdapter adapter = PeftAdapter.open(adapterDir, base, baseDir);
            for (LoraModule m : adapter.modules().values()) {
                if (m.magnitude().isPresent() && m.kind().transposed()) {
                    adapter.close();
                    throw new BadInputException(adapterDir, "DoRA on '" + m.module() + "' (" + m.kind() + ") needs a norm down each stored column, "
                            + "which a row-streaming export cannot compute: run merge-lora first and export the merged folder");
                }
            }
            return new AdapterMerge(adapter);
        }
    }

    /** What peft's checks found doubtful but harmless (printed as warnings by the command). */
    public List<String> warnings() {
        return adapter.warnings();
    }

    /** Number of base weights with a LoRA update, replaced by a saved copy, or given a lora_B bias. */
    public int changedTensors() {
        return adapter.modules().size() + adapter.replacements().size() + adapter.biasUpdates().size();
    }

    @Override
    public RowTransform forTensor(String name, TensorInfo info) {
        LoraModule m = adapter.modules().get(name);
        if (m != null) return new Merge(m, info.numel() / Math.max(1, m.cols()));
        LoraModule b = adapter.biasUpdates().get(name);
        if (b != null) return new Bias(b);
        String replacement = adapter.replacements().get(name);
        if (replacement != null) return new Replace(replacement);
        return null;
    }

    @Override
    public void close() {
        adapter.close();
    }

    /** W + s·ΔW (then DoRA's row scaling), row block by row block. */
    private final class Merge implements RowTransform {
        private final LoraModule module;
        private final long rows;
        private final AtomicLong rowsLeft;
        private volatile LoraUpdate update;

        Merge(LoraModule module, long rows) {
            this.module = module;
            this.rows = rows;
            this.rowsLeft = new AtomicLong(rows);
        }

        private LoraUpdate update() {
            LoraUpdate u = update;
            if (u == null) {
                synchronized (this) {
                    u = update;
                    if (u == null) update = u = LoraUpdate.load(adapter.weights(), module);
                }
            }
            return u;
        }

        @Override
        public void apply(long row, float[] values, int offset, int length) {
            applyRows(row, 1, values, offset, length);
        }

        @Override
        public void applyRows(long firstRow, int rowCount, float[] values, int offset, int rowLength) {
            if (rowLength != module.cols() || firstRow < 0 || firstRow + rowCount > rows) {
                throw new IllegalStateException(module.weight() + ": rows [" + firstRow + ", " + (firstRow + rowCount) + ") of " + rowLength);
            }
            LoraUpdate u = update();
            u.addDelta(values, offset, Math.toIntExact(firstRow), rowCount);
            if (u.dora()) u.applyDoraRows(values, offset, Math.toIntExact(firstRow), rowCount);
            if (rowsLeft.addAndGet(-rowCount) == 0) update = null;
        }
    }

    /** A base bias plus s·lora_B.bias, with merge-lora's arithmetic. */
    private final class Bias implements RowTransform {
        private final LoraModule module;

        Bias(LoraModule module) {
            this.module = module;
        }

        @Override
        public void apply(long row, float[] values, int offset, int length) {
            float[] bias = java.util.Arrays.copyOfRange(values, offset, offset + length);
            LoraUpdate.addLoraBias(adapter.weights(), module, bias);
            System.arraycopy(bias, 0, values, offset, length);
        }
    }

    /** A tensor the adapter saved in full (modules_to_save, a resized embedding) replaces the base's values. */
    private final class Replace implements RowTransform {
        private final String tensor;

        Replace(String tensor) {
            this.tensor = tensor;
        }

        @Override
        public void apply(long row, float[] values, int offset, int length) {
            applyRows(row, 1, values, offset, length);
        }

        /** One mapping of the saved tensor per block of rows, not per row (a saved lm_head has 128,256 of them). */
        @Override
        public void applyRows(long firstRow, int rowCount, float[] values, int offset, int rowLength) {
            try (TensorHandle h = adapter.weights().open(tensor)) {
                Tensor t = h.tensor();
                t.readFloats(firstRow * rowLength, values, offset, rowCount * rowLength);
            }
        }
    }
}
