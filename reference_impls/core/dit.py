"""The tiny diffusion transformer: a second substrate network, next to the UNet.

`TinyDiT` is a `diffusers.DiTTransformer2DModel` (Peebles & Xie's DiT: patchify,
transformer blocks with adaLN-Zero conditioning, linear unpatchify) on the same
16x16 one-channel digits as the UNet, trained with the same v-prediction
objective, the same noise schedule (`model.SCHEDULE_CONFIG`) and the same
recipe as the UNet teacher (`training.FULL_TRAIN`: AdamW, lr 2e-3, warm-up 200,
cosine decay, batch 64, EMA 0.999, seed 0) but for `DIT_TRAIN_STEPS` = 1000
steps instead of 8000: the machine it was trained on (2 shared CPU cores) had
no time for more. `python -m reference_impls.train dit` therefore also trains
a UNet with exactly the DiT's config (`dit_train_config()`; load it with
`training.load_teacher(dit_train_config(), device, train_if_missing=False)`),
so that the backbone demo compares the two at an equal training budget.

Architecture (`DIT_CONFIG`): patch size 2, so 64 tokens of width 64; 5 blocks
of 4-head self-attention (head dim 16) and a GELU MLP (x4); out_channels=1
(no learned variance). 486,020 parameters against the UNet's 453,793 (+7%).
In diffusers' DiT every block has its own timestep-embedding MLP (256 -> 64 ->
64) inside its adaLN-Zero norm: ~21k of each block's ~95k parameters.

Unconditional: DiT's adaLN-Zero embeds a class label, so the model has one
class (`num_embeds_ada_norm=1`) and `forward` always feeds label 0; the label
dropout that diffusers adds for classifier-free guidance is switched off
(`dropout_prob = 0`), so the null-class row of each block's label table
(64 parameters per block, counted above) is never used.

Interface (what the harness, the trainer and the caching demo rely on):

* `net(x, t)` -> an object with `.sample` (`Transformer2DModelOutput`), like
  `UNet2DModel`: `x` is (B, 1, 16, 16), `t` an integer timestep tensor of shape
  (B,) or a scalar (broadcast to B). `class_labels=` may still be passed by
  keyword. `return_dict=False` gives a tuple.
* `net.transformer_blocks`: the top-level `nn.ModuleList` of the 5
  `BasicTransformerBlock`s, which diffusers' cache hooks look for
  (`apply_first_block_cache`, `apply_pyramid_attention_broadcast` (attention
  modules are `transformer_blocks.<i>.attn1`, self-attention), `apply_faster_cache`,
  `apply_taylorseer_cache`, `apply_mag_cache`). FasterCache skips attention at
  its first call if that call's timestep lies inside `timestep_skip_range` and
  then fails on an empty cache: start a run outside the range (t=999 is).
* `TinyDiT` subclasses `diffusers.models.cache_utils.CacheMixin`, so
  `net.enable_cache(config)`, `net.disable_cache()` and
  `with net.cache_context("cond"): ...` work. The state-keeping hooks
  (FirstBlockCache, FasterCache, ...) need a cache context around the calls of
  one sampling run, e.g.

      from diffusers.hooks import FirstBlockCacheConfig
      net, info = dit_for(ctx, params)
      net.enable_cache(FirstBlockCacheConfig(threshold=0.2))
      with net.cache_context("cond"):
          x = harness.sample(CountingModel(net), scheduler, noise, steps=20)
      net.disable_cache()

  Between runs, `net.disable_cache()` removes the hooks with their state;
  enable again for the next run. `tests/refimpl/test_backbone.py` checks that
  FirstBlockCache at threshold 0 reproduces the plain model, that a huge
  threshold reuses the cache on the second call, and that after
  `disable_cache()` the output is the plain model's again.
* The final adaLN (`proj_out_1`) re-computes block 0's conditioning through
  `transformer_blocks[0].norm1.emb`, outside the block's hooks (diffusers' code).

Functions: `make_dit()` (random weights), `dit_key(cfg)` (the checkpoint key:
data hash, `DIT_CONFIG`, `SCHEDULE_CONFIG`, train config), `load_dit(device,
train_if_missing=False, cfg=None) -> (model, source)` (committed weights first,
then the user cache, via `checkpoints.find_checkpoint`; trains on a miss only if
asked), `dit_for(ctx, params) -> (model, info)` (like `training.teacher_for`; the
committed weights only). Retrain the committed weights (the DiT, then the
equal-budget UNet) with `python -m reference_impls.train dit`.
"""

from __future__ import annotations

from typing import Optional

import torch

from .checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta
from .data import IMAGE_SIZE, digits_split
from .model import SCHEDULE_CONFIG
from .paths import cache_dir

