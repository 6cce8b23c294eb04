package org.llavapack.formats.deepspeed;

import java.util.Arrays;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.TensorInfo;

/**
 * One tensor of the consolidated state dict: its checkpoint name, its shape, why it is there, and where its values
 * come from. Reading happens only through {@link #source()}.
 */
public record ReconstructedTensor(String name, long[] shape, Role role, TensorSource source) {

    /** Why a tensor is in the output; also its place in zero_to_fp32's output order (spec §4.4). */
    public enum Role {
        /** A persistent buffer from {@code module} (original dtype kept). */
        BUFFER,
        /** A frozen parameter from {@code frozen_param_fragments}. */
        FROZEN,
        /** A trained parameter: fp32 master from the optimizer partitions, or the 16-bit module copy. */
        TRAINABLE,
        /** A tied alias of another output tensor ({@code shared_params}); same values as its owner. */
        SHARED
    }

    public ReconstructedTensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public DType dtype() {
        return source.dtype();
    }

    public long numel() {
        return source.numel();
    }

    /** The tensor description with its source dtype, or {@code target} for floating-point tensors when given. */
    public TensorInfo info(DType target) {
        DType t = target != null && source.dtype().isFloatingPoint() ? target : source.dtype();
        return new TensorInfo(name, t, shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype() + Arrays.toString(shape) + " (" + role + ")";
    }
}
