"""Caching: reuse the UNet's deep features between sampling steps (DeepCache).

The technique
    Two neighbouring steps of a diffusion sampler feed the network almost the
    same input, and the deep, low-resolution part of a UNet changes slowly
    from one step to the next while the shallow, full-resolution part carries
    the detail. DeepCache (Ma, Fang & Wang 2024) exploits this: every N-th
    step is a full network evaluation that also stores the feature entering
    the up-path at one skip connection (the cached *branch*); the N-1 steps in
    between recompute only the layers above that skip connection (the first
    down layers and the last up layers) and take everything below from the
    cache. No training, no new weights.

    Here the UNet is read as a flat list of layers: `conv_in` and every down
    resnet or downsampler makes one skip tensor, every up resnet consumes one.
    Branch b is the b-th skip counted from the top (0 = the output of
    `conv_in`, the shallowest and cheapest; 5 = the deepest skip of this
    three-level UNet). A cached step at branch b runs `conv_in`, the first b
    down layers, then the up layers from the one that consumes skip b, whose
    other input comes from the cache; the full step is the UNet's own forward
    (`UNet2DModel.forward`, rewritten over the flat list so the feature can be
    taken, and checked equal to it in the tests). Full steps fall uniformly
    (steps 0, N, 2N, ...; the paper's "uniform" strategy). The cache belongs
    to one sampling run: `reset()` starts a run, and a call whose timestep is
    not below the previous one, or whose batch differs, starts one too, so a
    stale feature can never leak into the next batch.

What is measured
    DeepCache at cache intervals N and branches b on two samplers: DDIM at
    `ddim_steps` (default 50, the paper's setting) and DPM-Solver++(2M) at
    `dpm_steps` (default 20, steps far apart, where neighbouring features
    differ more). Per sampler, in the same run: the full-cost baseline is the
    same sampler without cache at the same steps; the equal-cost baseline is
    the same sampler without cache at as many steps as the cached run costs in
    FLOPs. That step count is chosen from a measurement, not a guess: the run
    first counts the FLOPs of one full and one cached network call
    (`torch.utils.flop_counter`, batch 1) and sets
    steps_equal = round(full_steps + f * cached_steps), f = cached/full FLOPs;
    the harness then counts every row's FLOPs per sample independently.
    NFE: a cached call is a partial evaluation but still one network call, and
    `CountingModel` counts it as one NFE, so a cached run has the NFE of its
    sampler; its cost is read in the FLOPs column (`same_cost_per_nfe=False`).
    Quality: FD and KID in the digits classifier's features, paired over the
    shared noise seeds. The quick configuration runs DDIM at N=3, branch 0
    only (to fit its time); the full one both samplers, N in {2, 3, 5} and
    branches 0 and 1. A cached call's share of the wall time is larger than
    its share of the FLOPs (normalisation, activations and per-layer overhead
    are not FLOPs and weigh more on small tensors), so read both columns.

    The tiny DiT (`backbones=dit`, `core/dit.py`) gets diffusers' own cache
    hooks instead, against the same two baselines on the DiT: FirstBlockCache
    (`apply_first_block_cache` via `enable_cache`: run block 0 and reuse the
    residual of the remaining blocks while block 0's residual changes by less
    than `fbc_threshold`; adaptive, so its FLOPs depend on the data and on the
    batch, whose mean decides), pyramid attention broadcast (reuse each
    block's self-attention output every other step inside t in (100, 800))
    and FasterCache without guidance (skip attention every other step below
    t = 681 and extrapolate it from the two last computed ones). Their
    FLOP-equal step counts come from a FLOP count of a pilot run (32 samples);
    the share of attention calls really computed is a column. The cache state
    is reset for every batch (`_reset_stateful_cache`, as diffusers' pipelines
    do). The DiT rows are not in the full configuration by default (they
    would about double its time): add `backbones=unet,dit`. On the UNet
    these hooks do not apply: FirstBlockCache needs a top-level list of
    transformer blocks, and PAB would touch only the attention, about 7% of
    this UNet's forward.

With your own model (`--model DIR`, `core/usermodel.py`)
    DeepCache runs on your UNet2DModel or UNet2DConditionModel, read as the
    same flat list (down blocks DownBlock2D, AttnDownBlock2D,
    CrossAttnDownBlock2D; up blocks UpBlock2D, AttnUpBlock2D,
    CrossAttnUpBlock2D; mid block UNetMidBlock2D or UNetMidBlock2DCrossAttn;
    positional time embedding); the cross-attention transformers get the
    encoder states the wrapper gives every method (all zeros, one token), a
    class-conditional UNet its class label. A DiT or another layout is
    refused before anything loads, in one line naming what is supported.
    Branches run from 0 to your UNet's skip count minus one. The samplers are
    built from your scheduler config; the full-cost baseline is the sampler
    without cache at the run's steps, the technique rows DeepCache at the
    intervals and branches, the equal-cost baseline the same sampler at the
    FLOP-equal step count (from a FLOP count of one full and one cached call
    of your network). There is no classifier: quality is agreement, each
    row's PSNR and SSIM against the full-cost output from the same noise, and
    the paired PSNR/SSIM difference against the equal-cost row (higher is
    better). `backbones` must stay `unet`; `image_size` does not apply (the
    sample shape is your model's).

Catalog papers: deepcache-2024. (FirstBlockCache, PAB and FasterCache have no
catalog entry; FORA, Delta-DiT and Learning-to-Cache are related DiT caches
that these hooks do not implement.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from ..core import harness
from ..core.schedulers import LABELS, describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import teacher_for
from ..core.usermodel import check_steps, model_for

SAMPLERS = ("ddim", "dpmsolver++")
BACKBONES = ("unet", "dit")


# ---------------------------------------------------------------------------
# the technique: DeepCacheConfig and apply_deepcache
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeepCacheConfig:
    interval: int = 3  # N: one full evaluation, then N-1 cached ones
    branch: int = 0    # skip connection recomputed on cached steps, 0 = shallowest (conv_in's output)

    def __post_init__(self):
        if self.interval < 1:
            raise ValueError(f"DeepCache interval must be at least 1, not {self.interval}")
        if self.branch < 0:
            raise ValueError(f"DeepCache branch must be >= 0, not {self.branch}")


DOWN_BLOCKS = ("DownBlock2D", "AttnDownBlock2D", "CrossAttnDownBlock2D")
UP_BLOCKS = ("UpBlock2D", "AttnUpBlock2D", "CrossAttnUpBlock2D")
MID_BLOCKS = ("UNetMidBlock2D", "UNetMidBlock2DCrossAttn")
SUPPORTED_BLOCKS = set(DOWN_BLOCKS + UP_BLOCKS)
UNETS = ("UNet2DModel", "UNet2DConditionModel")


def layout_problem(class_name: str, config: dict) -> Optional[str]:
    """Why DeepCache cannot run over a UNet of this class and config (None: it can), from the config alone."""
    if class_name not in UNETS:
        return f"a {class_name}, not a {' or '.join(UNETS)}"
    for key, allowed in (("down_block_types", DOWN_BLOCKS), ("up_block_types", UP_BLOCKS)):
        odd = [b for b in config.get(key) or () if b not in allowed]
        if odd:
            return f"{key} has {', '.join(odd)}, not one of {', '.join(allowed)}"
    mid = config.get("mid_block_type") or ("UNetMidBlock2D" if class_name == "UNet2DModel" else "UNetMidBlock2DCrossAttn")
    if mid not in MID_BLOCKS:
        return f"mid_block_type {mid}, not one of {', '.join(MID_BLOCKS)}"
    if config.get("time_embedding_type", "positional") != "positional":
        return f"time_embedding_type {config['time_embedding_type']!r}, not 'positional'"
    if class_name == "UNet2DModel" and config.get("class_embed_type"):
        return f"class_embed_type {config['class_embed_type']!r} (only the plain class embedding is supported)"
    if config.get("class_embeddings_concat") or config.get("addition_embed_type"):
        return "concatenated class or added embeddings"
    return None


def branch_count(config: dict) -> int:
    """Skip connections of a UNet config: conv_in's output, one per down resnet, one per downsampler."""
    blocks = len(config.get("down_block_types") or ())
    per_block = config.get("layers_per_block", 2)
    resnets = sum(per_block) if isinstance(per_block, (list, tuple)) else per_block * blocks
    return 1 + resnets + max(0, blocks - 1)  # every down block but the last one downsamples


