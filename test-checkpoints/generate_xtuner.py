#!/usr/bin/python3
"""Generate XTuner/DeepSpeed training checkpoints of a tiny PA-LLaVA (test fixtures for llavapack).

Run from the repository root:

    /usr/bin/python3 test-checkpoints/generate_xtuner.py            # generate + verify
    /usr/bin/python3 test-checkpoints/generate_xtuner.py --verify-only

Needs only Debian's PyTorch (apt-get install -y python3-torch; torch 1.13 + numpy). DeepSpeed, mmengine, XTuner,
transformers and safetensors are NOT used: their objects are emulated by stub classes registered in sys.modules under
the real module paths, so the pickles name exactly the GLOBALs that real files name.

Everything this script writes lives under test-checkpoints/:
  tiny-plip/                               tiny PLIP/CLIP vision tower (HF folder)
  xtuner-zero2-bf16/iter_8.pth/            ZeRO-2, bf16, W=11 ranks, 3 param groups
  xtuner-zero2-fp16/iter_8.pth/            ZeRO-2, fp16, W=11 ranks, one group per parameter (64 groups)
  xtuner-zero2-bf16-xattn/iter_8.pth/      ZeRO-2, bf16, W=4, 2 groups, Q-Former WITH crossattention
  xtuner-zero3-bf16/iter_8.pth/            ZeRO-3, bf16, W=3, 2 groups (= 2 sub-groups)
  xtuner-single.pth                        mmengine single-file checkpoint (zip, prefix 'archive')
  xtuner-legacy.pth                        same dict, legacy (non-zip) torch stream
  xtuner-workdir/                          work dir: last_checkpoint, config, iter_4.pth/, iter_8.pth/ (ZeRO-2 W=2 G=1)
  expected/xtuner-*.safetensors            expected tensors
  expected/pallava-vision-connector.safetensors   vision + connector reference activations
The script deletes and rewrites only these paths.
"""
import argparse
import dataclasses
import enum
import io
import json
import math
import os
import re
import shutil
import struct
import sys
import types
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
EXP = os.path.join(HERE, 'expected')

DS_VERSION = '0.14.2'
MMENGINE_VERSION = '0.10.4'
FIXED_TIME = '20240612_153012'          # mmengine's time.strftime('%Y%m%d_%H%M%S'); fixed for determinism
SEED = 20240612                         # "randomness.seed" recorded in meta
STEPS = 8                               # iter_8.pth

# ----------------------------------------------------------------------------------------------------------------
# Model dimensions
# ----------------------------------------------------------------------------------------------------------------
LORA_R, LORA_ALPHA = 8, 16
LLM_LAYERS = 2
LLM_HIDDEN = 64
# (module path inside a decoder layer, in_features, out_features), registration order q,k,v,o,gate,up,down
LORA_MODULES = [('self_attn.q_proj', 64, 64), ('self_attn.k_proj', 64, 32), ('self_attn.v_proj', 64, 32),
                ('self_attn.o_proj', 64, 64), ('mlp.gate_proj', 64, 160), ('mlp.up_proj', 64, 160),
                ('mlp.down_proj', 160, 64)]
QF_HIDDEN = 32          # = visual hidden = encoder_width
QF_LAYERS = 2
QF_HEADS = 4
QF_INTER = 64
QF_EPS = 1e-12
QF_MAX_POS = 512

VIS = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=32,
           patch_size=8, num_channels=3, layer_norm_eps=1e-5, hidden_act='quick_gelu')
