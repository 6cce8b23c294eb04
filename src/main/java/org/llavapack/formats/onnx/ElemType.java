package org.llavapack.formats.onnx;

/** The ONNX tensor element types llavapack writes ({@code TensorProto.DataType} numbers). */
public enum ElemType {
    FLOAT(1, 4), UINT8(2, 1), INT32(6, 4), INT64(7, 8), FLOAT16(10, 2);

    public final int code;
    public final int bytes;

    ElemType(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }
}