def _flatten(unet) -> tuple[list, list]:
    """The UNet's down and up paths as flat lists of (kind, module, attention-or-None or takes-temb)."""
    problem = layout_problem(type(unet).__name__, dict(unet.config))
    if problem is not None:
        raise ValueError(f"apply_deepcache supports a UNet2DModel or UNet2DConditionModel with the blocks "
                         f"{', '.join(sorted(SUPPORTED_BLOCKS))} and a positional time embedding, not {problem}")
    return (_path(unet.down_blocks, "downsamplers", "downsample_type"),
            _path(unet.up_blocks, "upsamplers", "upsample_type"))


def _path(blocks, resamplers: str, resample_type: str) -> list:
    layers = []
    for block in blocks:
        if type(block).__name__ not in SUPPORTED_BLOCKS:
            raise ValueError(f"apply_deepcache: {type(block).__name__} is not supported")
        attentions = getattr(block, "attentions", None) or [None] * len(block.resnets)
        layers += [("resnet", r, a) for r, a in zip(block.resnets, attentions)]
        if getattr(block, resamplers) is not None:
            layers.append(("resample", getattr(block, resamplers)[0], getattr(block, resample_type, None) == "resnet"))
    return layers


def _layer(kind, module, extra, h, emb, context=None):
    """One flat layer; `context`: a UNet2DConditionModel's encoder states for its cross-attention transformers."""
    if kind == "resample":
        return module(h, temb=emb) if extra else module(h)
    h = module(h, emb)
    if extra is None:
        return h
    if type(extra).__name__ == "Transformer2DModel":
        return extra(h, encoder_hidden_states=context, return_dict=False)[0]
    return extra(h)


