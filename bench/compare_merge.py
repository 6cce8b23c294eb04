#!/usr/bin/env python3
"""Compares two merged model folders tensor by tensor (bench/merge_lora.sh: llavapack vs the PyTorch script).
Reports how many elements are bit-identical, how many 16-bit elements are 1 ulp apart, and how many more. Two fp32
merges that sum in different orders can land more than 1 ulp apart only where W and s*B@A nearly cancel (|W'| of order
1e-8, where a 16-bit ulp is tiny); those are reported with their largest absolute difference, which stays at fp32
rounding level. Exit 1 if names, dtypes or shapes differ or an element differs by more than 1 ulp and 1e-6 absolute.
Needs numpy; run with /usr/bin/python3."""
import json, os, struct, sys
import numpy as np

NP = {"BF16": np.uint16, "F16": np.uint16, "F32": np.float32, "I64": np.int64}


def index(folder):
    idx = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    out = {}
    for fn in files:
        path = os.path.join(folder, fn)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
        for k, e in h.items():
            if k != "__metadata__":
                out[k] = (path, 8 + n + e["data_offsets"][0], e["dtype"], tuple(e["shape"]))
    return out


def widen(u16, dtype):
    if dtype == "F16":
        return u16.view(np.float16).astype(np.float64)
    return (u16.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def ordered(u16):
    v = u16.astype(np.int32)
    return np.where(v & 0x8000, -(v & 0x7FFF), v)


def main():
    a, b = index(sys.argv[1]), index(sys.argv[2])
    if a.keys() != b.keys():
        print("tensor names differ:", sorted(a.keys() ^ b.keys())[:5])
        return 1
    total = same = one = more = 0
    worst_ulp, worst_abs, more_abs, bad = 0, 0.0, 0.0, 0
    for k in sorted(a):
        pa, oa, da, sa = a[k]
        pb, ob, db, sb = b[k]
        if (da, sa) != (db, sb):
            print(f"{k}: {da}{list(sa)} vs {db}{list(sb)}")
            return 1
        n = int(np.prod(sa)) if sa else 1
        x = np.memmap(pa, dtype=NP[da], mode="r", offset=oa, shape=(n,))
        y = np.memmap(pb, dtype=NP[db], mode="r", offset=ob, shape=(n,))
        step = 1 << 24
        for i in range(0, n, step):
            xs, ys = np.asarray(x[i:i + step]), np.asarray(y[i:i + step])
            eq = xs.view(np.uint8).reshape(len(xs), -1) == ys.view(np.uint8).reshape(len(ys), -1)
            same += int(eq.all(axis=1).sum())
            if da in ("BF16", "F16") and len(xs):
                d = np.abs(ordered(xs) - ordered(ys))
                worst_ulp = max(worst_ulp, int(d.max()))
                one += int((d == 1).sum())
                far = d > 1
                if far.any():
                    more += int(far.sum())
                    fx, fy = widen(xs[far], da), widen(ys[far], da)
                    diff = float(np.abs(fx - fy).max())
                    more_abs = max(more_abs, diff)
                    bad += diff > 1e-6
            elif da == "F32":
                worst_abs = max(worst_abs, float(np.abs(xs - ys).max()) if len(xs) else 0.0)
        total += n
    print(f"{len(a)} tensors, {total} elements: {same / total * 100:.4f}% bit-identical, {one} one ulp apart, {more} more "
          f"(max {worst_ulp} ulp, all near-cancellations: max abs diff {more_abs:.2g}); F32 max abs diff {worst_abs:.3g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
