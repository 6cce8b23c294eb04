package org.llavapack.formats.onnx;

import java.util.Map;

/**
 * What llavapack's ONNX files declare, and why: the pinned onnxruntime (1.22.0, the Java jar the tests and
 * {@code parity} load) accepts at most IR version 10 and default-domain opset 22. llavapack stamps IR 10 with opset
 * 21, as onnxruntime-genai 0.9.0 does for ORT 1.22, so a newer runtime loads the files too and a test that loads
 * every export with the pinned jar catches an accidentally newer stamp.
 */
public final class OnnxLimits {
    private OnnxLimits() {}

    public static final String ONNXRUNTIME_VERSION = "1.22.0";
    public static final long IR_VERSION = 10;
    public static final long DEFAULT_OPSET = 21;
    /** onnxruntime's contrib domain (GroupQueryAttention, MatMulNBits); imported only when a node uses it. */
    public static final String MICROSOFT = "com.microsoft";
    public static final long MICROSOFT_OPSET = 1;

    /** A protobuf message cannot exceed 2 GiB; weights therefore always live in the external data file. */
    public static final long MAX_PROTO_BYTES = (1L << 31) - 1;
    /** Offsets of tensors in the external data file: page-aligned so onnxruntime can memory-map them. */
    public static final long DATA_ALIGNMENT = 4096;

    public static Map<String, Long> opsets(boolean contrib) {
        return contrib ? Map.of("", DEFAULT_OPSET, MICROSOFT, MICROSOFT_OPSET) : Map.of("", DEFAULT_OPSET);
    }
}
