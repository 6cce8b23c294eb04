#!/usr/bin/python3
"""Small, valid torch.save files for llavapack's safe PyTorch reader, plus the tensors they must decode to.

Run from the repository root:

    /usr/bin/python3 test-checkpoints/torch/generate_torch.py

Needs only Debian's PyTorch (apt-get install -y python3-torch; torch 1.13 + numpy). Output is deterministic (fixed
seed, no timestamps in torch's zip writer or in the zips this script rewrites). It rewrites only the files listed in
FILES below, in this folder:

  zip-basic.pth       torch.save(TENSORS, path): zip, top folder 'zip-basic' (the file stem, not 'archive')
  zip-archive.pth     torch.save into io.BytesIO (top folder 'archive', as mmengine writes), a subset of TENSORS
  zip-proto4.pth      torch.save(TENSORS, path, pickle_protocol=4): FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL
  legacy.pth          torch.save(TENSORS, path, _use_new_zipfile_serialization=False): the pre-1.6 stream
  ordered.pth         a module's state_dict(): OrderedDict with _metadata (BUILD), int64 num_batches_tracked (0-d)
  wrapped.pth         {'state_dict': subset, 'meta': {...}, 'ds_version': '0.14.2', 'step': 5, 'flags': {...}}
  zip-bigendian.pth   the F32 subset re-zipped with a 'byteorder' member saying 'big' and every storage byte-swapped
                      (torch 1.13 cannot write this; newer torch on a big-endian host would)
  zip-deflated.pth    zip-basic.pth re-zipped with every member DEFLATEd (as `zip -r` would), no data descriptors
  expected.safetensors  every tensor of all files above, made contiguous, by its flattened name (nested dict and list
                      keys joined with '.'): the bytes the Java reader must return

TENSORS covers F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL; a row view with a storage offset, a column view,
a transposed view, a 2-D block view and an expanded (stride 0) view all sharing one storage; a 0-d scalar; empty
tensors; two names for one tensor object; an nn.Parameter (_rebuild_parameter); nested dicts and a list.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["zip-basic.pth", "zip-archive.pth", "zip-proto4.pth", "legacy.pth", "ordered.pth", "wrapped.pth",
         "zip-bigendian.pth", "zip-deflated.pth", "expected.safetensors"]

torch.manual_seed(1913)
torch.set_num_threads(1)


def make_tensors():
    base = torch.randn(4, 4)
    shared = torch.randn(3, 2)
    t = {
        "f32": torch.randn(3, 5),
        "f16": torch.randn(7).half(),
        "bf16": torch.randn(2, 3).bfloat16(),
        "f64": torch.randn(3).double(),
        "i64": torch.arange(-3, 5, dtype=torch.int64),
        "i32": torch.tensor([1, -2, 3, 2147483647], dtype=torch.int32),
        "i16": torch.tensor([-32768, 5, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True, True]),
        "base": base,
        "row": base[1],                 # storage_offset 4, contiguous
        "col": base[:, 2],              # storage_offset 2, stride (4,)
        "transposed": base.t(),         # stride (1, 4)
        "block": base[1:3, 1:3],        # storage_offset 5, stride (4, 1)
        "expanded": torch.randn(3, 1).expand(3, 4),  # stride (1, 0)
        "scalar": torch.tensor(3.5),    # 0-d: size (), stride ()
        "empty": torch.zeros(0),
        "empty2d": torch.zeros(2, 0, dtype=torch.float16),
        "tied_a": shared,
        "tied_b": shared,               # the same tensor object under two names
        "param": torch.nn.Parameter(torch.randn(2, 2)),
        "nested": {"inner": {"x": torch.randn(2)}, "list": [torch.randn(1), torch.randn(2, 1)]},
    }
    return t


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.norm = torch.nn.BatchNorm1d(2)


def flatten(prefix, value, out):
    if isinstance(value, torch.Tensor):
        out[prefix] = value
    elif isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            flatten(f"{prefix}.{i}" if prefix else str(i), v, out)
    return out


# ---- safetensors writer (spec §9): u64 LE header length, compact JSON, __metadata__ first, dtype-desc then name ----
ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64",
            "U64"]
ST_NAME = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.float16: "F16",
           torch.bfloat16: "BF16", torch.int32: "I32", torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def raw_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors):
    names = sorted(tensors, key=lambda n: (-ST_ORDER.index(ST_NAME[tensors[n].dtype]), n))
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for n in names:
        b = raw_bytes(tensors[n])
        header[n] = {"dtype": ST_NAME[tensors[n].dtype], "shape": list(tensors[n].shape),
                     "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = (e["dtype"], e["shape"], data[8 + n + a:8 + n + b])
    return out


# ---- zip rewriting: deterministic members (fixed date), STORED or DEFLATED ----
def rezip(src, dst, method, transform=lambda name, data: data, extra=()):
    with zipfile.ZipFile(src) as zin:
        members = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    prefix = members[0][0].split("/")[0]
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in list(members) + [(f"{prefix}/{n}", d) for n, d in extra]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            zout.writestr(info, transform(name, data))


def swap4(name, data):
    if "/data/" not in name:
        return data
    assert len(data) % 4 == 0
    return b"".join(data[i:i + 4][::-1] for i in range(0, len(data), 4))


def save_legacy(obj, path):
    """torch.save(obj, path, _use_new_zipfile_serialization=False) with reproducible storage keys.

    torch 1.13 names legacy storages str(storage._cdata), a memory address, so reruns would differ. While saving,
    `str` inside torch.serialization maps each address to a fixed 7-digit key; the keys are assigned so that their
    sorted order (the order of the raw storages in the stream) differs from the order of first use, as real
    addresses do."""
    real_str, keys = str, {}

    def stable_str(x):
        if type(x) is int:
            if x not in keys:
                keys[x] = real_str(1400000 + (len(keys) * 37 % 97) * 16)
            return keys[x]
        return real_str(x)

    torch.serialization.str = stable_str
    try:
        # exactly what torch.save(obj, path, _use_new_zipfile_serialization=False) runs once the file is open
        with open(path, "wb") as f:
            torch.serialization._legacy_save(obj, f, pickle, torch.serialization.DEFAULT_PROTOCOL)
    finally:
        del torch.serialization.str
    assert len(keys) < 97


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and raw_bytes(a) == raw_bytes(b)


def main():
    tensors = make_tensors()
    subset = {k: tensors[k] for k in ("f32", "bf16", "row", "transposed", "scalar")}
    f32_subset = {k: tensors[k] for k in ("f32", "base", "row", "transposed", "col")}
    module = Tiny()
    with torch.no_grad():
        module.norm.running_mean.copy_(torch.randn(2))
        module.norm.running_var.copy_(torch.rand(2) + 0.5)
    module.norm.num_batches_tracked.fill_(7)
    ordered = module.state_dict()
    assert hasattr(ordered, "_metadata")

    def p(name):
        return os.path.join(HERE, name)

    for f in FILES:
        if os.path.exists(p(f)):
            os.remove(p(f))
    torch.save(tensors, p("zip-basic.pth"))
    buf = io.BytesIO()
    torch.save(subset, buf)
    with open(p("zip-archive.pth"), "wb") as f:
        f.write(buf.getvalue())
    torch.save(tensors, p("zip-proto4.pth"), pickle_protocol=4)
    save_legacy(tensors, p("legacy.pth"))
    torch.save(ordered, p("ordered.pth"))
    torch.save({"state_dict": subset, "meta": {"epoch": 1, "iter": 8, "cfg": "lr = 1e-4\n"}, "ds_version": "0.14.2",
                "step": 5, "flags": {"bf16": True}, "names": ["a", "b"]}, p("wrapped.pth"))
    tmp = p("f32-subset.tmp")
    torch.save(f32_subset, tmp)
    rezip(tmp, p("zip-bigendian.pth"), zipfile.ZIP_STORED, swap4, extra=[("byteorder", b"big")])
    os.remove(tmp)
    rezip(p("zip-basic.pth"), p("zip-deflated.pth"), zipfile.ZIP_DEFLATED)

    expected = flatten("", tensors, {})
    for k, v in ordered.items():
        expected[k] = v
    write_safetensors(p("expected.safetensors"), expected)

    # Self-checks: torch reads back what it wrote, the rewritten zips carry what was meant, the writer round-trips.
    for name, want in [("zip-basic.pth", tensors), ("zip-archive.pth", subset), ("zip-proto4.pth", tensors),
                       ("legacy.pth", tensors), ("ordered.pth", ordered), ("zip-deflated.pth", tensors)]:
        got = flatten("", torch.load(p(name)), {})
        exp = flatten("", want, {})
        assert got.keys() == exp.keys(), name
        assert all(same(got[k], exp[k]) for k in exp), name
    with open(p("zip-proto4.pth"), "rb") as f, zipfile.ZipFile(f) as z:
        assert z.read("zip-proto4/data.pkl")[:2] == b"\x80\x04"
    with zipfile.ZipFile(p("zip-bigendian.pth")) as z:
        assert z.read("f32-subset/byteorder") == b"big"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    with zipfile.ZipFile(p("zip-deflated.pth")) as z:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    back = read_safetensors(p("expected.safetensors"))
    assert back.keys() == expected.keys()
    for k, v in expected.items():
        assert back[k] == (ST_NAME[v.dtype], list(v.shape), raw_bytes(v)), k
    views = {k: (tuple(v.shape), v.stride(), v.storage_offset()) for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    total = sum(os.path.getsize(p(f)) for f in FILES)
    print(json.dumps({"files": {f: os.path.getsize(p(f)) for f in FILES}, "total_bytes": total,
                      "views": {k: views[k] for k in ("row", "col", "transposed", "block", "expanded", "scalar")}},
                     indent=1))
    assert total < 200_000
    return 0


if __name__ == "__main__":
    sys.exit(main())
