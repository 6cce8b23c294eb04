#!/usr/bin/env python3
"""Writes a PEFT LoRA adapter folder for a model made by make_model.py, for llavapack's merge benchmark.

r=64 (alpha 128, s = 2) on all seven projections of every layer (q, k, v, o, gate, up, down), F32 tensors named as
peft's get_peft_model_state_dict saves them, and adapter_config.json with peft 0.11's key set (spec section 6.1). A is
uniform(+-1/sqrt(in)) like peft's kaiming init and B is N(0, 0.02), non-zero, so every merge changes the weights.
Shapes come from the model's config.json. Needs only numpy (Debian python3-numpy); run with /usr/bin/python3.
"""
import argparse, json, os, struct
import numpy as np

PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def shapes(cfg):
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    return {"q_proj": (h, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, h),
            "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--r", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=128)
    a = ap.parse_args()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    shp = shapes(cfg)
    rng = np.random.default_rng(7)
    items = []
    for layer in range(cfg["num_hidden_layers"]):
        for p in PROJ:
            mod = f"model.layers.{layer}.{'self_attn' if p in PROJ[:4] else 'mlp'}.{p}"
            out_f, in_f = shp[p]
            items.append((f"base_model.model.{mod}.lora_A.weight", (a.r, in_f), "A", in_f))
            items.append((f"base_model.model.{mod}.lora_B.weight", (out_f, a.r), "B", in_f))
    items.sort(key=lambda t: t[0])  # all F32: safetensors orders by dtype, then name
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _, _ in items:
        n = shape[0] * shape[1] * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for name, shape, kind, in_f in items:
            if kind == "A":
                bound = np.float32(1.0 / np.sqrt(in_f))
                x = (rng.random(shape, dtype=np.float32) * 2 - 1) * bound
            else:
                x = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
            f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": os.path.basename(os.path.normpath(a.model)),
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": a.alpha if a.alpha != int(a.alpha) else int(a.alpha), "lora_dropout": 0.05, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": a.r, "rank_pattern": {},
        "revision": None, "target_modules": PROJ, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    with open(os.path.join(a.out, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True))
    print(f"{a.out}: {len(items)} F32 tensors, r={a.r}, {off / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