DIT_CONFIG = dict(
    num_attention_heads=4,
    attention_head_dim=16,
    in_channels=1,
    out_channels=1,
    num_layers=5,
    sample_size=IMAGE_SIZE,
    patch_size=2,
    num_embeds_ada_norm=1,
    norm_num_groups=1,  # unused by the adaLN-Zero path; diffusers' default 32 is meaningless here
    norm_type="ada_norm_zero",
)

DIT_TRAIN_STEPS = 1000


def dit_train_config():
    """The committed DiT's training: FULL_TRAIN's recipe at DIT_TRAIN_STEPS steps (also the equal-budget UNet's)."""
    from .training import TrainConfig

    return TrainConfig(steps=DIT_TRAIN_STEPS)

_DIT_CLASS = None


def _dit_class():
    """TinyDiT, built on first use so importing this module does not import diffusers."""
    global _DIT_CLASS
    if _DIT_CLASS is not None:
        return _DIT_CLASS
    from diffusers import DiTTransformer2DModel
    from diffusers.models.cache_utils import CacheMixin

    class TinyDiT(CacheMixin, DiTTransformer2DModel):
        """An unconditional DiT callable as `net(x, t)` like UNet2DModel; hookable by diffusers' caches."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for block in self.transformer_blocks:
                block.norm1.emb.class_embedder.dropout_prob = 0.0  # unconditional: never drop the (single) label
                # adaLN-Zero as the DiT paper initialises it (diffusers leaves PyTorch's default init): every
                # block's shift/scale/gate regression starts at zero, so each block starts as the identity
                torch.nn.init.zeros_(block.norm1.linear.weight)
                torch.nn.init.zeros_(block.norm1.linear.bias)
            # ... and the final adaLN modulation and output projection start at zero (the paper's init)
            for layer in (self.proj_out_1, self.proj_out_2):
                torch.nn.init.zeros_(layer.weight)
                torch.nn.init.zeros_(layer.bias)

        def forward(self, hidden_states, timestep=None, class_labels=None, cross_attention_kwargs=None,
                    return_dict: bool = True):
            b = hidden_states.shape[0]
            t = timestep if torch.is_tensor(timestep) else torch.tensor(timestep)
            t = t.to(hidden_states.device)
            if t.ndim == 0:
                t = t.expand(b)
            if class_labels is None:
                class_labels = torch.zeros(b, dtype=torch.long, device=hidden_states.device)
            return super().forward(hidden_states, timestep=t, class_labels=class_labels,
                                   cross_attention_kwargs=cross_attention_kwargs, return_dict=return_dict)

    _DIT_CLASS = TinyDiT
    return TinyDiT


def make_dit() -> torch.nn.Module:
    """A freshly initialised TinyDiT (PyTorch default init, then the paper's zeros for adaLN-Zero and the output layer)."""
    return _dit_class()(**DIT_CONFIG)


def dit_key(cfg=None) -> str:
    cfg = cfg or dit_train_config()
    return config_hash("dit", digits_split().data_hash, DIT_CONFIG, SCHEDULE_CONFIG, cfg.to_dict())


def train_dit(cfg=None, device: Optional[torch.device] = None, progress=None, log_every: int = 500):
    """Train a TinyDiT from scratch with `train_diffusion`; return (EMA model, info)."""
    from .training import train_diffusion

    cfg = cfg or dit_train_config()
    return train_diffusion(cfg, device or torch.device("cpu"), progress, log_every=log_every, model=make_dit())


def save_dit(model, cfg, info: dict, folder, command: str = "python -m reference_impls.train dit"):
    meta = training_meta(cfg, command, info, DIT_CONFIG, digits_split().data_hash, IMAGE_SIZE)
    return save_checkpoint(model, "dit", dit_key(cfg), folder, meta)


def load_dit(device: Optional[torch.device] = None, train_if_missing: bool = False, cfg=None, progress=None):
    """The trained TinyDiT (EMA weights, eval mode) and where it came from ('committed', 'cache', 'trained now')."""
    cfg = cfg or dit_train_config()
    device = device or torch.device("cpu")
    key = dit_key(cfg)
    path, where = find_checkpoint("dit", key)
    model = make_dit()
    if path is None:
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint for dit-{key}; run 'python -m reference_impls.train dit'")
        trained, info = train_dit(cfg, device, progress, log_every=0 if cfg.steps < 1000 else 500)
        command = "python -m reference_impls.train dit" + ("" if cfg == dit_train_config() else " (non-default config)")
        path = save_dit(trained, cfg, info, cache_dir(), command)
        where = "trained now"
    load_weights(model, path)  # exactly what was stored (fp16-rounded weights)
    return model.to(device).eval(), where


def dit_for(ctx, params: dict):
    """The trained TinyDiT on the run's device and its 'model' entry for a result."""
    from .harness import model_info

    ctx.progress.report(0.0, "loading the tiny DiT")
    model, source = load_dit(ctx.device)
    return model, model_info(model, source, dit_key(), backbone="dit", config=dict(DIT_CONFIG),
                             train_config=dit_train_config().to_dict())
