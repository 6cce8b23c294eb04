#!/usr/bin/env python3
"""Writes a synthetic XTuner/DeepSpeed ZeRO-2 checkpoint shaped like PA-LLaVA's: LoRA r=128 on all seven projections of
Llama-3-8B's 32 layers (335,544,320 trainable elements, one param group), W=16 ranks, fp32 master slices plus Adam
moments as real files hold them (about 4.5 GB), and bf16 module copies. For llavapack's pth-to-hf benchmark.
Needs Debian's python3-torch (1.13); run with /usr/bin/python3. --layers N shrinks it for a quick try.
"""
import argparse, collections, os, sys, types
import torch

# DeepSpeed's classes are pickled by name; stub modules give GLOBAL opcodes the real paths without DeepSpeed.
def stub(modname, clsname, base=object):
    parts = modname.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
    cls = type(clsname, (base,), {"__module__": modname})
    setattr(sys.modules[modname], clsname, cls)
    return cls

LossScaler = stub("deepspeed.runtime.fp16.loss_scaler", "LossScaler")
FragmentAddress = stub("deepspeed.utils.tensor_fragment", "fragment_address")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--ranks", type=int, default=16)
    ap.add_argument("--rank-r", type=int, default=128)
    a = ap.parse_args()
    h, inter, kv, r, W = 4096, 14336, 1024, a.rank_r, a.ranks
    shapes = collections.OrderedDict()
    for l in range(a.layers):
        for mod, (out_f, in_f) in [("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (kv, h)), ("self_attn.v_proj", (kv, h)),
                                   ("self_attn.o_proj", (h, h)), ("mlp.gate_proj", (inter, h)), ("mlp.up_proj", (inter, h)),
                                   ("mlp.down_proj", (h, inter))]:
            p = f"llm.base_model.model.model.layers.{l}.{mod}"
            shapes[p + ".lora_A.default.weight"] = torch.Size([r, in_f])
            shapes[p + ".lora_B.default.weight"] = torch.Size([out_f, r])
    total = sum(s.numel() for s in shapes.values())
    align = 2 * W
    padded = (total + align - 1) // align * align
    part = padded // W
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    flat32 = torch.empty(padded, dtype=torch.float32)
    flat32[:total].normal_(0, 0.02, generator=g)
    flat32[total:] = 0
    flat16 = flat32.to(torch.bfloat16)
    module = collections.OrderedDict()
    off = 0
    for name, s in shapes.items():
        module[name] = flat16.narrow(0, off, s.numel()).view(s)
        off += s.numel()
    ds_config = {"zero_optimization": {"stage": 2}, "bf16": {"enabled": True}, "train_micro_batch_size_per_gpu": 1}
    torch.save({"module": module, "buffer_names": [], "optimizer": None, "param_shapes": [shapes],
                "frozen_param_shapes": None, "shared_params": {}, "frozen_param_fragments": None,
                "lr_scheduler": None, "data_sampler": None, "random_ltd": None, "sparse_tensor_module_names": set(),
                "skipped_steps": 0, "global_steps": 2000, "global_samples": 32000, "dp_world_size": W,
                "mp_world_size": 1, "ds_config": ds_config, "ds_version": "0.14.2"},
               os.path.join(a.out, "mp_rank_00_model_states.pt"))
    for rank in range(W):
        lo, hi = rank * part, (rank + 1) * part
        pad = max(0, hi - total) if rank == W - 1 else 0
        keep = part - pad
        master = flat32[lo:lo + keep].clone()
        scaler = LossScaler.__new__(LossScaler)
        scaler.__dict__.update({"cur_scale": 1.0, "dynamic": False})
        mappings = collections.OrderedDict()
        o = 0
        for name, s in shapes.items():
            n = s.numel()
            if o + n > lo and o < lo + keep:
                fa = FragmentAddress.__new__(FragmentAddress)
                start = max(o, lo)
                fa.__dict__.update({"numel": min(o + n, lo + keep) - start, "start": start - lo})
                mappings[name] = fa
            o += n
        state = {"state": {0: {"step": torch.tensor(2000.0), "exp_avg": torch.randn(keep, generator=g) * 1e-4,
                               "exp_avg_sq": torch.rand(keep, generator=g) * 1e-8}},
                 "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "params": [0]}]}
        osd = {"loss_scaler": scaler, "dynamic_loss_scale": False, "overflow": False, "clip_grad": 1.0,
               "base_optimizer_state": state, "single_partition_of_fp32_groups": [master], "zero_stage": 2,
               "group_paddings": [pad], "partition_count": [W], "ds_version": "0.14.2", "param_slice_mappings": [mappings]}
        torch.save({"optimizer_state_dict": osd, "ds_config": ds_config, "ds_version": "0.14.2"},
                   os.path.join(a.out, f"bf16_zero_pp_rank_{rank}_mp_rank_00_optim_states.pt"))
    print(f"{a.out}: {len(shapes)} LoRA tensors, {total:,} elements, {W} ranks")


if __name__ == "__main__":
    main()
