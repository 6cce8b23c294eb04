#!/usr/bin/env python3
"""The peer for llavapack's pth-to-hf benchmark: DeepSpeed's zero_to_fp32 algorithm for ZeRO-2 in plain PyTorch
(torch.load every rank file, concatenate the fp32 slices in numeric rank order, cut by param_shapes, round to bf16),
then write the adapter as safetensors. Run with /usr/bin/python3 (Debian torch 1.13)."""
import collections, json, os, re, struct, sys, types
import torch

# The optimizer files pickle DeepSpeed objects; a real peer has DeepSpeed installed, here stubs stand in for it.
for modname, clsname in [("deepspeed.runtime.fp16.loss_scaler", "LossScaler"), ("deepspeed.utils.tensor_fragment", "fragment_address")]:
    parts = modname.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    setattr(sys.modules[modname], clsname, type(clsname, (object,), {"__module__": modname}))

src, out = sys.argv[1], sys.argv[2]
ms = torch.load(os.path.join(src, "mp_rank_00_model_states.pt"), map_location="cpu")
files = sorted((f for f in os.listdir(src) if f.endswith("_optim_states.pt")),
               key=lambda f: int(re.search(r"zero_pp_rank_(\d+)_", f).group(1)))
slices = [torch.load(os.path.join(src, f), map_location="cpu")["optimizer_state_dict"]["single_partition_of_fp32_groups"]
          for f in files]
state = collections.OrderedDict()
for g, shapes in enumerate(ms["param_shapes"]):
    full = torch.cat([s[g] for s in slices])
    off = 0
    for name, shape in shapes.items():
        n = shape.numel()
        key = name[len("llm."):].replace(".default", "")
        state[key] = full[off:off + n].view(shape).to(torch.bfloat16)
        off += n
os.makedirs(out, exist_ok=True)
header, off = {"__metadata__": {"format": "pt"}}, 0
names = sorted(state)
for k in names:
    n = state[k].numel() * 2
    header[k] = {"dtype": "BF16", "shape": list(state[k].shape), "data_offsets": [off, off + n]}
    off += n
js = json.dumps(header, separators=(",", ":")).encode()
js += b" " * ((8 - len(js) % 8) % 8)
with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(js)) + js)
    for k in names:
        f.write(state[k].contiguous().view(torch.int16).numpy().tobytes())
