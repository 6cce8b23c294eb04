package org.llavapack.formats.deepspeed;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Optional;
import org.llavapack.CheckFailedException;
import org.llavapack.formats.deepspeed.ReconstructedTensor.Role;
import org.llavapack.tensor.BFloat16;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Float16;
import org.llavapack.tensor.Tensor;

/**
 * Spec §4.6 item 1: DeepSpeed refreshes the 16-bit model copy from the fp32 master after every step and saves after the
 * step, so for ZeRO-1/2 {@code module[name]} must equal the master rounded to nearest even, bit for bit. Any mismatch
 * means a rank-order, group or offset bug (ours or the files'), so it is worth the extra pass over the trainable
 * parameters. Values are compared chunk by chunk; nothing whole is materialised.
 */
public final class SelfCheck {
    private SelfCheck() {}

    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 16;

    /**
     * The outcome.
     *
     * @param dtype              the 16-bit dtype compared against (BF16 or F16), or null when skipped
     * @param tensorsChecked     trainable tensors compared
     * @param tensorsMismatched  tensors with at least one differing element (or missing / wrong dtype in module)
     * @param elementsMismatched differing elements over all tensors
     * @param firstMismatch      the first mismatching tensor in output order, with a short reason
     * @param skipped            why no comparison was possible (ZeRO-3, module source, no 16-bit copies), if so
     */
    public record Result(DType dtype, int tensorsChecked, int tensorsMismatched, long elementsMismatched,
                         Optional<String> firstMismatch, Optional<String> skipped) {

        public boolean passed() {
            return skipped.isEmpty() && tensorsMismatched == 0;
        }

        /** Throws {@link CheckFailedException} (exit 1) when the check ran and found a mismatch. */
        public Result enforce() {
            if (skipped.isEmpty() && tensorsMismatched > 0) {
                throw new CheckFailedException("self-check failed: " + tensorsMismatched + " of " + tensorsChecked
                        + " trainable tensors (" + elementsMismatched + " elements) differ between the fp32 master rounded to "
                        + dtype + " and the 16-bit copy in 'module'; first: " + firstMismatch.orElse("?")
                        + " — wrong rank order, or files from different runs/steps?");
            }
            return this;
        }

        public String summary() {
            if (skipped.isPresent()) return "self-check skipped: " + skipped.get();
            if (tensorsMismatched == 0) return "self-check passed: " + tensorsChecked + " tensors equal RNE(master) in " + dtype;
            return "self-check FAILED: " + tensorsMismatched + " of " + tensorsChecked + " tensors, " + elementsMismatched
                    + " elements; first " + firstMismatch.orElse("?");
        }

        static Result skipped(String why) {
            return new Result(null, 0, 0, 0, Optional.empty(), Optional.of(why));
        }
    }

    /** Compares every trainable master of {@code masters} (a {@link ZeroConsolidator#fromMasters} result) with module. */
    public static Result run(Consolidation masters, ZeroModelStates model) {
        if (masters.report().source() != ConsolidationReport.Source.MASTER) {
            return Result.skipped("the weights were taken from the 16-bit copies (--source module)");
        }
        if (masters.report().stage() == 3) {
            return Result.skipped("ZeRO-3 stores no 16-bit copies in 'module'");
        }
        DType dtype = model.trainDtype().orElse(null);
        if (dtype == null) {
            for (ReconstructedTensor t : masters.withRole(Role.TRAINABLE)) {
                Tensor m = model.module().get(t.name());
                if (m != null && (m.dtype() == DType.BF16 || m.dtype() == DType.F16)) {
                    dtype = m.dtype();
                    break;
                }
            }
        }
        if (dtype != DType.BF16 && dtype != DType.F16) {
            return Result.skipped("the run did not train in bf16 or fp16 (no 16-bit copies to compare)");
        }
        int checked = 0;
        int bad = 0;
        long badElements = 0;
        String first = null;
        float[] buf = new float[CHUNK];
        for (ReconstructedTensor t : masters.withRole(Role.TRAINABLE)) {
            checked++;
            Tensor m = model.module().get(t.name());
            String reason = null;
            long diff = 0;
            if (m == null) {
                reason = "missing from 'module'";
            } else if (m.dtype() != dtype) {
                reason = "'module' holds " + m.dtype() + ", the run trained in " + dtype;
            } else if (m.numel() != t.numel()) {
                reason = "'module' holds " + m.numel() + " elements, the master " + t.numel();
            } else {
                diff = countDifferences(t.source(), m.data(), dtype, buf);
                if (diff > 0) reason = diff + " of " + t.numel() + " elements differ";
            }
            if (reason != null) {
                bad++;
                badElements += m == null || diff == 0 ? t.numel() : diff;
                if (first == null) first = t.name() + " (" + reason + ")";
            }
        }
        return new Result(dtype, checked, bad, badElements, Optional.ofNullable(first), Optional.empty());
    }

    private static long countDifferences(TensorSource master, MemorySegment module, DType dtype, float[] buf) {
        long n = master.numel();
        long diff = 0;
        for (long i = 0; i < n; i += buf.length) {
            int k = (int) Math.min(buf.length, n - i);
            master.readFloats(i, buf, 0, k);
            for (int j = 0; j < k; j++) {
                short want = dtype == DType.BF16 ? BFloat16.fromFloat(buf[j]) : Float16.fromFloat(buf[j]);
                short have = module.get(LE_SHORT, 2 * (i + j));
                if (want != have && !(isNaN(want, dtype) && isNaN(have, dtype))) diff++;
            }
        }
        return diff;
    }

    /** NaN payloads need not survive a round trip; any NaN matches any NaN. */
    private static boolean isNaN(short bits, DType dtype) {
        return dtype == DType.BF16 ? Float.isNaN(BFloat16.toFloat(bits)) : Float.isNaN(Float16.toFloat(bits));
    }
}
