#!/usr/bin/python3
"""Generate the tiny Llama-3 test model, its PEFT LoRA adapters and PyTorch merge/forward references.

Run from the repository root:

    /usr/bin/python3 test-checkpoints/generate_llama.py

Needs only Debian's python3-torch (torch 1.13) and numpy; no safetensors/transformers/peft packages.
Output is deterministic: fixed seeds, single-threaded torch, no timestamps. See test-checkpoints/README.md,
section "Tiny Llama-3 model, LoRA adapters and merge references".
"""
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
from collections import Counter

import numpy as np
import torch

assert sys.byteorder == "little", "writer assumes a little-endian host"
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------------------------
# safetensors writer / reader (byte-identical to safetensors.torch.save_file for these dtypes)
# ----------------------------------------------------------------------------------------------

# safetensors/src/tensor.rs `enum Dtype` declaration order; save_file sorts by (dtype desc, name asc).
ST_DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                  "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
ST_RANK = {d: i for i, d in enumerate(ST_DTYPE_ORDER)}
TORCH_TO_ST = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64",
               torch.int32: "I32", torch.float64: "F64", torch.uint8: "U8", torch.int8: "I8", torch.bool: "BOOL",
               torch.int16: "I16"}
ST_TO_NP = {"F32": "<f4", "F16": "<f2", "BF16": "<i2", "I64": "<i8", "I32": "<i4", "F64": "<f8",
            "U8": "u1", "I8": "i1", "BOOL": "?", "I16": "<i2"}
ST_TO_TORCH = {v: k for k, v in TORCH_TO_ST.items()}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def safetensors_bytes(tensors):
    items = sorted(tensors.items(), key=lambda kv: (-ST_RANK[TORCH_TO_ST[kv[1].dtype]], kv[0]))
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("ascii")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write_safetensors(path, tensors):
    data = safetensors_bytes(tensors)
    with open(path, "wb") as f:
        f.write(data)
    # round trip + structural checks
    back = read_safetensors(path)
    assert list(back.keys()) == sorted(back.keys(), key=lambda k: (-ST_RANK[TORCH_TO_ST[back[k].dtype]], k))
    assert set(back) == set(tensors), path
    for k, t in tensors.items():
        u = back[k]
        assert u.dtype == t.dtype and tuple(u.shape) == tuple(t.shape), (path, k)
        assert tensor_bytes(u) == tensor_bytes(t), (path, k)
    return len(data)