class DeepCacheUNet(torch.nn.Module):
    """A UNet2DModel or UNet2DConditionModel that runs every `interval`-th call in full and the others from the
    cached deep feature. Called as the library's UNet is (`return_dict`, `class_labels`, `encoder_hidden_states`)."""

    def __init__(self, unet, config: DeepCacheConfig):
        super().__init__()
        self.unet, self.deepcache = unet, config
        self._down, self._up = _flatten(unet)
        n_skips = 1 + len(self._down)
        if config.branch >= n_skips:
            raise ValueError(f"DeepCache branch {config.branch} does not exist: this UNet has {n_skips} skip "
                             f"connections (branches 0-{n_skips - 1})")
        # skips are consumed last-made-first by the up resnets: skip b is taken by resnet number n_skips-1-b
        resnets = [i for i, (kind, _, _) in enumerate(self._up) if kind == "resnet"]
        self._consumer = resnets[n_skips - 1 - config.branch]
        self.reset()

    def reset(self) -> None:
        """Start a new sampling run: the next call is a full evaluation."""
        self.cache: Optional[torch.Tensor] = None
        self.calls, self.full_calls, self._last_t = 0, 0, None

    def forward(self, sample: torch.Tensor, timestep, return_dict: Optional[bool] = None, class_labels=None,
                encoder_hidden_states=None):
        t0 = float(timestep.flatten()[0]) if torch.is_tensor(timestep) else float(timestep)
        if self._last_t is not None and (t0 >= self._last_t or self.cache is None
                                         or self.cache.shape[0] != sample.shape[0]):
            self.reset()  # a new run (timestep not decreasing, or another batch): never reuse its feature
        full = self.calls % self.deepcache.interval == 0
        self.calls, self._last_t = self.calls + 1, t0
        self.full_calls += full
        out = self._forward(sample, timestep, full, class_labels, encoder_hidden_states)
        return (out,) if return_dict is False else out  # usermodel.UserNet asks for the library's tuple

    def _embed(self, sample, timestep, class_labels, context):
        """Step 1 of the library's forward: the time (and class) embedding; the encoder states as the UNet takes them."""
        unet = self.unet
        if type(unet).__name__ == "UNet2DConditionModel":
            emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), None)
            class_emb = unet.get_class_embed(sample=sample, class_labels=class_labels)
            emb = emb + class_emb if class_emb is not None else emb
            emb = unet.time_embed_act(emb) if unet.time_embed_act is not None else emb
            return emb, unet.process_encoder_hidden_states(encoder_hidden_states=context, added_cond_kwargs=None)
        t = timestep if torch.is_tensor(timestep) else torch.tensor([timestep], dtype=torch.long, device=sample.device)
        if t.ndim == 0:
            t = t[None].to(sample.device)
        t = t * torch.ones(sample.shape[0], dtype=t.dtype, device=t.device)
        emb = unet.time_embedding(unet.time_proj(t).to(dtype=unet.dtype))
        if unet.class_embedding is not None and class_labels is not None:
            emb = emb + unet.class_embedding(class_labels).to(dtype=unet.dtype)
        return emb, None

    def _mid(self, h, emb, context):
        if self.unet.mid_block is None:
            return h
        if type(self.unet.mid_block).__name__ == "UNetMidBlock2DCrossAttn":
            return self.unet.mid_block(h, emb, encoder_hidden_states=context)
        return self.unet.mid_block(h, emb)

    def _forward(self, sample, timestep, full: bool, class_labels=None, context=None) -> torch.Tensor:
        # The steps of diffusers' UNet forward (1. time ... 6. post-process), over the flat layer list.
        unet = self.unet
        # 1. time
        emb, context = self._embed(sample, timestep, class_labels, context)
        if getattr(unet.config, "center_input_sample", False):
            sample = 2 * sample - 1.0
        # 2. pre-process; 3. down: a full step runs every down layer, a cached one the first `branch`
        h = unet.conv_in(sample)
        skips = [h]
        for kind, module, extra in self._down if full else self._down[:self.deepcache.branch]:
            h = _layer(kind, module, extra, h, emb, context)
            skips.append(h)
        # 4. mid (full steps only); a cached step resumes the up path with the stored feature
        if full:
            h = self._mid(h, emb, context)
            start = 0
        else:
            h, start = self.cache, self._consumer
        # 5. up: resnets take skips last-made-first; the feature entering the branch's resnet is cached
        for i, (kind, module, extra) in enumerate(self._up[start:], start):
            if kind == "resnet":
                if full and i == self._consumer:
                    self.cache = h
                h = torch.cat([h, skips.pop()], dim=1)
            h = _layer(kind, module, extra, h, emb, context)
        # 6. post-process
        if unet.conv_norm_out is not None:
            h = unet.conv_act(unet.conv_norm_out(h))
        return unet.conv_out(h)


