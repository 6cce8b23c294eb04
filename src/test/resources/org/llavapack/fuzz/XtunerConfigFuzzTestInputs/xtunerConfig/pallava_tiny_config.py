# Copyright (c) OpenMMLab. All rights reserved.
# Tiny PA-LLaVA test config (llavapack fixtures). Trained with:
#   NPROC_PER_NODE=... xtuner train pallava_tiny_config.py --deepspeed deepspeed_zero2   (bf16)
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
max_length = int(256 - 16)
anyres_image = True

# Projector (Q-Former connector). The tiny BERT config overrides bert-base-uncased:
# hidden_size = encoder_width = 32, num_attention_heads = 4, intermediate_size = 64,
# layer_norm_eps = 1e-12, hidden_act = 'gelu'
cross_attention_freq = 1
num_hidden_layers = 2
projector_depth = 1
add_cross_attention = False

# Scheduler & Optimizer
batch_size = 1  # per_device
accumulative_counts = 1
dataloader_num_workers = 0
max_epochs = 1
optim_type = AdamW
lr = 0.002
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
        type=LoraConfig, r=8, lora_alpha=16, lora_dropout=0.05, bias='none', task_type='CAUSAL_LM'),
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
    paramwise_cfg=dict(custom_keys={'projector': dict(lr_mult=1e-4 / 2e-4), 'llm': dict(lr_mult=2e-4 / 2e-4)}),
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
randomness = dict(seed=20240612, deterministic=False)
log_processor = dict(by_epoch=False)