def read_safetensors(path):
    """Minimal independent reader; returns {name: tensor} in file order and checks the layout rules."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "header not padded to 8"
    htxt = raw[8:8 + n].decode("ascii")
    assert htxt.startswith('{"__metadata__":{"format":"pt"}'), "metadata must come first"
    header = json.loads(htxt)
    header.pop("__metadata__")
    data = raw[8 + n:]
    out = {}
    pos = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == pos, "gap or overlap in data"
        pos = e
        arr = np.frombuffer(data[b:e], dtype=ST_TO_NP[info["dtype"]]).copy()
        t = torch.from_numpy(arr)
        if info["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t.reshape(info["shape"])
    assert pos == len(data), "trailing bytes"
    return out


def write_json(path, obj, sort_keys=True):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


def bf16(t):
    return t.to(torch.bfloat16)  # round-to-nearest-even


# ----------------------------------------------------------------------------------------------
# Model configuration
# ----------------------------------------------------------------------------------------------

HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 64, 160, 2, 4, 2, 16, 512
ROPE_THETA, EPS = 500000.0, 1e-5
N_ORDINARY = 500           # ids 0..499: 256 byte symbols + 244 BPE merges
SPECIALS = [  # same offsets as Llama-3 (128000 + k  <->  500 + k)
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|reserved_special_token_4|>", "<|eot_id|>", "<|reserved_special_token_5|>", "<|reserved_special_token_6|>",
]
SPECIAL_ID = {s: N_ORDINARY + i for i, s in enumerate(SPECIALS)}
BOS, EOT, EOS_TEXT = SPECIAL_ID["<|begin_of_text|>"], SPECIAL_ID["<|eot_id|>"], SPECIAL_ID["<|end_of_text|>"]
assert N_ORDINARY + len(SPECIALS) == VOCAB

BASE_SEED = 194  # chosen so that every greedy step has a top-1/top-2 margin well above 0.05
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROJ_SHAPE = {"q_proj": (HEADS * HEAD_DIM, HIDDEN), "k_proj": (KV_HEADS * HEAD_DIM, HIDDEN),
              "v_proj": (KV_HEADS * HEAD_DIM, HIDDEN), "o_proj": (HIDDEN, HEADS * HEAD_DIM),
              "gate_proj": (INTER, HIDDEN), "up_proj": (INTER, HIDDEN), "down_proj": (HIDDEN, INTER)}


def proj_module(i, p):
    """Module path inside LlamaForCausalLM (what PEFT's rank_pattern/alpha_pattern match against)."""
    return f"model.layers.{i}.{'mlp' if p in ('gate_proj', 'up_proj', 'down_proj') else 'self_attn'}.{p}"


def llama_state_dict_order():
    names = ["model.embed_tokens.weight"]
    for i in range(LAYERS):
        names += [proj_module(i, p) + ".weight" for p in PROJ]
        names += [f"model.layers.{i}.input_layernorm.weight", f"model.layers.{i}.post_attention_layernorm.weight"]
    return names + ["model.norm.weight", "lm_head.weight"]


def make_base(seed):
    g = torch.Generator().manual_seed(seed)

    def rn(shape, std):
        return torch.randn(*shape, generator=g) * std

    sd = {"model.embed_tokens.weight": rn((VOCAB, HIDDEN), 0.5)}
    for i in range(LAYERS):
        for p in PROJ:
            sd[proj_module(i, p) + ".weight"] = rn(PROJ_SHAPE[p], 0.1 if p != "down_proj" else 0.08)
        sd[f"model.layers.{i}.input_layernorm.weight"] = 1.0 + rn((HIDDEN,), 0.1)
        sd[f"model.layers.{i}.post_attention_layernorm.weight"] = 1.0 + rn((HIDDEN,), 0.1)
    sd["model.norm.weight"] = 1.0 + rn((HIDDEN,), 0.1)
    sd["lm_head.weight"] = rn((VOCAB, HIDDEN), 0.6)
    return {k: bf16(sd[k]) for k in llama_state_dict_order()}


# ----------------------------------------------------------------------------------------------
# Plain-PyTorch Llama forward (HF LlamaForCausalLM semantics, fp32 compute)
# ----------------------------------------------------------------------------------------------

def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(seq):
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.int64).float() / HEAD_DIM))
    pos = torch.arange(seq, dtype=torch.float32)
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def llama_forward(w, input_ids, lora=None):
    """w: name -> fp32 tensor. lora: module path -> (A fp32 [r,in], B fp32 [out,r], scale) applied unmerged.
    Returns (logits [1,S,V], final hidden after model.norm [1,S,H])."""
    def lin(x, mod):
        y = x @ w[mod + ".weight"].t()
        if lora is not None and mod in lora:
            A, B, s = lora[mod]
            y = y + ((x @ A.t()) @ B.t()) * s
        return y

    S = input_ids.shape[1]
    x = w["model.embed_tokens.weight"][input_ids[0]][None]  # [1,S,H]
    cos, sin = rope_cos_sin(S)
    mask = torch.full((S, S), float("-inf")).triu(1)
    for i in range(LAYERS):
        a = f"model.layers.{i}.self_attn."
        h = rms_norm(x, w[f"model.layers.{i}.input_layernorm.weight"])
        q = lin(h, a + "q_proj").view(1, S, HEADS, HEAD_DIM).transpose(1, 2)
        k = lin(h, a + "k_proj").view(1, S, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = lin(h, a + "v_proj").view(1, S, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)  # == HF repeat_kv
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HEAD_DIM) + mask
        att = torch.softmax(att, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(1, S, HEADS * HEAD_DIM)
        x = x + lin(o, a + "o_proj")
        m = f"model.layers.{i}.mlp."
        h = rms_norm(x, w[f"model.layers.{i}.post_attention_layernorm.weight"])
        x = x + lin(torch.nn.functional.silu(lin(h, m + "gate_proj")) * lin(h, m + "up_proj"), m + "down_proj")
    hidden = rms_norm(x, w["model.norm.weight"])
    logits = hidden @ w["lm_head.weight"].t()
    return logits, hidden


def top_margin(row):
    top = torch.topk(row, 2).values
    return float(top[0] - top[1])


def greedy(w, ids, steps):
    seq = ids.clone()
    toks, margins = [], []
    for _ in range(steps):
        logits, _ = llama_forward(w, seq)
        last = logits[0, -1]
        t = int(torch.argmax(last))
        toks.append(t)
        margins.append(top_margin(last))
        seq = torch.cat([seq, torch.tensor([[t]], dtype=torch.int64)], dim=1)
    return toks, margins


# ----------------------------------------------------------------------------------------------
# Byte-level BPE tokenizer (Llama-3 style tokenizer.json)
# ----------------------------------------------------------------------------------------------

CORPUS = """\
The slide shows a well differentiated adenocarcinoma of the colon with glandular architecture.
The tumor cells show nuclear pleomorphism, prominent nucleoli and frequent mitotic figures.
There is no evidence of lymphovascular invasion. The surgical margins are free of tumor.
The lymph nodes show reactive follicular hyperplasia without metastatic carcinoma.
This image shows invasive ductal carcinoma of the breast, grade 2, with tubule formation in the stroma.
The stroma is desmoplastic and contains scattered lymphocytes and plasma cells.
The epithelium shows squamous metaplasia and mild dysplasia; no invasive carcinoma is identified.
Hematoxylin and eosin stain shows necrosis in the center of the tumor and hemorrhage at the edge.
The biopsy of the liver shows macrovesicular steatosis and portal inflammation with mild fibrosis.
The kidney biopsy shows glomeruli with mesangial expansion and thickened capillary walls.
Immunohistochemistry: the tumor cells are positive for cytokeratin and negative for vimentin.
What does this image show? The image shows a benign nevus with nests of melanocytes in the dermis.
What is the diagnosis? The diagnosis is papillary thyroid carcinoma with nuclear grooves.
Describe the tissue. The tissue shows normal gastric mucosa with chronic inflammation.
The cells are arranged in sheets and cords, and the nuclei are round to oval with fine chromatin.
The pathologist reports the findings, the margins, the grade and the stage of the tumor.
In this section the glands are crowded and the cells show loss of polarity and atypia.
The specimen measures 3.5 cm and the tumor is 12 mm from the closest margin.
Patient 1 of 20: the sample shows 40% tumor cells, 30% stroma and 10% necrosis.
"""

# Llama-3 pre-tokenizer regex (as written into tokenizer.json) and an ASCII-only equivalent for Python `re`
# (\p{L} -> [A-Za-z], \p{N} -> [0-9]); the corpus and the test strings are ASCII, where both agree.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
ASCII_SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}"
                         r"| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs])), bs