def apply_deepcache(unet, config: DeepCacheConfig):
    """Wrap `unet` (shares its weights) so that it reuses deep features between steps as `config` says.

    A user's network (`usermodel.UserNet`, `net(x, t)` over a diffusers UNet) gets the same wrapper around a
    DeepCacheUNet of its UNet, so it keeps its conditioning (encoder states, class label) and prediction slice."""
    if type(unet).__name__ == "UserNet":
        from types import SimpleNamespace

        folder = SimpleNamespace(class_name=unet.class_name, config=unet.config, sample_shape=unet.sample_shape,
                                 scheduler={"num_train_timesteps": unet.train_timesteps})
        return type(unet)(DeepCacheUNet(unet.model, config), folder)
    return DeepCacheUNet(unet, config)


def deepcache_of(net) -> DeepCacheUNet:
    """The DeepCacheUNet inside what `apply_deepcache` returned (itself, or the one a UserNet wraps)."""
    return net if isinstance(net, DeepCacheUNet) else net.model


@torch.no_grad()
def call_flops(unet, config: DeepCacheConfig, device: torch.device, size: int) -> tuple[float, float]:
    """FLOPs of one full and one cached network call on one sample (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = apply_deepcache(unet, DeepCacheConfig(interval=2, branch=config.branch))
    shape = getattr(unet, "sample_shape", None) or (unet.config.in_channels, size, size)  # a user's model says it
    x = torch.zeros(1, *shape, device=device)
    top = getattr(unet, "train_timesteps", 1000)  # a user's schedule may be shorter than the project's 1000 steps
    out = []
    for t in (int(0.6 * top), int(0.5 * top)):  # the first call of a run is full, the second (N=2) cached
        counter = FlopCounterMode(display=False)
        with counter:
            net(x, torch.tensor([t], device=device))
        out.append(float(counter.get_total_flops()))
    return out[0], out[1]


def cached_cost(steps: int, interval: int, fraction: float) -> float:
    """Network cost of a cached run in full-call units: ceil(steps/N) full calls plus the rest at `fraction`."""
    full = math.ceil(steps / interval)
    return full + fraction * (steps - full)


# ---------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------


def sampler_method(name: str, steps: int, role: str, model=None, backbone: str = "unet",
                   base: Optional[dict] = None) -> harness.Method:
    """The sampler `name` at `steps` steps with the plain network (`model`; None: the run's UNet); `base`: a
    user model's scheduler config instead of the project's schedule."""

    def fn(noise, seed, net):
        return harness.sample(net, make_scheduler(name, base=base), noise, steps=steps)

    prefix = "DiT " if backbone == "dit" else ""
    return harness.Method(f"{prefix}{LABELS[name]} {steps}", fn, steps, role, model=model,
                          extra={"backbone": backbone, "sampler": name, "steps": steps, "cache": "none",
                                 **describe(make_scheduler(name, base=base))})


def deepcache_method(name: str, steps: int, unet, config: DeepCacheConfig, fraction: float,
                     base: Optional[dict] = None) -> harness.Method:
    """The sampler with a DeepCache-wrapped network; the cache is reset for every batch."""
    cached = apply_deepcache(unet, config)

    def fn(noise, seed, net):
        deepcache_of(cached).reset()
        return harness.sample(net, make_scheduler(name, base=base), noise, steps=steps)

    cost = cached_cost(steps, config.interval, fraction)
    return harness.Method(
        f"{LABELS[name]} {steps} + DeepCache N={config.interval} b={config.branch}", fn, steps, "technique",
        model=cached,
        extra={"backbone": "unet", "sampler": name, "steps": steps,
               "cache": f"DeepCache N={config.interval} branch {config.branch}",
               "full_calls": math.ceil(steps / config.interval), "cached_call_flop_fraction": round(fraction, 4),
               "cost_in_full_steps": round(cost, 2), **describe(make_scheduler(name, base=base))})


# ---------------------------------------------------------------------------
# the DiT rows: diffusers' own cache hooks on the tiny DiT (core/dit.py)
# ---------------------------------------------------------------------------

DIT_CACHES = ("fbc", "pab", "fastercache")
DIT_CACHE_LABELS = {"fbc": "FirstBlockCache", "pab": "PAB", "fastercache": "FasterCache"}


def dit_cache_config(kind: str, now, threshold: float):
    """The diffusers hook config for `kind`; `now()` returns the timestep of the call under way."""
    from diffusers.hooks import FasterCacheConfig, FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    if kind == "fbc":  # run block 0; if its residual changed by less than `threshold` (relative), reuse the rest
        return FirstBlockCacheConfig(threshold=threshold)
    if kind == "pab":  # broadcast each block's self-attention output to the next step, inside t in (100, 800)
        return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                               spatial_attention_timestep_skip_range=(100, 800),
                                               current_timestep_callback=now)
    if kind == "fastercache":  # skip attention every other step below t=681, extrapolating from the last two
        return FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=now,
                                 is_guidance_distilled=True)  # no classifier-free guidance here: no uncond branch
    raise ValueError(f"unknown DiT cache {kind!r}; use one of {', '.join(DIT_CACHES)}")


class InCacheContext(torch.nn.Module):
    """A hooked `CacheMixin` model, called inside its cache context (the stateful hooks need one) during a
    sampling run; outside one (the harness's warm-up) the plain model answers, so no hook sees a stray call."""

    def __init__(self, net, plain, state: dict):
        super().__init__()
        self.net, self.state = net, state
        self._plain = [plain]  # not a submodule: the row's parameters are the hooked copy's

    def forward(self, x, t):
        if not self.state["on"]:
            return self._plain[0](x, t)
        with self.net.cache_context("cond"):
            return self.net(x, t)


def dit_cache_method(name: str, steps: int, dit, kind: str, threshold: float) -> harness.Method:
    """The sampler on a copy of the DiT with a diffusers cache hook, its state reset for every batch."""
    import copy

    net = copy.deepcopy(dit)  # its own hooks, so no other row sees them
    state = {"t": 1000, "on": False, "attention": 0, "calls": 0}
    net.register_forward_pre_hook(lambda mod, args: state.update(t=int(args[1].flatten()[0])))  # net(x, t)
    net.register_forward_pre_hook(lambda mod, args: state.update(calls=state["calls"] + state["on"]))
    for block in net.transformer_blocks:  # to_q runs only when the attention is really computed (not reused)
        block.attn1.to_q.register_forward_hook(lambda *a: state.update(attention=state["attention"] + state["on"]))
    net.enable_cache(dit_cache_config(kind, lambda: state["t"], threshold))

    def fn(noise, seed, counting):
        net._reset_stateful_cache()  # diffusers keeps the residuals of the last run (or warm-up) until reset
        state["on"] = True
        try:
            return harness.sample(counting, make_scheduler(name), noise, steps=steps)
        finally:
            state["on"] = False

    def report():
        share = state["attention"] / (state["calls"] * len(net.transformer_blocks)) if state["calls"] else None
        return {"attention_computed_share": round(share, 4) if share is not None else None}

    label = f"DiT {LABELS[name]} {steps} + {DIT_CACHE_LABELS[kind]}" + (f" {threshold:g}" if kind == "fbc" else "")
    return harness.Method(label, fn, steps, "technique", model=InCacheContext(net, dit, state), report=report,
                          extra={"backbone": "dit", "sampler": name, "steps": steps, "cache": DIT_CACHE_LABELS[kind],
                                 **describe(make_scheduler(name))})


@torch.no_grad()
def run_flops(method: harness.Method, model, device: torch.device, size: int, n: int) -> float:
    """FLOPs per sample of `method` on `n` samples of fixed noise (a pilot that sets the equal-cost steps)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = harness.CountingModel(method.model if method.model is not None else model)
    counter = FlopCounterMode(display=False)
    with counter:
        method.fn(harness.make_noise(n, 99, device, size), 99, net)
    return float(counter.get_total_flops()) / n


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _steps(params: dict, name: str) -> int:
    return params["ddim_steps"] if name == "ddim" else params["dpm_steps"]


def _equal_steps(steps: int, fraction: float) -> int:
    return max(1, round(steps * fraction))


def _unet_methods(params, model, ctx, flop_table, base: Optional[dict] = None) -> tuple[list, list]:
    """Per sampler: no cache at the same steps (full cost), every (N, branch), the FLOP-equal step counts."""
    fractions = {}
    for b in params["branches"]:
        full_flops, cached_flops = call_flops(model, DeepCacheConfig(branch=b), ctx.device, params["image_size"])
        fractions[b] = cached_flops / full_flops
        flop_table.append({"backbone": "unet", "cache": f"DeepCache branch {b} (one cached call)",
                           "full_call_mflops": round(full_flops / 1e6, 3),
                           "cached_call_mflops": round(cached_flops / 1e6, 3), "fraction": round(fractions[b], 4)})
    methods, pairs = [], []
    for name in params["samplers"]:
        steps = _steps(params, name)
        full = sampler_method(name, steps, "full-cost", base=base)
        methods.append(full)
        equal_rows = {}
        for n in params["intervals"]:
            for b in params["branches"]:
                tech = deepcache_method(name, steps, model, DeepCacheConfig(interval=n, branch=b), fractions[b],
                                        base)
                equal = _equal_steps(steps, cached_cost(steps, n, fractions[b]) / steps)
                if equal >= steps:
                    raise ParamError(f"parameter 'intervals': N={n} at {steps} steps saves less than one step of "
                                     "FLOPs; use a larger interval or more steps")
                equal_rows.setdefault(equal, sampler_method(name, equal, "equal-cost", base=base))
                methods.append(tech)
                pairs.append((tech.label, full.label, equal_rows[equal].label))
        methods += [equal_rows[k] for k in sorted(equal_rows, reverse=True)]
    return methods, pairs


def _dit_methods(params, dit, ctx, flop_table, notes) -> tuple[list, list]:
    """The same two baselines for diffusers' hooks on the DiT; FLOP-equal steps from a pilot FLOP count."""
    methods, pairs = [], []
    pilot = min(params["batch"], params["n_samples"], 32)
    for name in params["samplers"]:
        steps = _steps(params, name)
        full = sampler_method(name, steps, "full-cost", model=dit, backbone="dit")
        full_flops = run_flops(full, dit, ctx.device, params["image_size"], 1)
        methods.append(full)
        equal_rows = {}
        for kind in params["dit_caches"]:
            tech = dit_cache_method(name, steps, dit, kind, params["fbc_threshold"])
            probe = dit_cache_method(name, steps, dit, kind, params["fbc_threshold"])  # so the pilot is not counted
            fraction = run_flops(probe, dit, ctx.device, params["image_size"], pilot) / full_flops
            flop_table.append({"backbone": "dit", "cache": f"{tech.label} (whole run, {pilot}-sample pilot)",
                               "full_call_mflops": round(full_flops / steps / 1e6, 3),
                               "cached_call_mflops": round(full_flops * fraction / steps / 1e6, 3),
                               "fraction": round(fraction, 4)})
            equal = _equal_steps(steps, fraction)
            methods.append(tech)
            if equal >= steps:  # the hook skipped (almost) nothing here: no cheaper baseline to give it
                notes.append(f"{tech.label}: cost {fraction:.2f} of the uncached run in the pilot, less than one "
                             "step saved, so its equal-cost baseline is the uncached run itself")
                pairs.append((tech.label, full.label, None))
                continue
            equal_rows.setdefault(equal, sampler_method(name, equal, "equal-cost", model=dit, backbone="dit"))
            pairs.append((tech.label, full.label, equal_rows[equal].label))
        methods += [equal_rows[k] for k in sorted(equal_rows, reverse=True)]
    if "fbc" in params["dit_caches"]:
        notes.append("FirstBlockCache decides per batch (on the batch's mean residual change): its FLOPs column counts "
                     "a batch-1 run and its equal-cost steps a pilot batch; attention_computed_share is what the "
                     "working batches really computed.")
    return methods, pairs


def run(params: dict, ctx: RunContext):
    # 1. models: the UNet teacher (always: it is the run's first baseline) or the user's UNet, and the tiny DiT
    model, info, base, notes = model_for(ctx, params, teacher_for)
    flop_table = []
    # 2. methods per backbone and sampler: no cache (full cost), cached, and no cache at the FLOP-equal step count
    methods, pairs = [], []
    if "unet" in params["backbones"]:
        methods, pairs = _unet_methods(params, model, ctx, flop_table, base)
    if "dit" in params["backbones"]:
        from ..core.dit import dit_for

        dit, dit_info = dit_for(ctx, params)
        info = dict(info, dit=dit_info)
        notes.append("The tiny DiT was trained on a reduced budget (core/dit.py) and samples far worse than the UNet: "
                     "its rows compare the hooks with the DiT's own baselines, not with the UNet.")
        more, more_pairs = _dit_methods(params, dit, ctx, flop_table, notes)
        methods, pairs = methods + more, pairs + more_pairs
    # 3. measure, all in one run, repeats interleaved
    measured = harness.measure_all(methods, model, ctx, params)
    # 4. verdicts: each cached run against its sampler without cache, at the same steps and at equal FLOPs
    comparisons = []
    for tech, full, equal in pairs:
        comparisons += measured.compare(tech, full)
        if equal is not None:
            t, e = measured.row(tech), measured.row(equal)
            flop_note = (f"FLOPs/sample {t.flops_per_sample / 1e6:.1f}M vs {e.flops_per_sample / 1e6:.1f}M"
                         if t.flops_per_sample and e.flops_per_sample else "")
            comparisons += measured.compare(tech, equal, flop_note)
        row, no_cache = measured.row(tech), measured.row(full)
        if row.flops_per_sample and no_cache.flops_per_sample:
            row.extra["flops_vs_no_cache"] = round(row.flops_per_sample / no_cache.flops_per_sample, 4)
        row.extra["speedup_vs_no_cache"] = round(no_cache.ms_per_sample / row.ms_per_sample, 3)
    notes.insert(0, "A cached call counts as one NFE (it is one network call, a partial one), so a cached run has "
                    "its sampler's NFE; its cost is in the FLOPs column. FLOP fractions measured: "
                    + "; ".join(f"{r['cache']}: {r['fraction']:.3f}" for r in flop_table) + ".")
    if "unet" in params["backbones"] and base is None:
        notes.append("Wall time of a cached UNet call is a larger share than its FLOPs: the skipped layers are the "
                     "narrow low-resolution ones, and normalisation, activations and per-layer overhead (not "
                     "counted as FLOPs) weigh more at 16x16 on a CPU.")
    # 5. result
    return harness.result(measured, comparisons, params, model=info, notes=notes, tables={"call_flops": flop_table},
                          equal_cost="the same sampler without cache at the step count whose FLOPs equal the "
                                     "cached run's (from a FLOP count of one full and one cached call, or of a "
                                     "pilot run for diffusers' hooks)")


def _check_model(params: dict, folder) -> None:
    """A user's model (--model) must be a UNet whose layout DeepCache maps onto; one ParamError line otherwise."""
    problem = layout_problem(folder.class_name, folder.config)
    if problem is not None:
        raise ParamError(f"option 'model': DeepCache runs on a UNet2DModel or UNet2DConditionModel with down blocks "
                         f"{', '.join(DOWN_BLOCKS)}, up blocks {', '.join(UP_BLOCKS)} and a positional time "
                         f"embedding; {folder.path} is {problem}")
    if params["backbones"] != ["unet"]:
        raise ParamError("parameter 'backbones': with your own model (--model) DeepCache runs on it; use backbones=unet")
    n_skips = branch_count(folder.config)
    if max(params["branches"]) >= n_skips:
        raise ParamError(f"parameter 'branches': your model has {n_skips} skip connections, so branches 0-{n_skips - 1}")
    factor = 2 ** (len(folder.config.get("down_block_types") or ()) - 1)
    if any(side % factor for side in folder.sample_shape[1:]):
        raise ParamError(f"option 'model': sample size {folder.sample_shape[1]}x{folder.sample_shape[2]} is not a "
                         f"multiple of {factor} (the UNet's downsampling); DeepCache here needs one that is")
    check_steps(params, folder, "ddim_steps", "dpm_steps")


def _check(params: dict) -> None:
    if "unet" in params["backbones"]:
        for name, key in (("ddim", "ddim_steps"), ("dpmsolver++", "dpm_steps")):
            if name in params["samplers"] and params[key] <= max(params["intervals"]):
                raise ParamError(f"parameter '{key}': {params[key]} steps leave nothing to cache at interval "
                                 f"{max(params['intervals'])}; use more steps or smaller 'intervals'")
    if "dit" in params["backbones"]:
        from ..core.checkpoints import find_checkpoint
        from ..core.dit import dit_key

        if find_checkpoint("dit", dit_key())[0] is None:
            raise ParamError("parameter 'backbones': the tiny DiT has no trained weights here; run "
                             "'python -m reference_impls.train dit' or use backbones=unet")


DEMO = Demo(
    id="caching",
    title="DeepCache: reuse deep UNet features between steps, against FLOP-equal step counts",
    summary="Cache the UNet's deep features every N steps on DDIM and DPM-Solver++; compare with the same sampler "
            "without cache at the same steps and at the FLOP-equal step count.",
    nodes=("shen2025:system.caching",),
    papers=("deepcache-2024",),
    params=common(n_samples=(150, 500), seeds=(3, 4)) + (
        Param(name="samplers", type=str, many=True, quick=["ddim"], full=list(SAMPLERS), choices=SAMPLERS,
              help="samplers to cache, each with its own two baselines (quick: DDIM only, to fit its time)"),
        Param(name="ddim_steps", type=int, quick=50, full=50, lo=2, hi=1000,
              help="DDIM steps (DeepCache's setting is 50; more steps = neighbours closer, more to reuse)"),
        Param(name="dpm_steps", type=int, quick=20, full=20, lo=2, hi=1000,
              help="DPM-Solver++(2M) steps (steps far apart: the harder case for caching)"),
        Param(name="intervals", type=int, many=True, quick=[3], full=[2, 3, 5], lo=2, hi=50,
              help="cache intervals N: one full network call every N steps"),
        Param(name="branches", type=int, many=True, quick=[0], full=[0, 1], lo=0, hi=5,
              help="skip connection recomputed on cached steps (0 = shallowest, cheapest; 5 = deepest)"),
        Param(name="backbones", type=str, many=True, quick=["unet"], full=["unet"], choices=BACKBONES,
              help="unet: DeepCache (in the project); dit: diffusers' cache hooks on the tiny DiT"),
        Param(name="dit_caches", type=str, many=True, quick=list(DIT_CACHES), full=list(DIT_CACHES),
              choices=DIT_CACHES, help="diffusers hooks on the DiT: FirstBlockCache, pyramid attention "
                                       "broadcast, FasterCache"),
        Param(name="fbc_threshold", type=float, quick=0.1, full=0.1, lo=0.0, hi=2.0,
              help="FirstBlockCache: reuse the remaining blocks when block 0's residual changed by less than this"),
    ),
    run=run,
    check=_check,
    accepts_model=True,
    model_check=_check_model,
    smoke=dict(n_samples=64, seeds=2, samplers=["ddim"], ddim_steps=10, intervals=[3], branches=[0]),
    module=__name__,
    same_cost_per_nfe=False,
    quick_seconds=36,  # measured 2026-12-02: diffatlas demo run caching --quick, idle 2-core CPU, 2 threads
    full_seconds=523,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
)