VIS_TOKENS = (VIS['image_size'] // VIS['patch_size']) ** 2      # 16

# ================================================================================================================
# Stubs for DeepSpeed / mmengine classes, registered under their real module paths
# ================================================================================================================


def _mkmod(name):
    if name in sys.modules:
        return sys.modules[name]
    mod = types.ModuleType(name)
    mod.__file__ = '<llavapack test stub>'
    sys.modules[name] = mod
    if '.' in name:
        parent, _, child = name.rpartition('.')
        setattr(_mkmod(parent), child, mod)
    return mod


# How Enum members pickle depends on the Python that ran DeepSpeed:
#   Python <= 3.10 (PA-LLaVA's environment; its repo ships cpython-310/-38 .pyc files):
#       Enum.__reduce_ex__ -> (cls, (value,))  =>  GLOBAL 'deepspeed.runtime.zero.config ZeroStageEnum', (2,), REDUCE
#   Python >= 3.11:
#       Enum.__reduce_ex__ -> (getattr, (cls, name))  =>  GLOBAL '__builtin__ getattr', (ZeroStageEnum, 'gradients'), REDUCE
# PY311_ENUM_PICKLE[0] selects the form; the zero3 variant is written with the 3.11 form, all others with 3.10's.
PY311_ENUM_PICKLE = [False]


class ZeroStageEnum(int, enum.Enum):
    """deepspeed.runtime.zero.config.ZeroStageEnum"""
    disabled = 0
    optimizer_states = 1
    gradients = 2
    weights = 3
    max_stage = 3

    def __reduce_ex__(self, proto):
        if PY311_ENUM_PICKLE[0]:
            return getattr, (self.__class__, self._name_)
        return self.__class__, (self._value_,)


class LossScalerBase:
    """deepspeed.runtime.fp16.loss_scaler.LossScalerBase"""

    def __init__(self, cur_scale):
        self.cur_scale = cur_scale
        self.dynamic = False


class LossScaler(LossScalerBase):
    """deepspeed.runtime.fp16.loss_scaler.LossScaler (static; what bf16 runs get)"""

    def __init__(self, scale=1):
        super().__init__(scale)


class DynamicLossScaler(LossScalerBase):
    """deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler (fp16 runs)"""

    def __init__(self, init_scale=2**32, scale_factor=2., scale_window=1000, min_scale=1, delayed_shift=1,
                 consecutive_hysteresis=False, raise_error_at_min_scale=True, dtype=torch.half):
        super().__init__(init_scale)
        self.cur_iter = 0
        self.last_overflow_iter = -1
        self.scale_factor = scale_factor
        self.scale_window = scale_window
        self.min_scale = min_scale
        self.delayed_shift = delayed_shift
        self.cur_hysteresis = delayed_shift
        self.consecutive_hysteresis = consecutive_hysteresis
        self.raise_error_at_min_scale = raise_error_at_min_scale
        self.dynamic = True
        self.dtype = dtype


@dataclasses.dataclass
class fragment_address:  # noqa: N801  (real name)
    """deepspeed.utils.tensor_fragment.fragment_address"""
    numel: int
    start: int


class HistoryBuffer:
    """mmengine.logging.history_buffer.HistoryBuffer (instance state: max_length, _log_history, _count_history)"""
    _statistics_methods: dict = dict()

    def __init__(self, log_history=(), count_history=(), max_length=1000000):
        self.max_length = max_length
        assert len(log_history) == len(count_history)
        self._log_history = np.array(log_history)
        self._count_history = np.array(count_history)

    def update(self, value, count=1):
        self._log_history = np.append(self._log_history, value)
        self._count_history = np.append(self._count_history, count)


for _cls, _mod in [(ZeroStageEnum, 'deepspeed.runtime.zero.config'),
                   (LossScalerBase, 'deepspeed.runtime.fp16.loss_scaler'),
                   (LossScaler, 'deepspeed.runtime.fp16.loss_scaler'),
                   (DynamicLossScaler, 'deepspeed.runtime.fp16.loss_scaler'),
                   (fragment_address, 'deepspeed.utils.tensor_fragment'),
                   (HistoryBuffer, 'mmengine.logging.history_buffer')]:
    _cls.__module__ = _mod
    setattr(_mkmod(_mod), _cls.__name__, _cls)

# ================================================================================================================
# torch.save helpers: location tags ('cuda:N' like real DeepSpeed files), prefix, legacy determinism
# ================================================================================================================
_LOC = [None]


def _loc_tagger(storage):
    return _LOC[0]


def _loc_deserialize(storage, location):
    return None


torch.serialization.register_package(1, _loc_tagger, _loc_deserialize)


def save_zip(obj, path, location=None):
    """torch.save to a path: the zip's top folder is the file stem (e.g. 'mp_rank_00_model_states/')."""
    _LOC[0] = location
    try:
        torch.save(obj, path)
    finally:
        _LOC[0] = None


def save_zip_via_bytesio(obj, path):
    """mmengine's save_checkpoint: torch.save into io.BytesIO, then write the bytes -> top folder 'archive/'."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with open(path, 'wb') as f:
        f.write(buf.getvalue())


def save_legacy(obj, path):
    """torch.save(..., _use_new_zipfile_serialization=False) with deterministic storage keys.

    torch 1.13's _legacy_save names storages str(storage._cdata) (a memory address). To make reruns byte-identical,
    `str` is shadowed inside torch.serialization during the call and maps each _cdata to a fixed, realistic-looking
    address (14/15 decimal digits, chosen so that the sorted key order differs from the order of first use)."""
    rng = np.random.RandomState(7)
    mapping = {}
    real_str = str

    def fake_str(x):
        if isinstance(x, int) and not isinstance(x, bool):
            if x not in mapping:
                k = len(mapping)
                base = 94000000000000 if k % 2 == 0 else 140000000000000
                mapping[x] = real_str(base + int(rng.randint(0, 10**9)) * 16)
            return mapping[x]
        return real_str(x)

    torch.serialization.str = fake_str
    try:
        with open(path, 'wb') as f:
            # what torch.save(obj, f, _use_new_zipfile_serialization=False) calls (pickle, protocol 2)
            import pickle
            torch.serialization._legacy_save(obj, f, pickle, torch.serialization.DEFAULT_PROTOCOL)
    finally:
        del torch.serialization.str

# ================================================================================================================
# safetensors writer / reader
# ================================================================================================================
_ST_DTYPES = {torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
              torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
              torch.bool: 'BOOL'}
# safetensors Dtype enum order (ascending); files list tensors by dtype DESCENDING, then by name
_ST_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64',
             'F64', 'I64', 'U64']
_ST_TORCH = {v: k for k, v in _ST_DTYPES.items()}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16 or t.dtype == torch.float16:
        return t.view(torch.int16).numpy().astype('<i2').tobytes()
    if t.dtype == torch.bool:
        return t.numpy().astype(np.uint8).tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()


def write_safetensors(path, tensors):
    items = sorted(tensors.items(), key=lambda kv: (-_ST_ORDER.index(_ST_DTYPES[kv[1].dtype]), kv[0]))
    header = OrderedDict()
    header['__metadata__'] = {'format': 'pt'}
    blobs = []
    off = 0
    for name, t in items:
        b = _tensor_bytes(t)
        header[name] = OrderedDict([('dtype', _ST_DTYPES[t.dtype]), ('shape', list(t.shape)),
                                    ('data_offsets', [off, off + len(b)])])
        blobs.append(b)
        off += len(b)
    hjson = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hjson += b' ' * ((8 - len(hjson) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = OrderedDict()
    prev_end = 0
    for name, info in header.items():
        if name == '__metadata__':
            continue
        b, e = info['data_offsets']
        assert b == prev_end, (path, name, 'gap/overlap')
        prev_end = e
        dt = _ST_TORCH[info['dtype']]
        raw = bytearray(data[base + b:base + e])
        if dt in (torch.bfloat16, torch.float16):
            t = torch.frombuffer(raw, dtype=torch.int16).view(dt) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info['shape']).clone()
    assert base + prev_end == len(data), (path, 'trailing bytes')
    return out

# ================================================================================================================
# Trainable parameters (names in XTuner checkpoint form, named_parameters() order)
# ================================================================================================================


def llm_lora_specs():
    out = []
    for i in range(LLM_LAYERS):
        for mod, fin, fout in LORA_MODULES:
            base = f'llm.base_model.model.model.layers.{i}.{mod}'
            out.append((f'{base}.lora_A.default.weight', (LORA_R, fin)))
            out.append((f'{base}.lora_B.default.weight', (fout, LORA_R)))
    return out


def projector_specs(xattn):
    H, I = QF_HIDDEN, QF_INTER
    out = []
    for j in range(QF_LAYERS):
        p = f'projector.model.bert.encoder.layer.{j}.'

        def attn(block):
            for sub in ('self.query', 'self.key', 'self.value', 'output.dense'):
                out.append((f'{p}{block}.{sub}.weight', (H, H)))
                out.append((f'{p}{block}.{sub}.bias', (H,)))
            out.append((f'{p}{block}.output.LayerNorm.weight', (H,)))
            out.append((f'{p}{block}.output.LayerNorm.bias', (H,)))
        attn('attention')
        if xattn:
            attn('crossattention')
        out.append((f'{p}intermediate_query.dense.weight', (I, H)))
        out.append((f'{p}intermediate_query.dense.bias', (I,)))
        out.append((f'{p}output_query.dense.weight', (H, I)))
        out.append((f'{p}output_query.dense.bias', (H,)))
        out.append((f'{p}output_query.LayerNorm.weight', (H,)))
        out.append((f'{p}output_query.LayerNorm.bias', (H,)))
    # QFormerConnector registers bert, then mlp, then norm
    out.append(('projector.model.mlp.model.0.weight', (LLM_HIDDEN, H)))
    out.append(('projector.model.mlp.model.0.bias', (LLM_HIDDEN,)))
    out.append(('projector.model.norm.weight', (H,)))
    out.append(('projector.model.norm.bias', (H,)))
    return out


POS_IDS_NAME = 'projector.model.bert.embeddings.position_ids'
BUFFER_NAMES = ['visual_encoder.vision_model.embeddings.position_ids', POS_IDS_NAME]


def position_ids_buffer():
    # BertEmbeddings: register_buffer("position_ids", torch.arange(512).expand((1, -1))) -> [1,512], stride (0,1)
    return torch.arange(QF_MAX_POS).expand((1, -1))


def _init_value(name, shape, g):
    if '.lora_A.' in name:
        bound = 1.0 / math.sqrt(shape[1])
        return (torch.rand(shape, generator=g) * 2 - 1) * bound
    if '.lora_B.' in name:       # stage-2 style: continues a non-zero stage-1 LoRA
        return torch.randn(shape, generator=g) * 0.02
    is_norm = name.endswith('LayerNorm.weight') or name.endswith('LayerNorm.bias') or '.model.norm.' in name
    if is_norm and name.endswith('.weight'):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if name.endswith('.bias'):
        return 0.05 * torch.randn(shape, generator=g)
    return 0.15 * torch.randn(shape, generator=g)


LR = 2e-3
LR_MULT = {'projector': 0.5, 'llm': 1.0}      # PA-LLaVA paramwise_cfg custom_keys (1e-4/2e-4, 2e-4/2e-4)


def lr_of(name):
    return LR * (LR_MULT['projector'] if name.startswith('projector.') else LR_MULT['llm'])


def emulate_training(specs, dt16, seed, steps=STEPS, loss_scale=None, snapshots=(STEPS,)):
    """fp32 master weights + 16-bit model copies, as DeepSpeed ZeRO does.

    step t: grad = (w16 - target) + noise_t computed in fp32 from the 16-bit copy, rounded to the 16-bit dtype
    (fp16: after multiplying by the loss scale, then unscaled in fp32), AdamW(betas 0.9/0.999, eps 1e-8, wd 0) on the
    fp32 master, then w16 = RNE(master).  Returns {step: dict(master, w16, exp_avg, exp_avg_sq)}."""
    g = torch.Generator().manual_seed(seed)
    names = [n for n, _ in specs]
    w16 = OrderedDict((n, _init_value(n, s, g).to(dt16)) for n, s in specs)
    target = OrderedDict((n, w16[n].float() + 0.05 * torch.randn(s, generator=g)) for n, s in specs)
    params = OrderedDict((n, torch.nn.Parameter(w16[n].float().clone())) for n in names)
    opt = torch.optim.AdamW([{'params': [params[n]], 'lr': lr_of(n)} for n in names], lr=LR, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    out = {}
    for t in range(1, steps + 1):
        for n, s in specs:
            grad = (w16[n].float() - target[n]) + 0.02 * torch.randn(s, generator=g)
            if dt16 == torch.float16:
                g32 = (grad * loss_scale).to(torch.float16).float() / loss_scale
            else:
                g32 = grad.to(dt16).float()
            params[n].grad = g32
        opt.step()
        for n in names:
            w16[n] = params[n].detach().to(dt16)
        if t in snapshots:
            out[t] = dict(
                master=OrderedDict((n, params[n].detach().clone()) for n in names),
                w16=OrderedDict((n, w16[n].clone()) for n in names),
                exp_avg=OrderedDict((n, opt.state[params[n]]['exp_avg'].clone()) for n in names),
                exp_avg_sq=OrderedDict((n, opt.state[params[n]]['exp_avg_sq'].clone()) for n in names))
    return out

# ================================================================================================================
# mmengine / XTuner metadata
# ================================================================================================================


def config_text(dtype='bf16', zero=2, xattn=False):
    ds_json = {2: 'deepspeed_zero2', 3: 'deepspeed_zero3'}[zero]
    return f'''# Copyright (c) OpenMMLab. All rights reserved.
# Tiny PA-LLaVA test config (llavapack fixtures). Trained with:
#   NPROC_PER_NODE=... xtuner train pallava_tiny_config.py --deepspeed {ds_json}   ({dtype})
from mmengine.dataset import DefaultSampler
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook,
                            LoggerHook, ParamSchedulerHook)
from mmengine.optim import AmpOptimWrapper, ConstantLR
from torch.optim import AdamW
from transformers import (AutoModelForCausalLM, AutoTokenizer,
                          CLIPImageProcessor, CLIPVisionModel)
from peft import LoraConfig
from pallava.dataset import LLaVADataset
from pallava.default_collate_fn import default_collate_fn
from xtuner.dataset.map_fns import llava_map_fn, template_map_fn_factory
from xtuner.engine.runner import TrainLoop
from pallava.model import LLaVAModel
from xtuner.utils import PROMPT_TEMPLATE

#######################################################################
#                          PART 1  Settings                           #
#######################################################################
# Model
llm_name_or_path = 'test-checkpoints/tiny-llama'
visual_encoder_name_or_path = 'test-checkpoints/tiny-plip'
pretrained_pth = None
# Data
data_root = '/data/pathology/'
data_path = data_root + 'sft_hfformat'
image_folder = data_root + 'images'
prompt_template = PROMPT_TEMPLATE.llama3_chat
max_length = int(256 - {VIS_TOKENS})
anyres_image = True

# Projector (Q-Former connector). The tiny BERT config overrides bert-base-uncased:
# hidden_size = encoder_width = {QF_HIDDEN}, num_attention_heads = {QF_HEADS}, intermediate_size = {QF_INTER},
# layer_norm_eps = 1e-12, hidden_act = 'gelu'
cross_attention_freq = 1
num_hidden_layers = {QF_LAYERS}
projector_depth = 1
add_cross_attention = {xattn}

# Scheduler & Optimizer
batch_size = 1  # per_device
accumulative_counts = 1
dataloader_num_workers = 0
max_epochs = 1
optim_type = AdamW
lr = {LR}
betas = (0.9, 0.999)
weight_decay = 0
max_norm = 1  # grad clip

# Save
save_steps = 4
save_total_limit = -1  # Maximum checkpoints to keep (-1 means unlimited)

#######################################################################
#            PART 2  Model & Tokenizer & Image Processor              #
#######################################################################
tokenizer = dict(
    type=AutoTokenizer.from_pretrained,
    pretrained_model_name_or_path=llm_name_or_path,
    trust_remote_code=True,
    padding_side='right')

image_processor = dict(
    type=CLIPImageProcessor.from_pretrained,
    pretrained_model_name_or_path=visual_encoder_name_or_path,
    trust_remote_code=True)

model = dict(
    type=LLaVAModel,
    freeze_llm=True,
    freeze_visual_encoder=True,
    pretrained_pth=pretrained_pth,
    projector_depth=projector_depth,
    llm=dict(
        type=AutoModelForCausalLM.from_pretrained,
        pretrained_model_name_or_path=llm_name_or_path,
        trust_remote_code=True),
    llm_lora=dict(
        type=LoraConfig, r={LORA_R}, lora_alpha={LORA_ALPHA}, lora_dropout=0.05, bias='none', task_type='CAUSAL_LM'),
    visual_encoder=visual_encoder_name_or_path,
    cross_attention_freq=cross_attention_freq,
    num_hidden_layers=num_hidden_layers)

#######################################################################
#                      PART 3  Dataset & Dataloader                   #
#######################################################################
llava_dataset = dict(
    type=LLaVADataset,
    offline_processed_text_folder=data_path,
    image_folder=image_folder,
    tokenizer=tokenizer,
    image_processor=image_processor,
    dataset_map_fn=llava_map_fn,
    template_map_fn=dict(
        type=template_map_fn_factory, template=prompt_template),
    max_length=max_length,
    pad_image_to_square=False,
    anyres_image=anyres_image)

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=dataloader_num_workers,
    dataset=llava_dataset,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=dict(type=default_collate_fn))

#######################################################################
#                    PART 4  Scheduler & Optimizer                    #
#######################################################################
optim_wrapper = dict(
    type=AmpOptimWrapper,
    optimizer=dict(
        type=optim_type, lr=lr, betas=betas, weight_decay=weight_decay),
    clip_grad=dict(max_norm=max_norm, error_if_nonfinite=False),
    paramwise_cfg=dict(custom_keys={{'projector': dict(lr_mult=1e-4 / 2e-4), 'llm': dict(lr_mult=2e-4 / 2e-4)}}),
    accumulative_counts=accumulative_counts,
    loss_scale='dynamic',
    dtype='float16')

param_scheduler = [
    dict(type=ConstantLR, factor=1.0, by_epoch=False, begin=0, end=16)
]

train_cfg = dict(type=TrainLoop, max_iters=16)

#######################################################################
#                           PART 5  Runtime                           #
#######################################################################
default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, log_metric_by_epoch=False, interval=1),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(
        type=CheckpointHook,
        by_epoch=False,
        interval=save_steps,
        max_keep_ckpts=save_total_limit),
    sampler_seed=dict(type=DistSamplerSeedHook),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

visualizer = None
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed={SEED}, deterministic=False)
log_processor = dict(by_epoch=False)
'''


def ds_config(stage, dtype):
    """XTuner's deepspeed_zero{2,3}.json after xtuner/tools/train.py resolved the 'auto' fields (a plain dict)."""
    zo = OrderedDict([('stage', stage), ('overlap_comm', True)])
    if stage == 3:
        zo['stage3_gather_16bit_weights_on_model_save'] = True
    return OrderedDict([
        ('gradient_accumulation_steps', 1),
        ('train_micro_batch_size_per_gpu', 1),
        ('gradient_clipping', 1),
        ('zero_allow_untested_optimizer', True),
        ('zero_force_ds_cpu_optimizer', False),
        ('zero_optimization', dict(zo)),
        ('fp16', {'enabled': dtype == 'fp16', 'initial_scale_power': 16}),
        ('bf16', {'enabled': dtype == 'bf16'}),
        ('steps_per_print', 10000000000000),
    ])


def message_hub_state(cfg, it, losses, lrs):
    """mmengine MessageHub.state_dict(): only resumed keys are kept."""
    lr_buf = HistoryBuffer()
    loss_buf = HistoryBuffer()
    for lr, loss in zip(lrs, losses):
        lr_buf.update(lr)
        loss_buf.update(loss)
    log_scalars = OrderedDict([('train/lr', lr_buf), ('train/loss', loss_buf)])
    runtime_info = OrderedDict([('cfg', cfg), ('seed', SEED), ('experiment_name', 'pallava_tiny_config'),
                                ('max_epochs', 1), ('max_iters', 16), ('epoch', 0), ('iter', it - 1),
                                ('train_logs', {})])
    resumed_keys = OrderedDict([('train/lr', True), ('train/loss', True), ('train/time', False),
                                ('train/data_time', False), ('cfg', True), ('seed', True),
                                ('experiment_name', True), ('max_epochs', True), ('max_iters', True),
                                ('epoch', True), ('iter', True), ('train_logs', True)])
    return {'log_scalars': log_scalars, 'runtime_info': runtime_info, 'resumed_keys': resumed_keys}


def fake_losses(seed, n):
    rng = np.random.RandomState(seed)
    return [float(2.5 * math.exp(-0.05 * i) + 0.01 * rng.randn()) for i in range(n)]


def client_state(cfg, groups_lr, it, seed):
    """What mmengine's FlexibleRunner + DeepSpeedStrategy pass as client_state (merged into the model-states dict)."""
    meta = OrderedDict([('epoch', 0), ('iter', it), ('cfg', cfg), ('experiment_name', 'pallava_tiny_config'),
                        ('seed', SEED), ('time', FIXED_TIME), ('mmengine', MMENGINE_VERSION)])
    sched = OrderedDict([('factor', 1.0), ('param_name', 'lr'), ('begin', 0), ('end', 16), ('by_epoch', False),
                         ('base_values', list(groups_lr)), ('last_step', it), ('verbose', False),
                         ('_global_step', it), ('_get_value_called_within_step', False)])
    return OrderedDict([('meta', meta),
                        ('message_hub', message_hub_state(cfg, it, fake_losses(seed, it), [LR] * it)),
                        ('optim_wrapper', {}),
                        ('param_schedulers', [sched])])


def adam_param_group(lr, idx_list):
    return OrderedDict([('lr', lr), ('betas', (0.9, 0.999)), ('eps', 1e-08), ('weight_decay', 0.0),
                        ('amsgrad', False), ('foreach', None), ('maximize', False), ('capturable', False),
                        ('initial_lr', lr), ('params', idx_list)])

# ================================================================================================================
# DeepSpeed writers
# ================================================================================================================


def module_state_dict(specs, w16_tensors):
    """XTuner LLaVAModel.state_dict(): LoRA keys (get_peft_model_state_dict keeps '.default'), then every key with
    'projector.' (the position_ids buffer first: BertEmbeddings is registered before the encoder)."""
    sd = OrderedDict()
    for n, _ in specs:
        if n.startswith('llm.'):
            sd[n] = w16_tensors[n]
    sd[POS_IDS_NAME] = position_ids_buffer()
    for n, _ in specs:
        if n.startswith('projector.'):
            sd[n] = w16_tensors[n]
    return sd


def zero2_layout(numel, W):
    """stage_1_and_2.py: pad the flat group at the end to a multiple of 2*W, split into W equal partitions.
    ALL the padding is recorded on the last rank (groups_padding), and _get_groups_without_padding saves
    partition[:partition_size - padding] on every rank -- Python slicing semantics, so a negative stop on the last
    rank keeps partition_size - padding + partition_size elements (or none), and earlier ranks that lie wholly in
    the padding still save their full (zero) partition."""
    align = 2 * W
    padded = int(math.ceil(numel / align)) * align
    ps = padded // W
    padding = padded - numel
    paddings = [0] * (W - 1) + [padding]
    return padded, ps, paddings


def write_zero2(tagdir, specs, groups, W, dt16, snap, cfg, seed, it):
    os.makedirs(tagdir, exist_ok=True)
    prefix = 'bf16_' if dt16 == torch.bfloat16 else ''
    dtype_name = 'bf16' if dt16 == torch.bfloat16 else 'fp16'
    shapes = dict(specs)
    # ---- one flat 16-bit buffer per group; model params are views into it ----
    views = {}
    layouts = []
    flats32, avg_flats, sq_flats = [], [], []
    for grp in groups:
        numel = sum(int(np.prod(shapes[n])) for n in grp)
        padded, ps, paddings = zero2_layout(numel, W)
        flat16 = torch.zeros(padded, dtype=dt16)
        flat32 = torch.zeros(padded, dtype=torch.float32)
        fa = torch.zeros(padded, dtype=torch.float32)
        fs = torch.zeros(padded, dtype=torch.float32)
        off = 0
        offsets = {}
        for n in grp:
            k = int(np.prod(shapes[n]))
            flat16.narrow(0, off, k).copy_(snap['w16'][n].reshape(-1))
            flat32.narrow(0, off, k).copy_(snap['master'][n].reshape(-1))
            fa.narrow(0, off, k).copy_(snap['exp_avg'][n].reshape(-1))
            fs.narrow(0, off, k).copy_(snap['exp_avg_sq'][n].reshape(-1))
            views[n] = flat16.narrow(0, off, k).view(shapes[n])
            offsets[n] = (off, k)
            off += k
        layouts.append(dict(numel=numel, padded=padded, ps=ps, paddings=paddings, offsets=offsets))
        flats32.append(flat32)
        avg_flats.append(fa)
        sq_flats.append(fs)
    # ---- mp_rank_00_model_states.pt ----
    param_shapes = [OrderedDict((n, torch.Size(shapes[n])) for n in grp) for grp in groups]
    group_lrs = [lr_of(grp[0]) for grp in groups]
    state = OrderedDict([
        ('module', module_state_dict(specs, views)),
        ('buffer_names', list(BUFFER_NAMES)),
        ('optimizer', None),
        ('param_shapes', param_shapes),
        ('frozen_param_shapes', None),
        ('shared_params', {}),
        ('frozen_param_fragments', None),
        ('lr_scheduler', None),
        ('data_sampler', None),
        ('random_ltd', None),
        ('sparse_tensor_module_names', set()),
        ('skipped_steps', 0),
        ('global_steps', it),
        ('global_samples', it * W),
        ('dp_world_size', W),
        ('mp_world_size', 1),
        ('ds_config', ds_config(2, dtype_name)),
        ('ds_version', DS_VERSION),
    ])
    state.update(client_state(cfg, group_lrs, it, seed))
    save_zip(dict(state), os.path.join(tagdir, 'mp_rank_00_model_states.pt'), location='cuda:0')
    # ---- one optimizer file per rank ----
    rank_info = []
    for r in range(W):
        parts, mappings, astate = [], [], OrderedDict()
        saved_lens = []
        for gi, (grp, lay) in enumerate(zip(groups, layouts)):
            ps = lay['ps']
            start = r * ps
            part = flats32[gi].narrow(0, start, ps).clone()         # single_partition_of_fp32_groups[gi]
            lean = ps - lay['paddings'][r]
            saved = part[:lean]                                     # _get_groups_without_padding (a view)
            parts.append(saved)
            saved_lens.append(saved.numel())
            m = OrderedDict()
            for n in grp:
                o, k = lay['offsets'][n]
                if o < start + ps and o + k > start:                # _init_lp_to_hp_mapping overlap test
                    fs = max(o, start)
                    fe = min(o + k, start + ps)
                    m[n] = fragment_address(numel=fe - fs, start=fs - start)
            mappings.append(m)
            astate[gi] = OrderedDict([('step', torch.tensor(float(it))),
                                      ('exp_avg', avg_flats[gi].narrow(0, start, ps).clone()),
                                      ('exp_avg_sq', sq_flats[gi].narrow(0, start, ps).clone())])
        if dt16 == torch.float16:
            scaler = DynamicLossScaler(init_scale=2.0**16, scale_factor=2.0, scale_window=1000, min_scale=1,
                                       delayed_shift=2, consecutive_hysteresis=False, raise_error_at_min_scale=True,
                                       dtype=torch.float16)
            scaler.cur_iter = it
        else:
            scaler = LossScaler(scale=1.0)
        osd = OrderedDict([
            ('loss_scaler', scaler),
            ('dynamic_loss_scale', dt16 == torch.float16),
            ('overflow', False),
            ('clip_grad', 1.0),
            ('base_optimizer_state', {'state': dict(astate),
                                      'param_groups': [dict(adam_param_group(lr, [gi]))
                                                       for gi, lr in enumerate(group_lrs)]}),
            ('single_partition_of_fp32_groups', parts),
            ('zero_stage', ZeroStageEnum.gradients),
            ('group_paddings', list(lay['paddings'][r] for lay in layouts)),
            ('partition_count', [W] * len(groups)),
            ('ds_version', DS_VERSION),
            ('param_slice_mappings', mappings),
        ])
        top = OrderedDict([('optimizer_state_dict', dict(osd)), ('ds_config', ds_config(2, dtype_name)),
                           ('ds_version', DS_VERSION)])
        save_zip(dict(top), os.path.join(tagdir, f'{prefix}zero_pp_rank_{r}_mp_rank_00_optim_states.pt'),
                 location=f'cuda:{r % 8}')
        rank_info.append(saved_lens)
    return layouts, rank_info


def write_zero3(tagdir, specs, groups, W, dt16, snap, cfg, seed, it):
    """ZeRO-3: every parameter padded on its own to a multiple of W; rank r keeps elements [r*p, (r+1)*p).
    The padding tail of the last rank's partition is uninitialised memory in DeepSpeed (torch.empty); here it is
    filled with seeded garbage (|x| ~ 1e3) so a reader that does not cut at numel fails loudly."""
    os.makedirs(tagdir, exist_ok=True)
    shapes = dict(specs)
    garbage = torch.Generator().manual_seed(seed + 99)
    per_param = {}
    for n, s in specs:
        k = int(np.prod(s))
        p = int(math.ceil(k / W))
        pad = p * W - k
        full = torch.empty(p * W)
        full[:k] = snap['master'][n].reshape(-1)
        full[k:] = 1000.0 * torch.randn(pad, generator=garbage)
        fa = torch.zeros(p * W)
        fa[:k] = snap['exp_avg'][n].reshape(-1)
        fs = torch.zeros(p * W)
        fs[:k] = snap['exp_avg_sq'][n].reshape(-1)
        per_param[n] = (p, pad, full, fa, fs)
    param_shapes = [OrderedDict((n, torch.Size(shapes[n])) for n in grp) for grp in groups]
    group_lrs = [lr_of(grp[0]) for grp in groups]
    info = {n: (per_param[n][0], per_param[n][1]) for n, _ in specs}
    for r in range(W):
        # ---- zero_pp_rank_{r}_mp_rank_00_model_states.pt: params are empty placeholders (torch.empty(0)) ----
        placeholders = OrderedDict((n, torch.empty(0, dtype=dt16)) for n, _ in specs)
        state = OrderedDict([
            ('module', module_state_dict(specs, placeholders)),
            ('buffer_names', list(BUFFER_NAMES)),
            ('optimizer', None),
            ('param_shapes', param_shapes),
            ('frozen_param_shapes', None),
            ('shared_params', {}),
            ('frozen_param_fragments', None),
            ('lr_scheduler', None),
            ('data_sampler', None),
            ('random_ltd', None),
            ('sparse_tensor_module_names', set()),
            ('skipped_steps', 0),
            ('global_steps', it),
            ('global_samples', it * W),
            ('dp_world_size', W),
            ('mp_world_size', 1),
            ('ds_config', ds_config(3, 'bf16')),
            ('ds_version', DS_VERSION),
        ])
        state.update(client_state(cfg, group_lrs, it, seed))
        save_zip(dict(state), os.path.join(tagdir, f'zero_pp_rank_{r}_mp_rank_00_model_states.pt'),
                 location=f'cuda:{r % 8}')
        # ---- bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt ----
        flats, astate = [], OrderedDict()
        for gi, grp in enumerate(groups):
            chunks, ca, cs = [], [], []
            for n in grp:
                p, _, full, fa, fs = per_param[n]
                chunks.append(full[r * p:(r + 1) * p])
                ca.append(fa[r * p:(r + 1) * p])
                cs.append(fs[r * p:(r + 1) * p])
            flats.append(torch.cat(chunks))
            astate[gi] = OrderedDict([('step', torch.tensor(float(it))), ('exp_avg', torch.cat(ca)),
                                      ('exp_avg_sq', torch.cat(cs))])
        osd = OrderedDict([
            ('zero_stage', ZeroStageEnum.weights),
            ('loss_scaler', LossScaler(scale=1.0)),
            ('dynamic_loss_scale', False),
            ('overflow', False),
            ('partition_count', W),
            ('optimizer_state_dict', {'state': dict(astate),
                                      'param_groups': [dict(adam_param_group(lr, [gi]))
                                                       for gi, lr in enumerate(group_lrs)]}),
            ('fp32_flat_groups', flats),
        ])
        top = OrderedDict([('optimizer_state_dict', dict(osd)), ('ds_config', ds_config(3, 'bf16')),
                           ('ds_version', DS_VERSION)])
        save_zip(dict(top), os.path.join(tagdir, f'bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt'),
                 location=f'cuda:{r % 8}')
    return info

# ================================================================================================================
# Expected tensors
# ================================================================================================================


def peft_name(n):
    assert n.startswith('llm.')
    return n[len('llm.'):].replace('.default.', '.')


def write_expected(tag, specs, snap, with_module=True):
    master = OrderedDict((n, snap['master'][n].contiguous()) for n, _ in specs)
    write_safetensors(os.path.join(EXP, f'xtuner-{tag}-master-f32.safetensors'), master)
    if with_module:
        mod = OrderedDict((n, snap['w16'][n].contiguous()) for n, _ in specs)
        mod[POS_IDS_NAME] = position_ids_buffer().contiguous()
        write_safetensors(os.path.join(EXP, f'xtuner-{tag}-module-16.safetensors'), mod)
    adapter = OrderedDict((peft_name(n), master[n]) for n, _ in specs if n.startswith('llm.'))
    write_safetensors(os.path.join(EXP, f'xtuner-{tag}-adapter-f32.safetensors'), adapter)
    proj = OrderedDict((n[len('projector.'):], master[n]) for n, _ in specs if n.startswith('projector.'))
    proj[POS_IDS_NAME[len('projector.'):]] = position_ids_buffer().contiguous()
    write_safetensors(os.path.join(EXP, f'xtuner-{tag}-projector-f32.safetensors'), proj)

# ================================================================================================================
# Tiny PLIP vision tower + reference forward passes
# ================================================================================================================


def make_vision_weights(seed=4242):
    g = torch.Generator().manual_seed(seed)
    H, I, C, P = VIS['hidden_size'], VIS['intermediate_size'], VIS['num_channels'], VIS['patch_size']
    w = OrderedDict()
    w['vision_model.embeddings.class_embedding'] = 0.5 * torch.randn(H, generator=g)
    w['vision_model.embeddings.patch_embedding.weight'] = 0.1 * torch.randn(H, C, P, P, generator=g)
    w['vision_model.embeddings.position_embedding.weight'] = 0.2 * torch.randn(VIS_TOKENS + 1, H, generator=g)
    w['vision_model.pre_layrnorm.weight'] = 1 + 0.1 * torch.randn(H, generator=g)
    w['vision_model.pre_layrnorm.bias'] = 0.05 * torch.randn(H, generator=g)
    for n in range(VIS['num_hidden_layers']):
        p = f'vision_model.encoder.layers.{n}.'
        for proj in ('k_proj', 'v_proj', 'q_proj', 'out_proj'):
            w[p + f'self_attn.{proj}.weight'] = 0.15 * torch.randn(H, H, generator=g)
            w[p + f'self_attn.{proj}.bias'] = 0.05 * torch.randn(H, generator=g)
        w[p + 'layer_norm1.weight'] = 1 + 0.1 * torch.randn(H, generator=g)
        w[p + 'layer_norm1.bias'] = 0.05 * torch.randn(H, generator=g)
        w[p + 'mlp.fc1.weight'] = 0.15 * torch.randn(I, H, generator=g)
        w[p + 'mlp.fc1.bias'] = 0.05 * torch.randn(I, generator=g)
        w[p + 'mlp.fc2.weight'] = 0.1 * torch.randn(H, I, generator=g)
        w[p + 'mlp.fc2.bias'] = 0.05 * torch.randn(H, generator=g)
        w[p + 'layer_norm2.weight'] = 1 + 0.1 * torch.randn(H, generator=g)
        w[p + 'layer_norm2.bias'] = 0.05 * torch.randn(H, generator=g)
    w['vision_model.post_layrnorm.weight'] = 1 + 0.1 * torch.randn(H, generator=g)
    w['vision_model.post_layrnorm.bias'] = 0.05 * torch.randn(H, generator=g)
    return w


def write_tiny_plip(w):
    d = os.path.join(HERE, 'tiny-plip')
    os.makedirs(d, exist_ok=True)
    cfg = OrderedDict([
        ('architectures', ['CLIPVisionModel']), ('attention_dropout', 0.0), ('dropout', 0.0),
        ('hidden_act', VIS['hidden_act']), ('hidden_size', VIS['hidden_size']), ('image_size', VIS['image_size']),
        ('initializer_factor', 1.0), ('initializer_range', 0.02), ('intermediate_size', VIS['intermediate_size']),
        ('layer_norm_eps', VIS['layer_norm_eps']), ('model_type', 'clip_vision_model'),
        ('num_attention_heads', VIS['num_attention_heads']), ('num_channels', VIS['num_channels']),
        ('num_hidden_layers', VIS['num_hidden_layers']), ('patch_size', VIS['patch_size']),
        ('projection_dim', 32), ('torch_dtype', 'float32'), ('transformers_version', '4.40.0')])
    with open(os.path.join(d, 'config.json'), 'w') as f:
        f.write(json.dumps(cfg, indent=2) + '\n')
    pre = OrderedDict([
        ('crop_size', {'height': 32, 'width': 32}), ('do_center_crop', True), ('do_convert_rgb', True),
        ('do_normalize', True), ('do_rescale', True), ('do_resize', True),
        ('image_mean', [0.48145466, 0.4578275, 0.40821073]), ('image_processor_type', 'CLIPImageProcessor'),
        ('image_std', [0.26862954, 0.26130258, 0.27577711]), ('resample', 3),
        ('rescale_factor', 0.00392156862745098), ('size', {'shortest_edge': 32})])
    with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
        f.write(json.dumps(pre, indent=2) + '\n')
    write_safetensors(os.path.join(d, 'model.safetensors'), w)


def vision_forward(w, pixel_values):
    """HF CLIPVisionModel(output_hidden_states=True), eager attention, fp32. Returns the hidden_states tuple."""
    H, nh = VIS['hidden_size'], VIS['num_attention_heads']
    hd = H // nh
    eps = VIS['layer_norm_eps']
    B = pixel_values.shape[0]
    pe = F.conv2d(pixel_values, w['vision_model.embeddings.patch_embedding.weight'], stride=VIS['patch_size'])
    pe = pe.flatten(2).transpose(1, 2)                                   # [B,16,H], patches row-major
    cls = w['vision_model.embeddings.class_embedding'].expand(B, 1, -1)
    x = torch.cat([cls, pe], dim=1) + w['vision_model.embeddings.position_embedding.weight'][None]
    x = F.layer_norm(x, (H,), w['vision_model.pre_layrnorm.weight'], w['vision_model.pre_layrnorm.bias'], eps)
    hs = [x]
    for n in range(VIS['num_hidden_layers']):
        p = f'vision_model.encoder.layers.{n}.'
        res = x
        h = F.layer_norm(x, (H,), w[p + 'layer_norm1.weight'], w[p + 'layer_norm1.bias'], eps)
        q = F.linear(h, w[p + 'self_attn.q_proj.weight'], w[p + 'self_attn.q_proj.bias']) * (hd ** -0.5)
        k = F.linear(h, w[p + 'self_attn.k_proj.weight'], w[p + 'self_attn.k_proj.bias'])
        v = F.linear(h, w[p + 'self_attn.v_proj.weight'], w[p + 'self_attn.v_proj.bias'])
        T = h.shape[1]
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nh, hd).transpose(1, 2)
        v = v.view(B, T, nh, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, H)
        a = F.linear(a, w[p + 'self_attn.out_proj.weight'], w[p + 'self_attn.out_proj.bias'])
        x = res + a
        res = x
        h = F.layer_norm(x, (H,), w[p + 'layer_norm2.weight'], w[p + 'layer_norm2.bias'], eps)
        h = F.linear(h, w[p + 'mlp.fc1.weight'], w[p + 'mlp.fc1.bias'])
        h = h * torch.sigmoid(1.702 * h)                                 # quick_gelu
        h = F.linear(h, w[p + 'mlp.fc2.weight'], w[p + 'mlp.fc2.bias'])
        x = res + h
        hs.append(x)
    return hs


