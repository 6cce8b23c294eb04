#!/usr/bin/env python3
"""Writes a synthetic Llama-shaped bf16 HF model folder (sharded safetensors + config) for llavapack's benchmarks.

Default shape is TinyLlama-1.1B's (hidden 2048, intermediate 5632, 22 layers, 32 heads, 4 KV heads, vocab 32000):
about 1.1 B parameters, 2.2 GB in bf16. --scale 8b gives Llama-3-8B's shapes (16 GB). Values are N(0, 0.02) so
statistics and merges behave like real weights. Needs only numpy (Debian python3-numpy); run with /usr/bin/python3.
"""
import argparse, json, os, struct
import numpy as np

SHAPES = {
    "2gb": dict(hidden=2048, inter=5632, layers=22, heads=32, kv=4, vocab=32000),
    "8b": dict(hidden=4096, inter=14336, layers=32, heads=32, kv=8, vocab=128256),
    "tiny": dict(hidden=256, inter=688, layers=2, heads=8, kv=2, vocab=1024),
}
ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def tensors(s):
    h, i, hd = s["hidden"], s["inter"], s["hidden"] // s["heads"]
    yield "model.embed_tokens.weight", (s["vocab"], h)
    for l in range(s["layers"]):
        p = f"model.layers.{l}."
        yield p + "self_attn.q_proj.weight", (h, h)
        yield p + "self_attn.k_proj.weight", (s["kv"] * hd, h)
        yield p + "self_attn.v_proj.weight", (s["kv"] * hd, h)
        yield p + "self_attn.o_proj.weight", (h, h)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (s["vocab"], h)


def bf16(rng, shape):
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.uint16)
    step = 1 << 24
    for k in range(0, n, step):
        m = min(step, n - k)
        x = rng.standard_normal(m, dtype=np.float32) * np.float32(0.02)
        if len(shape) == 1:
            x += np.float32(1.0)
        bits = x.view(np.uint32)
        out[k:k + m] = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return out


def write_shard(path, items, rng):
    items = sorted(items, key=lambda t: (-ORDER.index("BF16"), t[0]))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in items:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for name, shape in items:
            f.write(bf16(rng, shape).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--scale", default="2gb", choices=sorted(SHAPES))
    ap.add_argument("--max-shard-bytes", type=int, default=500_000_000)
    a = ap.parse_args()
    s = SHAPES[a.scale]
    os.makedirs(a.out, exist_ok=True)
    shards, cur, size = [], [], 0
    for name, shape in tensors(s):
        n = int(np.prod(shape)) * 2
        if cur and size + n > a.max_shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += n
    shards.append(cur)
    rng = np.random.default_rng(0)
    weight_map, total = {}, 0
    for k, items in enumerate(shards):
        fn = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write_shard(os.path.join(a.out, fn), items, rng)
        for name, shape in items:
            weight_map[name] = fn
            total += int(np.prod(shape)) * 2
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": s["hidden"],
              "intermediate_size": s["inter"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
              "num_key_value_heads": s["kv"], "vocab_size": s["vocab"], "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
              "max_position_embeddings": 8192, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
              "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    print(f"{a.out}: {len(weight_map)} tensors, {total / 1e9:.2f} GB in {len(shards)} shards")


if __name__ == "__main__":
    main()