BYTE2U, BYTE_ORDER = bytes_to_unicode()


def pretokenize(text):
    pieces = ASCII_SPLIT.findall(text)
    assert "".join(pieces) == text
    return ["".join(BYTE2U[b] for b in p.encode("utf-8")) for p in pieces]


def train_bpe(text, n_merges):
    words = Counter(tuple(p) for p in pretokenize(text))
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for wd, c in words.items():
            for a, b in zip(wd, wd[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        nw = Counter()
        for wd, c in words.items():
            out, i = [], 0
            while i < len(wd):
                if i + 1 < len(wd) and (wd[i], wd[i + 1]) == best:
                    out.append(wd[i] + wd[i + 1])
                    i += 2
                else:
                    out.append(wd[i])
                    i += 1
            nw[tuple(out)] += c
        words = nw
    return merges


def build_tokenizer():
    merges = train_bpe(CORPUS, N_ORDINARY - 256)
    assert len(merges) == N_ORDINARY - 256, len(merges)
    vocab = {}
    for b in BYTE_ORDER:
        vocab[BYTE2U[b]] = len(vocab)
    for a, b in merges:
        assert a + b not in vocab
        vocab[a + b] = len(vocab)
    assert len(vocab) == N_ORDINARY
    return vocab, merges


def bpe_encode_word(word, vocab, ranks):
    if word in vocab:  # ignore_merges = true
        return [vocab[word]]
    parts = list(word)
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get((parts[i], parts[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        pair = (parts[best[1]], parts[best[1] + 1])
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                out.append(parts[i] + parts[i + 1])
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return [vocab[p] for p in parts]


def encode(text, vocab, merges):
    """encode(text, add_special_tokens=False) as HF tokenizers would do it for ASCII text."""
    ranks = {m: i for i, m in enumerate(merges)}
    ids = []
    split = re.split("(" + "|".join(re.escape(s) for s in SPECIALS) + ")", text)
    for chunk in split:
        if chunk in SPECIAL_ID:
            ids.append(SPECIAL_ID[chunk])
        elif chunk:
            for w in pretokenize(chunk):
                ids += bpe_encode_word(w, vocab, ranks)
    return ids


def decode(ids, vocab):
    inv = {v: k for k, v in vocab.items()}
    u2b = {u: b for b, u in BYTE2U.items()}
    out = b""
    for i in ids:
        if i in inv:
            out += bytes(u2b[c] for c in inv[i])
        else:
            out += SPECIALS[i - N_ORDINARY].encode()
    return out.decode("utf-8", errors="replace")


CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def added_token(content, id_=None):
    d = {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
         "special": True}
    if id_ is not None:
        d = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
    return d


def write_tokenizer(out, vocab, merges):
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(s, SPECIAL_ID[s]) for s in SPECIALS],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [BOS],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tok, indent=2, ensure_ascii=False) + "\n")
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "added_tokens_decoder": {str(SPECIAL_ID[s]): added_token(s) for s in SPECIALS},
        "bos_token": "<|begin_of_text|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 256,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })
    stm = {k: {kk: vv for kk, vv in added_token(v).items() if kk != "special"}
           for k, v in (("bos_token", "<|begin_of_text|>"), ("eos_token", "<|eot_id|>"))}
    write_json(os.path.join(out, "special_tokens_map.json"), stm)


# ----------------------------------------------------------------------------------------------
# PEFT adapters
# ----------------------------------------------------------------------------------------------

def adapter_config(base, r, alpha, targets, **over):
    cfg = {  # peft 0.11.x key set (spec section 6.1)
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": alpha,
        "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None, "target_modules": targets,
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    for k in over:
        assert k in cfg, k
    cfg.update(over)
    return cfg


def pattern_key(patterns, key):
    """peft 0.11/0.12 LoraModel._create_and_replace: first key p (rank keys, then alpha keys) with
    re.match(rf'.*\\.{p}$', key); that same p is then looked up in both dicts."""
    return next(filter(lambda p: re.match(rf".*\.{p}$", key), patterns), key)


def module_r_alpha(cfg, mod):
    pk = pattern_key(list(cfg["rank_pattern"].keys()) + list(cfg["alpha_pattern"].keys()), mod)
    # newer peft (get_pattern_key per dict, regex (.*\.)?(p)$) must agree for the fixtures we write
    def new(patterns, default):
        for p in patterns:
            if re.match(rf"(.*\.)?({p})$", mod):
                return patterns[p]
        return default
    r = cfg["rank_pattern"].get(pk, cfg["r"])
    alpha = cfg["alpha_pattern"].get(pk, cfg["lora_alpha"])
    assert (r, alpha) == (new(cfg["rank_pattern"], cfg["r"]), new(cfg["alpha_pattern"], cfg["lora_alpha"])), mod
    return r, alpha


def scale_of(cfg, r, alpha):
    return alpha / math.sqrt(r) if cfg["use_rslora"] else alpha / r


def make_lora(seed, cfg, modules, shape_of):
    """Random (non-zero) A, B in fp32 for each module. Returns {module: (A, B, r, alpha)}."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for mod in modules:
        o, i = shape_of(mod)
        r, alpha = module_r_alpha(cfg, mod)
        bound = 1.0 / math.sqrt(i)  # kaiming_uniform(a=sqrt(5)) bound, as PEFT initialises lora_A
        A = (torch.rand(r, i, generator=g) * 2 - 1) * bound
        B = torch.randn(o, r, generator=g) * 0.02
        out[mod] = (A, B, r, alpha)
    return out


def delta(cfg, A, B, r, alpha):
    d = (B.float() @ A.float()) * scale_of(cfg, r, alpha)
    return d.t() if cfg["fan_in_fan_out"] else d


# ----------------------------------------------------------------------------------------------
# Tiny GPT-2 (Conv1D, fan_in_fan_out) base
# ----------------------------------------------------------------------------------------------

G_EMBD, G_LAYERS, G_VOCAB, G_POS = 32, 2, 256, 64


def make_gpt2(seed):
    g = torch.Generator().manual_seed(seed)

    def rn(shape, std):
        return torch.randn(*shape, generator=g) * std

    sd = {"transformer.wte.weight": rn((G_VOCAB, G_EMBD), 0.1), "transformer.wpe.weight": rn((G_POS, G_EMBD), 0.02)}
    for i in range(G_LAYERS):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = 1.0 + rn((G_EMBD,), 0.1)
        sd[p + "ln_1.bias"] = rn((G_EMBD,), 0.02)
        sd[p + "attn.c_attn.weight"] = rn((G_EMBD, 3 * G_EMBD), 0.1)  # Conv1D: [in, out]
        sd[p + "attn.c_attn.bias"] = rn((3 * G_EMBD,), 0.02)
        sd[p + "attn.c_proj.weight"] = rn((G_EMBD, G_EMBD), 0.1)
        sd[p + "attn.c_proj.bias"] = rn((G_EMBD,), 0.02)
        sd[p + "ln_2.weight"] = 1.0 + rn((G_EMBD,), 0.1)
        sd[p + "ln_2.bias"] = rn((G_EMBD,), 0.02)
        sd[p + "mlp.c_fc.weight"] = rn((G_EMBD, 4 * G_EMBD), 0.1)
        sd[p + "mlp.c_fc.bias"] = rn((4 * G_EMBD,), 0.02)
        sd[p + "mlp.c_proj.weight"] = rn((4 * G_EMBD, G_EMBD), 0.1)
        sd[p + "mlp.c_proj.bias"] = rn((G_EMBD,), 0.02)
    sd["transformer.ln_f.weight"] = 1.0 + rn((G_EMBD,), 0.1)
    sd["transformer.ln_f.bias"] = rn((G_EMBD,), 0.02)
    return sd  # F32 like the real gpt2; lm_head tied to wte, so not saved (as save_pretrained does)


GPT2_CONFIG = {
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 255, "embd_pdrop": 0.1, "eos_token_id": 255, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": G_POS, "n_embd": G_EMBD, "n_head": 2,
    "n_inner": None, "n_layer": G_LAYERS, "n_positions": G_POS, "reorder_and_upcast_attn": False,
    "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
    "tie_word_embeddings": True, "torch_dtype": "float32", "transformers_version": "4.44.0", "use_cache": True,
    "vocab_size": G_VOCAB,
}

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": BOS, "eos_token_id": EOT, "head_dim": HEAD_DIM, "hidden_act": "silu", "hidden_size": HIDDEN,
    "initializer_range": 0.02, "intermediate_size": INTER, "max_position_embeddings": 256, "mlp_bias": False,
    "model_type": "llama", "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
    "num_key_value_heads": KV_HEADS, "pretraining_tp": 1, "rms_norm_eps": EPS, "rope_scaling": None,
    "rope_theta": ROPE_THETA, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.44.0", "use_cache": True, "vocab_size": VOCAB,
}

GENERATION_CONFIG = {"bos_token_id": BOS, "do_sample": True, "eos_token_id": [EOS_TEXT, EOT], "max_length": 256,
                     "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.44.0"}

PROMPT = "The tumor cells show nuclear pleomorphism and"
SHARD_LIMIT = 200_000  # bytes (decimal, like max_shard_size="200KB"): splits the model inside layer 1
GREEDY_STEPS = 16


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def save_sharded(out, sd):
    shards, cur, size = [], {}, 0
    for k, t in sd.items():  # greedy in state-dict order (huggingface_hub split_torch_state_dict_into_shards)
        n = t.numel() * t.element_size()
        if cur and size + n > SHARD_LIMIT:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = t
        size += n
    shards.append(cur)
    assert len(shards) == 2, [len(s) for s in shards]
    weight_map = {}
    for i, sh in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(out, fn), sh)
        weight_map.update({k: fn for k in sh})
    total = sum(t.numel() * t.element_size() for t in sd.values())
    write_json(os.path.join(out, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map})
    return shards


def main():
    exp = os.path.join(ROOT, "expected")
    os.makedirs(exp, exist_ok=True)
    report = {}

    # ---------------- base model ----------------
    base = make_base(BASE_SEED)
    out = fresh_dir(os.path.join(ROOT, "tiny-llama"))
    write_json(os.path.join(out, "config.json"), LLAMA_CONFIG)
    write_json(os.path.join(out, "generation_config.json"), GENERATION_CONFIG)
    shards = save_sharded(out, base)
    report["shard_keys"] = [list(s) for s in shards]
    vocab, merges = build_tokenizer()
    write_tokenizer(out, vocab, merges)

    # tokenizer reference cases (our Python BPE, mirrors HF tokenizers for ASCII input)
    cases = []
    for text in [PROMPT, "Hello world!", "The diagnosis is 1234 mm, isn't it?\n\nYes.",
                 "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat does this image show?"
                 "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"]:
        ids = encode(text, vocab, merges)
        assert decode(ids, vocab) == text
        cases.append({"text": text, "ids": ids})
    write_json(os.path.join(exp, "tokenizer-cases.json"), {"add_special_tokens": False, "cases": cases},
               sort_keys=False)

    # ---------------- reference forward ----------------
    w32 = {k: v.float() for k, v in base.items()}
    input_ids = torch.tensor([[BOS] + encode(PROMPT, vocab, merges)], dtype=torch.int64)
    assert input_ids.shape[1] >= 10 and int(input_ids[0, 1:].max()) < N_ORDINARY
    logits, hidden = llama_forward(w32, input_ids)
    toks, margins = greedy(w32, input_ids, GREEDY_STEPS)
    assert min(margins) > 0.05, margins
    assert min(top_margin(logits[0, s]) for s in range(input_ids.shape[1])) > 0.05
    write_safetensors(os.path.join(exp, "llama-logits.safetensors"), {
        "input_ids": input_ids, "logits": logits.contiguous(), "hidden_states": hidden.contiguous(),
        "greedy": torch.tensor([toks], dtype=torch.int64),
        "greedy_margins": torch.tensor(margins, dtype=torch.float32)})
    report.update(input_ids=input_ids[0].tolist(), greedy=toks, greedy_margins=[round(m, 4) for m in margins],
                  prompt_margins=[round(top_margin(logits[0, s]), 4) for s in range(input_ids.shape[1])],
                  greedy_text=decode(toks, vocab))

    def llama_shape(mod):
        return PROJ_SHAPE[mod.rsplit(".", 1)[1]]

    modules = [proj_module(i, p) for i in range(LAYERS) for p in PROJ]

    def save_adapter(name, cfg, lora, extra=None, adapter_dtype=torch.float32):
        d = fresh_dir(os.path.join(ROOT, name))
        write_json(os.path.join(d, "adapter_config.json"), cfg)
        t = {}
        for mod, (A, B, r, alpha) in lora.items():
            t[f"base_model.model.{mod}.lora_A.weight"] = A.to(adapter_dtype)
            t[f"base_model.model.{mod}.lora_B.weight"] = B.to(adapter_dtype)
        t.update(extra or {})
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), t)
        return t

    def merged_lora(cfg, lora, base_sd, dora_m=None):
        res32 = {}
        for mod, (A, B, r, alpha) in lora.items():
            W = base_sd[mod + ".weight"].float()
            V = W + delta(cfg, A, B, r, alpha)
            if dora_m is not None:
                n = torch.linalg.norm(V, dim=1)  # per output row, over the input dim
                V = (dora_m[mod] / n)[:, None] * V
            res32[mod + ".weight"] = V
        return res32

    def to_target(res32, base_sd):
        return {k: v.to(base_sd[k].dtype) for k, v in res32.items()}

    def f64_disagreement(cfg, lora, base_sd, res):
        """How many elements of the torch-fp32 reference differ from an fp64-accumulated merge (informative)."""
        n = tot = 0
        for mod, (A, B, r, alpha) in lora.items():
            d = (B.double() @ A.double()) * scale_of(cfg, r, alpha)
            d = d.t() if cfg["fan_in_fan_out"] else d
            W = (base_sd[mod + ".weight"].double() + d).float().to(base_sd[mod + ".weight"].dtype)
            n += int((W != res[mod + ".weight"]).sum())
            tot += W.numel()
        return n, tot

    targets = list(PROJ)
    variants = {}

    # main adapter
    cfg = adapter_config("tiny-llama", 8, 16, targets)
    lora = make_lora(101, cfg, modules, llama_shape)
    save_adapter("tiny-llama-lora", cfg, lora)
    r32 = merged_lora(cfg, lora, base)
    write_safetensors(os.path.join(exp, "merged-lora.safetensors"), to_target(r32, base))
    write_safetensors(os.path.join(exp, "merged-lora-f32.safetensors"), r32)
    variants["lora"] = (cfg, lora, to_target(r32, base))
    lora_rt = {mod: (A, B, scale_of(cfg, r, alpha)) for mod, (A, B, r, alpha) in lora.items()}
    l_logits, l_hidden = llama_forward(w32, input_ids, lora=lora_rt)
    # the same forward with the bf16 merged weights of expected/merged-lora.safetensors (widened to fp32)
    wm = dict(w32)
    wm.update({k: v.float() for k, v in to_target(r32, base).items()})
    m_logits, m_hidden = llama_forward(wm, input_ids)
    write_safetensors(os.path.join(exp, "llama-lora-logits.safetensors"), {
        "input_ids": input_ids, "logits": l_logits.contiguous(), "hidden_states": l_hidden.contiguous(),
        "merged_bf16_logits": m_logits.contiguous(), "merged_bf16_hidden_states": m_hidden.contiguous()})
    report["lora_logit_change_maxabs"] = float((l_logits - logits).abs().max())
    report["merged_bf16_vs_unmerged_logits_maxabs"] = float((m_logits - l_logits).abs().max())

    # rsLoRA
    cfg = adapter_config("tiny-llama", 8, 16, targets, use_rslora=True)
    lora = make_lora(102, cfg, modules, llama_shape)
    save_adapter("tiny-llama-lora-rslora", cfg, lora)
    variants["lora-rslora"] = (cfg, lora, to_target(merged_lora(cfg, lora, base), base))

    # rank_pattern / alpha_pattern
    cfg = adapter_config("tiny-llama", 8, 16, targets,
                         rank_pattern={"layers.1.mlp.down_proj": 4, "k_proj": 2, "p_proj": 3},
                         alpha_pattern={"layers.1.mlp.down_proj": 4, "v_proj": 32})
    lora = make_lora(103, cfg, modules, llama_shape)
    save_adapter("tiny-llama-lora-patterns", cfg, lora)
    variants["lora-patterns"] = (cfg, lora, to_target(merged_lora(cfg, lora, base), base))
    report["pattern_r_alpha_scale"] = {m: (lora[m][2], lora[m][3], scale_of(cfg, lora[m][2], lora[m][3]))
                                       for m in modules}

    # DoRA
    cfg = adapter_config("tiny-llama", 8, 16, targets, use_dora=True)
    lora = make_lora(104, cfg, modules, llama_shape)
    g = torch.Generator().manual_seed(204)
    mags = {}
    for mod, (A, B, r, alpha) in lora.items():
        V = base[mod + ".weight"].float() + delta(cfg, A, B, r, alpha)
        mags[mod] = torch.linalg.norm(V, dim=1) * (1.0 + 0.1 * torch.randn(V.shape[0], generator=g))
    save_adapter("tiny-llama-lora-dora", cfg, lora,
                 extra={f"base_model.model.{m}.lora_magnitude_vector": v for m, v in mags.items()})
    variants["lora-dora"] = (cfg, lora, to_target(merged_lora(cfg, lora, base, dora_m=mags), base))

    # modules_to_save = ["lm_head"]
    cfg = adapter_config("tiny-llama", 8, 16, targets, modules_to_save=["lm_head"])
    lora = make_lora(105, cfg, modules, llama_shape)
    g = torch.Generator().manual_seed(205)
    lm_copy = bf16(base["lm_head.weight"].float() + torch.randn(VOCAB, HIDDEN, generator=g) * 0.05)
    save_adapter("tiny-llama-lora-modules-to-save", cfg, lora, extra={"base_model.model.lm_head.weight": lm_copy})
    m = to_target(merged_lora(cfg, lora, base), base)
    m["lm_head.weight"] = lm_copy
    variants["lora-modules-to-save"] = (cfg, lora, m)

    # 16-bit adapter (XTuner-converted adapters are saved in the training dtype)
    cfg = adapter_config("tiny-llama", 8, 16, targets)
    lora = make_lora(106, cfg, modules, llama_shape)
    lora = {k: (bf16(A), bf16(B), r, a) for k, (A, B, r, a) in lora.items()}
    save_adapter("tiny-llama-lora-bf16", cfg, lora, adapter_dtype=torch.bfloat16)
    variants["lora-bf16"] = (cfg, lora, to_target(merged_lora(cfg, lora, base), base))

    # Conv1D / fan_in_fan_out
    gpt2 = make_gpt2(301)
    d = fresh_dir(os.path.join(ROOT, "tiny-conv1d-base"))
    write_json(os.path.join(d, "config.json"), GPT2_CONFIG)
    write_safetensors(os.path.join(d, "model.safetensors"), gpt2)
    cfg = adapter_config("tiny-conv1d-base", 4, 12, ["c_attn"], fan_in_fan_out=True)
    gmods = [f"transformer.h.{i}.attn.c_attn" for i in range(G_LAYERS)]
    lora = make_lora(302, cfg, gmods, lambda mod: (3 * G_EMBD, G_EMBD))  # (out, in) of the Linear it stands for
    save_adapter("tiny-conv1d-lora", cfg, lora)
    variants["conv1d-lora"] = (cfg, lora, to_target(merged_lora(cfg, lora, gpt2), gpt2))

    report["f64_vs_f32_merge_mismatches"] = {}
    for name, (cfg, lora, res) in variants.items():
        write_safetensors(os.path.join(exp, f"merged-{name}.safetensors"), res)
        b = gpt2 if name.startswith("conv1d") else base
        if name != "lora-dora":
            report["f64_vs_f32_merge_mismatches"][name] = f64_disagreement(cfg, lora, b, res)
        changed = sum(int((res[k] != b[k]).sum()) for k in res)
        report.setdefault("changed_elements", {})[name] = (changed, sum(res[k].numel() for k in res))

    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