def _bert_attention(x, kv, P, prefix, nh, additive_mask):
    """BertAttention (post-LN): LayerNorm(dense(softmax(q k^T / sqrt(d) + mask) v) + x)."""
    B, T, H = x.shape
    hd = H // nh
    q = F.linear(x, P[prefix + 'self.query.weight'], P[prefix + 'self.query.bias'])
    k = F.linear(kv, P[prefix + 'self.key.weight'], P[prefix + 'self.key.bias'])
    v = F.linear(kv, P[prefix + 'self.value.weight'], P[prefix + 'self.value.bias'])
    S = kv.shape[1]
    q = q.view(B, T, nh, hd).permute(0, 2, 1, 3)
    k = k.view(B, S, nh, hd).permute(0, 2, 1, 3)
    v = v.view(B, S, nh, hd).permute(0, 2, 1, 3)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
    if additive_mask is not None:
        scores = scores + additive_mask
    ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(B, T, H)
    out = F.linear(ctx, P[prefix + 'output.dense.weight'], P[prefix + 'output.dense.bias'])
    return F.layer_norm(out + x, (H,), P[prefix + 'output.LayerNorm.weight'], P[prefix + 'output.LayerNorm.bias'],
                        QF_EPS)


def connector_forward(P, ori, patches=None, mask=None, trace=None):
    """PA-LLaVA QFormerConnector.forward (eval mode, fp32). P: projector tensors WITHOUT the 'projector.' prefix."""
    H = QF_HIDDEN
    xattn = any('.crossattention.' in k for k in P)
    h = F.layer_norm(ori, (H,), None, None, QF_EPS)                      # embeddings.LayerNorm, no affine
    if trace is not None:
        trace.append(h)
    enc_mask = None
    if xattn:
        if mask is None:
            mask = torch.ones(patches.shape[:-1], dtype=torch.long)
        m = mask[:, None, None, :].to(torch.float32)                      # invert_attention_mask
        enc_mask = (1.0 - m) * torch.finfo(torch.float32).min
    for j in range(QF_LAYERS):
        p = f'model.bert.encoder.layer.{j}.'
        a = _bert_attention(h, h, P, p + 'attention.', QF_HEADS, None)   # self-attn mask is all zeros
        if xattn:
            a = _bert_attention(a, patches, P, p + 'crossattention.', QF_HEADS, enc_mask)
        i = F.gelu(F.linear(a, P[p + 'intermediate_query.dense.weight'], P[p + 'intermediate_query.dense.bias']))
        o = F.linear(i, P[p + 'output_query.dense.weight'], P[p + 'output_query.dense.bias'])
        h = F.layer_norm(o + a, (H,), P[p + 'output_query.LayerNorm.weight'], P[p + 'output_query.LayerNorm.bias'],
                         QF_EPS)
        if trace is not None:
            trace.append(h)
    y = h + ori                                                          # + ori: the RAW input features
    y = F.layer_norm(y, (H,), P['model.norm.weight'], P['model.norm.bias'], QF_EPS)
    if trace is not None:
        trace.append(y)
    return F.linear(y, P['model.mlp.model.0.weight'], P['model.mlp.model.0.bias'])


