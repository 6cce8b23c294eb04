#!/usr/bin/env python3
"""The plain PyTorch way to merge a LoRA adapter, as the baseline for bench/merge_lora.sh: load every base shard into
memory (safetensors parsed by hand, tensors made with torch.frombuffer), merge each target in fp32 as peft does with
an fp32 adapter (W' = bf16(W.float() + (B @ A) * s)), and save the whole state dict as safetensors shards. No
transformers/peft/safetensors packages (not installed here); Debian's torch 1.13 only. Uses all cores for matmuls.

Usage: merge_pytorch.py BASE_DIR ADAPTER_DIR OUT_DIR [--max-shard-bytes N]
"""
import argparse, json, os, struct, sys
import torch

DT = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "I64": torch.int64}
NAME = {v: k for k, v in DT.items()}
ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(os.path.getsize(path) - 8 - n)
        f.readinto(data)
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        s, t = e["data_offsets"]
        dt = DT[e["dtype"]]
        count = (t - s) // torch.tensor([], dtype=dt).element_size()
        out[name] = torch.frombuffer(data, dtype=dt, count=count, offset=s).reshape(e["shape"]) if count else torch.empty(e["shape"], dtype=dt)
    return out


def save(path, tensors):
    items = sorted(tensors.items(), key=lambda kv: (-ORDER.index(NAME[kv[1].dtype]), kv[0]))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, t in items:
        n = t.numel() * t.element_size()
        header[name] = {"dtype": NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for name, t in items:
            t = t.contiguous()
            raw = t.view(torch.int16) if t.dtype in (torch.bfloat16, torch.float16) else t
            f.write(raw.numpy().tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("adapter")
    ap.add_argument("out")
    ap.add_argument("--max-shard-bytes", type=int, default=5_000_000_000)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    idx = os.path.join(a.base, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    state = {}
    for fn in files:  # load everything, as from_pretrained does
        state.update(load(os.path.join(a.base, fn)))
    with open(os.path.join(a.adapter, "adapter_config.json")) as f:
        cfg = json.load(f)
    lora = load(os.path.join(a.adapter, "adapter_model.safetensors"))
    s = cfg["lora_alpha"] / (cfg["r"] ** 0.5 if cfg.get("use_rslora") else cfg["r"])
    merged = 0
    for name in list(lora):
        if not name.endswith(".lora_A.weight"):
            continue
        mod = name[len("base_model.model."):-len(".lora_A.weight")]
        A = lora[name].float()
        B = lora[name.replace("lora_A", "lora_B")].float()
        W = state[mod + ".weight"]
        state[mod + ".weight"] = (W.float() + (B @ A) * s).to(W.dtype)
        merged += 1
    os.makedirs(a.out, exist_ok=True)
    shards, cur, size = [], {}, 0
    for name, t in state.items():
        n = t.numel() * t.element_size()
        if cur and size + n > a.max_shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[name] = t
        size += n
    shards.append(cur)
    weight_map = {}
    for i, sh in enumerate(shards):
        fn = "model.safetensors" if len(shards) == 1 else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save(os.path.join(a.out, fn), sh)
        weight_map.update({k: fn for k in sh})
    if len(shards) > 1:
        total = sum(t.numel() * t.element_size() for t in state.values())
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")
    print(f"merged {merged} modules, wrote {len(shards)} file(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
