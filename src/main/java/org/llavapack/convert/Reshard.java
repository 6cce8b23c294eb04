package org.llavapack.convert;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.llavapack.formats.safetensors.SafetensorsWriter;
import org.llavapack.formats.safetensors.TensorOutput;
import org.llavapack.io.AtomicOutput;
import org.llavapack.io.RegionChunks;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * Rewrites a model's weights as (re)sharded safetensors, optionally casting floating-point tensors to another dtype,
 * and carries the folder's config and tokenizer files along. Unchanged tensors are copied file to file.
 */
public final class Reshard {
    private Reshard() {}

    public record Options(long maxShardBytes, Optional<DType> dtype, boolean force) {}

    public static SafetensorsWriter.Result run(TensorStore src, Path srcFolder, Path outDir, Options options, Progress progress) {
        List<TensorInfo> plan = src.tensors().stream().map(t -> castTarget(t, options.dtype())).toList();
        long total = plan.stream().mapToLong(TensorInfo::byteSize).sum();
        try (AtomicOutput out = AtomicOutput.directory(outDir, options.force())) {
            progress.start("writing", total, plan.size());
            var result = SafetensorsWriter.writeSharded(out.path(), "model", SafetensorsWriter.PT_METADATA, plan,
                    options.maxShardBytes(), (info, sink) -> copy(src, info, sink), progress);
            if (srcFolder != null && Files.isDirectory(srcFolder)) {
                HfFolder.copyAuxiliaryFiles(srcFolder, out.path(), options.dtype());
            }
            out.commit();
            return result;
        }
    }

    private static TensorInfo castTarget(TensorInfo t, Optional<DType> dtype) {
        if (dtype.isEmpty() || !isCastable(t.dtype())) return t;
        return t.withDType(dtype.get());
    }

    private static boolean isCastable(DType t) {
        return t == DType.F32 || t == DType.BF16 || t == DType.F16;
    }

    /** Same dtype: a file-to-file copy. Different: widen and round chunk by chunk through mapped windows. */
    static void copy(TensorStore src, TensorInfo target, TensorOutput sink) throws java.io.IOException {
        TensorInfo source = src.info(target.name()).orElseThrow();
        Optional<TensorStore.FileRegion> region = src.region(target.name());
        if (source.dtype() == target.dtype()) {
            if (region.isPresent()) {
                sink.transferFrom(region.get());
            } else {
                try (TensorHandle h = src.open(target.name())) {
                    sink.write(h.tensor().data());
                }
            }
            return;
        }
        float[] buf = new float[1 << 18];
        if (region.isPresent()) {
            int elem = source.dtype().size();
            long window = RegionChunks.WINDOW - RegionChunks.WINDOW % elem;
            RegionChunks.forEachWriting(region.get(), window, (chunk, offset) ->
                    convert(new Tensor(source.withShape(chunk.byteSize() / elem), chunk), buf, sink));
        } else {
            try (TensorHandle h = src.open(target.name())) {
                convert(h.tensor(), buf, sink);
            }
        }
    }

    private static void convert(Tensor t, float[] buf, TensorOutput sink) throws java.io.IOException {
        long n = t.numel();
        for (long i = 0; i < n; i += buf.length) {
            int k = (int) Math.min(buf.length, n - i);
            t.readFloats(i, buf, 0, k);
            sink.writeFloats(buf, 0, k);
        }
    }

}