class _MirrorQFormer(torch.nn.Module):
    """Second, independent implementation mirroring the PA-LLaVA module code paths (BertModel with query_embeds,
    get_extended_attention_mask with -10000, invert_attention_mask with finfo.min, BertLayer query_length branch,
    apply_chunking_to_forward = plain call), loaded through load_state_dict(strict=True)."""

    class SelfAttn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query = torch.nn.Linear(QF_HIDDEN, QF_HIDDEN)
            self.key = torch.nn.Linear(QF_HIDDEN, QF_HIDDEN)
            self.value = torch.nn.Linear(QF_HIDDEN, QF_HIDDEN)

        def tfs(self, x):
            return x.view(x.size()[:-1] + (QF_HEADS, QF_HIDDEN // QF_HEADS)).permute(0, 2, 1, 3)

        def forward(self, hs, attention_mask, enc=None, enc_mask=None):
            if enc is not None:
                k, v, attention_mask = self.tfs(self.key(enc)), self.tfs(self.value(enc)), enc_mask
            else:
                k, v = self.tfs(self.key(hs)), self.tfs(self.value(hs))
            q = self.tfs(self.query(hs))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(QF_HIDDEN // QF_HEADS)
            if attention_mask is not None:
                s = s + attention_mask
            c = torch.matmul(torch.nn.Softmax(dim=-1)(s), v).permute(0, 2, 1, 3).contiguous()
            return c.view(c.size()[:-2] + (QF_HIDDEN,))

    class Out(torch.nn.Module):
        def __init__(self, fin):
            super().__init__()
            self.dense = torch.nn.Linear(fin, QF_HIDDEN)
            self.LayerNorm = torch.nn.LayerNorm(QF_HIDDEN, eps=QF_EPS)

        def forward(self, h, inp):
            return self.LayerNorm(self.dense(h) + inp)

    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.self = _MirrorQFormer.SelfAttn()
            self.output = _MirrorQFormer.Out(QF_HIDDEN)

        def forward(self, hs, mask, enc=None, enc_mask=None):
            return self.output(self.self(hs, mask, enc, enc_mask), hs)

    class Inter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = torch.nn.Linear(QF_HIDDEN, QF_INTER)

        def forward(self, h):
            return torch.nn.GELU()(self.dense(h))

    class Layer(torch.nn.Module):
        def __init__(self, xattn):
            super().__init__()
            self.attention = _MirrorQFormer.Attn()
            if xattn:
                self.crossattention = _MirrorQFormer.Attn()
            self.has_cross_attention = xattn
            self.intermediate_query = _MirrorQFormer.Inter()
            self.output_query = _MirrorQFormer.Out(QF_INTER)

        def forward(self, hs, mask, enc, enc_mask, query_length):
            ao = self.attention(hs, mask)
            qa = ao[:, :query_length, :]
            if self.has_cross_attention:
                qa = self.crossattention(qa, mask, enc, enc_mask)
            return self.output_query(self.intermediate_query(qa), qa)

    def __init__(self, xattn):
        super().__init__()
        bert = torch.nn.Module()
        bert.embeddings = torch.nn.Module()
        bert.embeddings.LayerNorm = torch.nn.LayerNorm(QF_HIDDEN, eps=QF_EPS, elementwise_affine=False)
        bert.embeddings.register_buffer('position_ids', torch.arange(QF_MAX_POS).expand((1, -1)))
        bert.encoder = torch.nn.Module()
        bert.encoder.layer = torch.nn.ModuleList([_MirrorQFormer.Layer(xattn) for _ in range(QF_LAYERS)])
        self.model = torch.nn.Module()
        self.model.bert = bert
        self.model.mlp = torch.nn.Module()
        self.model.mlp.model = torch.nn.Sequential(torch.nn.Linear(QF_HIDDEN, LLM_HIDDEN))
        self.model.norm = torch.nn.LayerNorm(QF_HIDDEN, eps=1e-12)

    def forward(self, ori, patch, atts):
        B, T, _ = ori.shape
        emb = self.model.bert.embeddings.LayerNorm(ori)
        ext = (1.0 - torch.ones(B, T)[:, None, None, :]) * -10000.0
        enc_ext = None
        if patch is not None:
            atts = atts if atts is not None else torch.ones(patch.size()[:-1], dtype=torch.long)
            enc_ext = (1.0 - atts[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        h = emb
        for layer in self.model.bert.encoder.layer:
            h = layer(h, ext, patch, enc_ext, T)
        return self.model.mlp.model(self.model.norm(h + ori))

# ================================================================================================================
# Verification (independent of the writers: reads files back with torch.load and reconstructs)
# ================================================================================================================


def _rank_of(fname):
    return int(re.search(r'zero_pp_rank_(\d+)_mp_rank_', fname).group(1))


def reconstruct_zero2(tagdir, numeric=True):
    files = [f for f in os.listdir(tagdir) if re.fullmatch(r'(bf16_)?zero_pp_rank_\d+_mp_rank_00_optim_states\.pt', f)]
    files.sort(key=_rank_of if numeric else (lambda s: s))
    ms = torch.load(os.path.join(tagdir, 'mp_rank_00_model_states.pt'), map_location='cpu')
    osds = [torch.load(os.path.join(tagdir, f), map_location='cpu')['optimizer_state_dict'] for f in files]
    W = max(osds[0]['partition_count'])
    assert len(files) == W and sorted(_rank_of(f) for f in files) == list(range(W))
    out = OrderedDict()
    notes = []
    for g, shapes in enumerate(ms['param_shapes']):
        full = torch.cat([o['single_partition_of_fp32_groups'][g] for o in osds])
        off = 0
        for n, s in shapes.items():
            k = int(np.prod(list(s)))
            out[n] = full[off:off + k].view(list(s)).clone()
            off += k
        align = 2 * W
        if off != full.numel() and numeric:
            assert math.ceil(off / align) * align == math.ceil(full.numel() / align) * align, (g, off, full.numel())
            notes.append((g, off, full.numel()))
        # spec 4.6 check 4: sum of group_paddings == padded - real
        padded = math.ceil(off / align) * align
        assert sum(o['group_paddings'][g] for o in osds) == padded - off
        # spec 4.6 check 3: slice mappings
        ps = padded // W
        starts = {}
        o2 = 0
        for n, s in shapes.items():
            starts[n] = (o2, int(np.prod(list(s))))
            o2 += starts[n][1]
        for f, o in zip(files, osds):
            r = _rank_of(f)
            for n, fa in o['param_slice_mappings'][g].items():
                gs = r * ps + fa.start
                assert starts[n][0] <= gs and gs + fa.numel <= starts[n][0] + starts[n][1], (n, r)
    return out, ms, notes


def reconstruct_zero3(tagdir):
    ofiles = sorted([f for f in os.listdir(tagdir) if f.endswith('_optim_states.pt')], key=_rank_of)
    mfiles = sorted([f for f in os.listdir(tagdir) if f.endswith('_model_states.pt')], key=_rank_of)
    osds = [torch.load(os.path.join(tagdir, f), map_location='cpu')['optimizer_state_dict'] for f in ofiles]
    ms = torch.load(os.path.join(tagdir, mfiles[0]), map_location='cpu')
    W = osds[0]['partition_count']
    assert len(ofiles) == W == len(mfiles)
    flats = [torch.cat(o['fp32_flat_groups']) for o in osds]
    merged = OrderedDict()
    for d in ms['param_shapes']:
        merged.update(d)
    out = OrderedDict()
    off = 0
    for n, s in merged.items():
        k = int(np.prod(list(s)))
        p = int(math.ceil(k / W))
        out[n] = torch.cat([f[off:off + p] for f in flats])[:k].view(list(s)).clone()
        off += p
    assert off == flats[0].numel()
    return out, ms


def _bits_equal(a, b):
    if a.dtype != b.dtype or list(a.shape) != list(b.shape):
        return False
    if a.dtype in (torch.bfloat16, torch.float16):
        return torch.equal(a.contiguous().view(torch.int16), b.contiguous().view(torch.int16))
    if a.dtype == torch.float32:
        return torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))
    return torch.equal(a, b)


def verify(report):
    ok = True

    def check(cond, msg):
        nonlocal ok
        if not cond:
            ok = False
            print('FAIL:', msg)
    variants = [('zero2-bf16', 'xtuner-zero2-bf16/iter_8.pth', torch.bfloat16),
                ('zero2-fp16', 'xtuner-zero2-fp16/iter_8.pth', torch.float16),
                ('zero2-bf16-xattn', 'xtuner-zero2-bf16-xattn/iter_8.pth', torch.bfloat16),
                ('workdir-iter_8', 'xtuner-workdir/iter_8.pth', torch.bfloat16),
                ('workdir-iter_4', 'xtuner-workdir/iter_4.pth', torch.bfloat16)]
    for tag, rel, dt in variants:
        tagdir = os.path.join(HERE, rel)
        rec, ms, notes = reconstruct_zero2(tagdir)
        exp = read_safetensors(os.path.join(EXP, f'xtuner-{tag}-master-f32.safetensors'))
        check(list(rec) == [n for g in ms['param_shapes'] for n in g], f'{tag}: order')
        check(set(rec) == set(exp), f'{tag}: names')
        check(all(_bits_equal(rec[n], exp[n]) for n in exp), f'{tag}: master values')
        # bf16/fp16 self-check: module == RNE(master), bit for bit
        mod = ms['module']
        check(all(_bits_equal(mod[n].contiguous(), rec[n].to(dt)) for n in rec), f'{tag}: module != RNE(master)')
        not_repr = sum(int((rec[n].to(dt).float() != rec[n]).sum()) for n in rec)
        total = sum(rec[n].numel() for n in rec)
        check(not_repr > total // 2, f'{tag}: masters too often 16-bit representable ({not_repr}/{total})')
        modexp_path = os.path.join(EXP, f'xtuner-{tag}-module-16.safetensors')
        if os.path.exists(modexp_path):
            mexp = read_safetensors(modexp_path)
            check(list(mexp) and all(_bits_equal(mod[n].contiguous(), mexp[n]) for n in mexp),
                  f'{tag}: module file')
            check(set(mexp) == set(mod), f'{tag}: module names')
        # module tensors of one group share one storage
        for grp in ms['param_shapes']:
            ptrs = {mod[n].storage().data_ptr() for n in grp}
            check(len(ptrs) == 1, f'{tag}: group storage not shared')
        W = ms['dp_world_size']
        if W > 10:
            lex, _, _ = reconstruct_zero2(tagdir, numeric=False)
            bad = sum(1 for n in exp if not _bits_equal(lex[n], exp[n]))
            check(bad > 0, f'{tag}: lexicographic rank order should corrupt weights')
            report.setdefault('lexicographic_mismatches', {})[tag] = bad
        report.setdefault('zero2_tolerance_notes', {})[tag] = notes
        report.setdefault('bf16_not_representable', {})[tag] = f'{not_repr}/{total}'
    # zero3
    rec, ms = reconstruct_zero3(os.path.join(HERE, 'xtuner-zero3-bf16/iter_8.pth'))
    exp = read_safetensors(os.path.join(EXP, 'xtuner-zero3-bf16-master-f32.safetensors'))
    check(set(rec) == set(exp) and all(_bits_equal(rec[n], exp[n]) for n in exp), 'zero3 masters')
    check(all(ms['module'][n].numel() == 0 for n in rec), 'zero3 placeholders')
    # single / legacy
    mexp = read_safetensors(os.path.join(EXP, 'xtuner-zero2-bf16-module-16.safetensors'))
    for fn in ('xtuner-single.pth', 'xtuner-legacy.pth'):
        ck = torch.load(os.path.join(HERE, fn), map_location='cpu')
        sd = ck['state_dict']
        check(set(sd) == set(mexp) and all(_bits_equal(sd[n].contiguous(), mexp[n]) for n in mexp), fn)
    # adapter / projector naming
    for tag in ('zero2-bf16', 'zero2-fp16', 'zero2-bf16-xattn', 'zero3-bf16', 'workdir-iter_8'):
        m = read_safetensors(os.path.join(EXP, f'xtuner-{tag}-master-f32.safetensors'))
        a = read_safetensors(os.path.join(EXP, f'xtuner-{tag}-adapter-f32.safetensors'))
        p = read_safetensors(os.path.join(EXP, f'xtuner-{tag}-projector-f32.safetensors'))
        check(all(_bits_equal(a[peft_name(n)], m[n]) for n in m if n.startswith('llm.')), f'{tag}: adapter')
        check(all(_bits_equal(p[n[len('projector.'):]], m[n]) for n in m if n.startswith('projector.')),
              f'{tag}: projector')
        check(all('.default.' not in k and k.startswith('base_model.model.model.layers.') for k in a), tag)
    # vision/connector reference: recompute from files and compare to the mirror implementation
    ref = read_safetensors(os.path.join(EXP, 'pallava-vision-connector.safetensors'))
    w = read_safetensors(os.path.join(HERE, 'tiny-plip', 'model.safetensors'))
    hs = vision_forward(w, ref['pixel_values'])
    check(all(_bits_equal(hs[i], ref[f'vision_hidden_states.{i}']) for i in range(len(hs))), 'vision hidden states')
    for tag, pre in (('zero2-bf16', ''), ('zero2-bf16-xattn', 'xattn.')):
        P = read_safetensors(os.path.join(EXP, f'xtuner-{tag}-projector-f32.safetensors'))
        mirror = _MirrorQFormer(bool(pre))
        mirror.load_state_dict(P, strict=True)
        mirror.eval()
        with torch.no_grad():
            if pre:
                y = mirror(ref['selected_features'], ref['xattn.patch_features'], ref['xattn.patch_mask'])
            else:
                y = mirror(ref['selected_features'], None, None)
        diff = float((y - ref[pre + 'connector_output']).abs().max())
        report.setdefault('connector_mirror_maxdiff', {})[tag] = diff
        check(diff < 1e-5, f'{tag}: mirror connector differs by {diff}')
    print('verify:', 'OK' if ok else 'FAILED')
    return ok

# ================================================================================================================
# main
# ================================================================================================================


def clean(paths):
    for p in paths:
        full = os.path.join(HERE, p)
        if os.path.isdir(full):
            shutil.rmtree(full)
        elif os.path.exists(full):
            os.remove(full)


OWN = ['tiny-plip', 'xtuner-zero2-bf16', 'xtuner-zero2-fp16', 'xtuner-zero2-bf16-xattn', 'xtuner-zero3-bf16',
       'xtuner-single.pth', 'xtuner-legacy.pth', 'xtuner-workdir']


def generate(report):
    clean(OWN)
    os.makedirs(EXP, exist_ok=True)
    for f in os.listdir(EXP):
        if f.startswith('xtuner-') or f.startswith('pallava-'):
            os.remove(os.path.join(EXP, f))
    llm = llm_lora_specs()
    proj = projector_specs(False)
    proj_x = projector_specs(True)
    specs = llm + proj
    specs_x = llm + proj_x
    names = [n for n, _ in specs]

    # ---- 1. ZeRO-2 bf16, W=11, 3 groups: LoRA layer 0 | LoRA layer 1 | projector ----
    snap = emulate_training(specs, torch.bfloat16, seed=101)[STEPS]
    groups = [[n for n in names if '.layers.0.' in n], [n for n in names if '.layers.1.' in n],
              [n for n in names if n.startswith('projector.')]]
    lay, saved = write_zero2(os.path.join(HERE, 'xtuner-zero2-bf16', 'iter_8.pth'), specs, groups, 11,
                             torch.bfloat16, snap, config_text('bf16', 2), 101, STEPS)
    report['zero2-bf16'] = dict(W=11, groups=[dict(n_params=len(g), numel=l['numel'], padded=l['padded'],
                                                   partition=l['ps'], padding_last_rank=l['paddings'][-1])
                                              for g, l in zip(groups, lay)],
                                saved_lengths_per_rank=saved)
    write_expected('zero2-bf16', specs, snap)
    bf16_snap = snap

    # ---- 2. ZeRO-2 fp16, W=11, one group per parameter (mmengine paramwise_cfg) ----
    snap = emulate_training(specs, torch.float16, seed=202, loss_scale=65536.0)[STEPS]
    groups = [[n] for n in names]
    lay, saved = write_zero2(os.path.join(HERE, 'xtuner-zero2-fp16', 'iter_8.pth'), specs, groups, 11,
                             torch.float16, snap, config_text('fp16', 2), 202, STEPS)
    report['zero2-fp16'] = dict(W=11, n_groups=len(groups),
                                distinct_layouts=sorted({(l['numel'], l['padded'], l['ps'], l['paddings'][-1])
                                                         for l in lay}),
                                saved_lengths_for_32_element_groups=[s[groups.index(
                                    ['projector.model.norm.bias'])] for s in saved])
    write_expected('zero2-fp16', specs, snap)

    # ---- 3. ZeRO-2 bf16 with crossattention, W=4, 2 groups: llm | projector ----
    snap = emulate_training(specs_x, torch.bfloat16, seed=303)[STEPS]
    names_x = [n for n, _ in specs_x]
    groups = [[n for n in names_x if n.startswith('llm.')], [n for n in names_x if n.startswith('projector.')]]
    lay, saved = write_zero2(os.path.join(HERE, 'xtuner-zero2-bf16-xattn', 'iter_8.pth'), specs_x, groups, 4,
                             torch.bfloat16, snap, config_text('bf16', 2, xattn=True), 303, STEPS)
    report['zero2-bf16-xattn'] = dict(W=4, groups=[dict(numel=l['numel'], padded=l['padded'], partition=l['ps'],
                                                        padding_last_rank=l['paddings'][-1]) for l in lay])
    write_expected('zero2-bf16-xattn', specs_x, snap)
    xattn_snap = snap

    # ---- 4. ZeRO-3 bf16, W=3, 2 groups ----
    snap = emulate_training(specs, torch.bfloat16, seed=404)[STEPS]
    groups = [[n for n in names if n.startswith('llm.')], [n for n in names if n.startswith('projector.')]]
    PY311_ENUM_PICKLE[0] = True
    try:
        info = write_zero3(os.path.join(HERE, 'xtuner-zero3-bf16', 'iter_8.pth'), specs, groups, 3, torch.bfloat16,
                           snap, config_text('bf16', 3), 404, STEPS)
    finally:
        PY311_ENUM_PICKLE[0] = False
    report['zero3-bf16'] = dict(W=3, n_groups=2, per_param_padding=sorted({(int(np.prod(s)),) + info[n]
                                                                           for n, s in specs}))
    write_expected('zero3-bf16', specs, snap, with_module=False)

    # ---- 5. single mmengine .pth (zip via BytesIO -> prefix 'archive') and legacy stream ----
    sd = module_state_dict(specs, OrderedDict((n, bf16_snap['w16'][n].clone()) for n in names))
    # one transposed view and two offset views (exercise strides / storage_offset)
    qa = 'llm.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight'
    sd[qa] = sd[qa].t().contiguous().t()                                 # [8,64], stride (1,8)
    nw, nb = 'projector.model.norm.weight', 'projector.model.norm.bias'
    both = torch.stack([sd[nw], sd[nb]])                                 # one [2,32] storage
    sd[nw], sd[nb] = both[0], both[1]                                    # storage_offset 0 and 32
    sd._metadata = OrderedDict()                                         # mmengine weights_to_cpu keeps _metadata
    cfg = config_text('bf16', 2)
    single = OrderedDict([
        ('meta', OrderedDict([('epoch', 0), ('iter', STEPS), ('cfg', cfg), ('seed', SEED),
                              ('experiment_name', 'pallava_tiny_config'), ('time', FIXED_TIME),
                              ('mmengine_version', MMENGINE_VERSION)])),
        ('state_dict', sd),
        ('message_hub', message_hub_state(cfg, STEPS, fake_losses(101, STEPS), [LR] * STEPS)),
    ])
    save_zip_via_bytesio(dict(single), os.path.join(HERE, 'xtuner-single.pth'))
    save_legacy(dict(single), os.path.join(HERE, 'xtuner-legacy.pth'))

    # ---- 6. work dir: ZeRO-2 bf16, W=2, ONE group (stock xtuner --deepspeed), iter_4 and iter_8 ----
    wd = os.path.join(HERE, 'xtuner-workdir')
    snaps = emulate_training(specs, torch.bfloat16, seed=505, snapshots=(4, 8))
    for it in (4, 8):
        write_zero2(os.path.join(wd, f'iter_{it}.pth'), specs, [names], 2, torch.bfloat16, snaps[it],
                    config_text('bf16', 2), 505, it)
    write_expected('workdir-iter_8', specs, snaps[8])
    write_safetensors(os.path.join(EXP, 'xtuner-workdir-iter_4-master-f32.safetensors'), snaps[4]['master'])
    with open(os.path.join(wd, 'last_checkpoint'), 'w') as f:
        f.write('/mnt/petrelfs/zhangsan/PA-LLaVA/work_dirs/pallava_tiny_config/iter_8.pth')   # no newline
    with open(os.path.join(wd, 'pallava_tiny_config.py'), 'w') as f:
        f.write(cfg)
    with open(os.path.join(wd, 'zero_to_fp32.py'), 'w') as f:
        f.write('#!/usr/bin/env python\n# Placeholder for the zero_to_fp32.py script that DeepSpeed copies into the '
                'save directory.\n# llavapack must ignore it (never execute it).\n')

    # ---- 7. tiny PLIP + reference activations ----
    w = make_vision_weights()
    write_tiny_plip(w)
    g = torch.Generator().manual_seed(777)
    pixel = torch.rand(1, 3, 32, 32, generator=g) * 3.9 - 1.8           # roughly the CLIP-normalised range
    hs = vision_forward(w, pixel)
    sel = hs[-2][:, 1:].contiguous()                                     # visual_select_layer = -2, drop CLS
    ref = OrderedDict([('pixel_values', pixel)])
    for i, h in enumerate(hs):
        ref[f'vision_hidden_states.{i}'] = h.contiguous()
    ref['selected_features'] = sel
    P = OrderedDict((n[len('projector.'):], bf16_snap['master'][n]) for n, _ in proj)
    trace = []
    ref['connector_output'] = connector_forward(P, sel, trace=trace).contiguous()
    ref['connector_trace.embeddings_ln'] = trace[0].contiguous()
    for j in range(QF_LAYERS):
        ref[f'connector_trace.layer.{j}'] = trace[1 + j].contiguous()
    ref['connector_trace.final_norm'] = trace[-1].contiguous()
    # cross-attention variant: 3 sub-tiles of 16 tokens, the last one is padding (mask 0), as PA-LLaVA builds it
    patches = torch.randn(1, 3 * VIS_TOKENS, QF_HIDDEN, generator=g)
    mask = torch.zeros(1, 3 * VIS_TOKENS, dtype=torch.long)
    mask[0, :2 * VIS_TOKENS] = 1
    Px = OrderedDict((n[len('projector.'):], xattn_snap['master'][n]) for n, _ in proj_x)
    trace = []
    ref['xattn.patch_features'] = patches
    ref['xattn.patch_mask'] = mask
    ref['xattn.connector_output'] = connector_forward(Px, sel, patches, mask, trace=trace).contiguous()
    ref['xattn.connector_trace.embeddings_ln'] = trace[0].contiguous()
    for j in range(QF_LAYERS):
        ref[f'xattn.connector_trace.layer.{j}'] = trace[1 + j].contiguous()
    ref['xattn.connector_trace.final_norm'] = trace[-1].contiguous()
    # sanity: masked tokens must not matter
    p2 = patches.clone()
    p2[0, 2 * VIS_TOKENS:] = 5.0
    same = connector_forward(Px, sel, p2, mask)
    assert torch.equal(same, ref['xattn.connector_output'])
    write_safetensors(os.path.join(EXP, 'pallava-vision-connector.safetensors'), ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--verify-only', action='store_true')
    ap.add_argument('--no-verify', action='store_true')
    args = ap.parse_args()
    report = {}
    if not args.verify_only:
        generate(report)
    ok = True
    if not args.no_verify:
        ok = verify(report)
    for k, v in report.items():
        print(f'{k}: {json.dumps(v, default=str)}')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
