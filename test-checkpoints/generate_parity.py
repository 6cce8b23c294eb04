#!/usr/bin/python3
"""Extra PyTorch references for llavapack's parity forward passes (issue 5).

Regenerate from the repository root with

    /usr/bin/python3 test-checkpoints/generate_parity.py

Needs Debian's python3-torch only. Reuses generate_llama.py's safetensors writer/reader and its reference Llama
forward. Writes (and rewrites only):

- `tiny-mlp-projector/`: an XTuner `ProjectorModel` folder (LLaVA's mlp2x_gelu: Linear 32→64, GELU, Linear 64→64, with
  biases), `config.json` as XTuner's ProjectorConfig saves it (`model_type "projector"`), `model.safetensors` F32.
- `expected/parity-extra.safetensors`:
  - `mlp.input` [2,16,32] (batch of two, seeded N(0,1)) and `mlp.output` [2,16,64] = fc2(gelu(fc1(x))), fp32;
  - `rope_llama3.input_ids` [1,48] and `rope_llama3.logits` [1,48,512]: tiny-llama with Llama-3.1 `rope_scaling`
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64}. With head_dim 16 and theta 500000 the wavelengths 2π/inv_freq are
    6.3, 33, 172, 900, … so one frequency is kept, one is blended and six are divided by 8 — all three branches of
    transformers' `_compute_llama3_parameters`, which is re-implemented below line by line.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_llama as g  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))


def llama3_inv_freq(factor, low, high, old_ctx):
    inv_freq = 1.0 / (g.ROPE_THETA ** (torch.arange(0, g.HEAD_DIM, 2, dtype=torch.int64).float() / g.HEAD_DIM))
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def main():
    torch.manual_seed(505)
    torch.set_num_threads(1)
    out = {}
    # MLP projector (XTuner ProjectorModel, depth 2).
    p = {
        "model.0.weight": torch.randn(64, 32) * 0.15, "model.0.bias": torch.randn(64) * 0.05,
        "model.2.weight": torch.randn(64, 64) * 0.15, "model.2.bias": torch.randn(64) * 0.05,
    }
    d = os.path.join(ROOT, "tiny-mlp-projector")
    os.makedirs(d, exist_ok=True)
    g.write_safetensors(os.path.join(d, "model.safetensors"), p)
    g.write_json(os.path.join(d, "config.json"), {
        "architectures": ["ProjectorModel"], "auto_map": {"AutoConfig": "configuration_projector.ProjectorConfig",
                                                          "AutoModel": "modeling_projector.ProjectorModel"},
        "bias": True, "depth": 2, "hidden_act": "gelu", "llm_hidden_size": 64, "model_type": "projector",
        "torch_dtype": "float32", "transformers_version": "4.40.0", "visual_hidden_size": 32})
    x = torch.randn(2, 16, 32)
    h = torch.nn.functional.gelu(x @ p["model.0.weight"].t() + p["model.0.bias"])
    out["mlp.input"] = x
    out["mlp.output"] = h @ p["model.2.weight"].t() + p["model.2.bias"]

    # Llama-3.1 rope scaling on tiny-llama.
    w = {}
    for f in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]:
        w.update({k: v.float() for k, v in g.read_safetensors(os.path.join(ROOT, "tiny-llama", f)).items()})
    inv = llama3_inv_freq(8.0, 1.0, 4.0, 64)

    def cos_sin(seq):
        pos = torch.arange(seq, dtype=torch.float32)
        freqs = pos[:, None] * inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    g.rope_cos_sin = cos_sin
    ids = torch.randint(0, 500, (1, 48), generator=torch.Generator().manual_seed(77))
    ids[0, 0] = 500
    logits, _ = g.llama_forward(w, ids)
    out["rope_llama3.input_ids"] = ids
    out["rope_llama3.logits"] = logits
    out["rope_llama3.inv_freq"] = inv
    g.write_safetensors(os.path.join(ROOT, "expected", "parity-extra.safetensors"), out)
    back = g.read_safetensors(os.path.join(ROOT, "expected", "parity-extra.safetensors"))
    assert all(torch.equal(back[k], out[k]) for k in out)
    print(json.dumps({k: list(v.shape) for k, v in out.items()}))


if __name__ == "__main__":
    main()
