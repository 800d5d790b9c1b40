"""Structural pruning: remove whole channels from the trained UNet, then fine-tune briefly.

The technique (Fang, Ma & Wang, "Structural Pruning for Diffusion Models"
(Diff-Pruning), NeurIPS 2023)
    Structural pruning deletes entire output channels of convolutions and
    linear layers, so the pruned network is a smaller dense network that runs
    faster on any hardware (no sparse kernels needed). A UNet couples its
    layers: a channel removed from one convolution must also go from the
    GroupNorm that follows it, from the input of the next convolution, from
    the residual sum it joins and from every skip concatenation that carries
    it. torch-pruning's dependency graph finds those groups; the pruner then
    ranks the channels of each group by an importance score and removes the
    lowest-ranked share (`pruning_ratio`) of every group.

    Diff-Pruning's importance is a first-order Taylor expansion of the
    diffusion loss, |w * dL/dw| summed over a channel's weights, with the
    gradient accumulated over *informative* timesteps only: walking
    t = 0, 1, 2, ... with one fixed batch of images and noise, it stops once
    the loss falls below `thr` (0.05) of the largest loss seen, because the
    late, noisy steps carry little about the content and would add noise to
    the ranking. The paper's model predicts epsilon, whose loss decays with t.
    The substrate model predicts v, whose loss does not (it is large at both
    ends of the chain), so the rule would never stop; here the loss is the
    epsilon-equivalent of the v prediction, eps_hat = alpha_t v_hat +
    sigma_t x_t, which is exactly the loss Diff-Pruning accumulates. After
    pruning, the model is fine-tuned with the teacher's own recipe for a
    fraction (10-20 %) of the teacher's training steps.

    Substrate fact that shapes every ratio: every GroupNorm has 8 groups, and
    torch-pruning removes the same number of channels from each group, so
    16-channel layers (2 per group) can only be kept whole or halved; any
    ratio above zero halves them, and above 0.5 they cannot be pruned at all
    (MACs at 0.75 exceed those at 0.5). MACs therefore fall in steps: ratio
    0.25 keeps about 43 % of the teacher's MACs, 0.5 about 25 %. `round_to`
    is not used (with round_to=8 nothing could be pruned).

What is measured
    The teacher (full cost) and, per pruning ratio, the pruned-and-fine-tuned
    models (Taylor over informative timesteps, as Diff-Pruning; L2
    magnitude; random as a reference row when retrain=true) against the
    equal-cost baseline: the *same pruned architecture re-initialised and
    trained from scratch* with the same budget and recipe (Diff-Pruning's
    "scratch" baseline; only the starting weights differ). Every model uses
    the same sampler, steps and noise. Rows give FD and KID (paired over
    seeds), FLOPs per sample (torch's counter) and wall time; the cost table
    adds MACs per network evaluation (torch-pruning's counter), parameters
    and agreement with the teacher's samples from the same noise (SSIM and
    PSNR: Diff-Pruning's "consistency"). The fine-tuned and scratch models
    are trained by `python -m reference_impls.train pruned` and committed; a
    run re-prunes the teacher's architecture at the same ratio (the channel
    counts depend only on the ratio: every importance removes the same
    number per group), checks every tensor shape and loads the committed
    weights into it. The "no fine-tune" row (full configuration) shows what
    the fine-tune recovers.

With your own model (`--model DIR`, `core/usermodel.py`): pruning without fine-tuning
    A user's UNet2DModel or UNet2DConditionModel (wrapped as `net(x, t)`, its
    conditioning included) is pruned by torch-pruning at each ratio with L2
    magnitude importance (`prune_user_net`), and nothing is trained: Diff-
    Pruning always fine-tunes, and its Taylor importance and the same-MACs
    model trained from scratch both need training data, which a model folder
    does not carry (a Taylor variant on the model's own samples would be a
    different method, not offered). A model pruned without fine-tuning is
    expected to lose agreement with the unpruned one; the run measures how
    much. The full-cost baseline is the unpruned model, the technique rows
    the magnitude-pruned copies, all sampled with the same sampler, steps and
    noise, schedulers built from the user's scheduler config; quality is the
    harness's fidelity mode (PSNR and SSIM against the unpruned output from
    the same noise), cost is MACs per evaluation and parameters
    (torch-pruning's counter), FLOPs per sample and wall time. A DiT,
    retrain=true or Taylor importance alone is refused in one line before
    anything loads (`_check_model`); a layout torch-pruning cannot prune is
    one line when it is pruned. The project-model rules of `_check` still
    apply to the parameters (they are checked before the model is known):
    ratios 0.25 and 0.5.

Catalog papers: structural-pruning-diffusion-models-2023.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import torch

from ..core import harness
from ..core.checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta, verify_checkpoint
from ..core.data import digits_split
from ..core.device import pick_device
from ..core.model import DEFAULT_SCALE, Scale, make_unet, model_config, training_scheduler
from ..core.schedulers import describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import FULL_TRAIN, load_teacher, teacher_for, teacher_key, train_diffusion

IMPORTANCES = ("taylor", "magnitude", "random")
LABELS = {"taylor": "Diff-Pruning (Taylor, informative t)", "magnitude": "magnitude (L2)", "random": "random"}


@dataclass(frozen=True)
class PruneConfig:
    """One pruned (or re-initialised) model: how it was pruned and how long it was trained."""

    ratio: float = 0.5
    importance: str = "taylor"       # taylor | magnitude | random | reinit (the scratch baseline)
    finetune_steps: int = 1000       # 12.5 % of the teacher's 8,000 steps
    taylor_thr: float = 0.05         # Diff-Pruning's threshold on L_t / L_max
    taylor_stride: int = 5           # every 5th timestep t = 0, 5, 10, ... (Diff-Pruning walks every one)
    taylor_batch: int = 64
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def train_config(self):
        """The teacher's recipe (AdamW, lr, warm-up, cosine, EMA), for `finetune_steps` steps."""
        return replace(FULL_TRAIN, steps=self.finetune_steps, seed=self.seed)


# The committed models (ratio, kind). Random pruning, and magnitude at 0.25, need retrain=true: the 2-core
# machine they were trained on was shared, and each 1,000-step training took about half an hour.
COMMITTED = ((0.25, "taylor"), (0.25, "reinit"), (0.5, "taylor"), (0.5, "reinit"), (0.5, "magnitude"))
COMMITTED_RATIOS = (0.25, 0.5)


# ---------------------------------------------------------------------------
# pruning with torch-pruning
# ---------------------------------------------------------------------------


def example_inputs(scale: Scale = DEFAULT_SCALE, device=None) -> dict:
    return {"sample": torch.randn(1, 1, scale.image_size, scale.image_size, device=device),
            "timestep": torch.ones(1, dtype=torch.long, device=device)}


def macs_and_params(unet, scale: Scale = DEFAULT_SCALE) -> tuple[int, int]:
    """Multiply-accumulates of one network evaluation at batch 1 (torch-pruning's counter), and parameters."""
    import torch_pruning as tp

    device = next(unet.parameters()).device
    macs, params = tp.utils.count_ops_and_params(unet, example_inputs(scale, device))
    return int(macs), int(params)


def _importance(kind: str):
    import torch_pruning as tp

    if kind == "taylor":
        return tp.importance.TaylorImportance(multivariable=False)  # |w * dL/dw| per weight, summed per channel
    if kind == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind in ("random", "reinit"):
        return tp.importance.RandomImportance()
    raise ValueError(f"unknown importance {kind!r}; use one of {', '.join(IMPORTANCES)}")


def prune_unet(unet, ratio: float, kind: str = "magnitude", scale: Scale = DEFAULT_SCALE):
    """Remove `ratio` of every channel group of `unet` in place (gradients must be present for 'taylor')."""
    import torch_pruning as tp

    device = next(unet.parameters()).device
    pruner = tp.pruner.BasePruner(unet, example_inputs(scale, device), importance=_importance(kind),
                                  pruning_ratio=ratio, ignored_layers=[unet.conv_out])
    pruner.step()
    fix_resamplers(unet)
    unet.zero_grad(set_to_none=True)
    return unet


def fix_resamplers(unet) -> None:
    """diffusers' resamplers assert the input has `channels` channels: make them agree with their pruned conv."""
    from diffusers.models.resnet import Downsample2D, Upsample2D

    for m in unet.modules():
        if isinstance(m, (Upsample2D, Downsample2D)) and isinstance(getattr(m, "conv", None), torch.nn.Conv2d):
            m.channels = m.conv.in_channels
            m.out_channels = m.conv.out_channels


def pruned_architecture(ratio: float, scale: Scale = DEFAULT_SCALE):
    """The UNet at `scale` pruned at `ratio`: the shapes of every committed model at that ratio.

    Local pruning removes the same number of channels from each group whatever
    the importance, so the channel counts depend only on the ratio; the weights
    are then overwritten by `load_pruned`. Built once per ratio, copied per use.
    """
    return copy.deepcopy(_architecture(ratio, scale))


@functools.lru_cache(maxsize=8)
def _architecture(ratio: float, scale: Scale):
    torch.manual_seed(0)
    return prune_unet(make_unet(scale), ratio, "magnitude", scale)


def taylor_gradients(unet, cfg: PruneConfig, progress=None) -> dict:
    """Accumulate dL/dw over the informative timesteps (Diff-Pruning); return what was used."""
    sched = training_scheduler()
    device = next(unet.parameters()).device
    ac = sched.alphas_cumprod.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = digits_split(unet.config.sample_size).train_x
    x0 = data[torch.randperm(len(data), generator=gen)[:cfg.taylor_batch]].to(device)
    noise = torch.randn(x0.shape, generator=gen).to(device)
    unet.zero_grad(set_to_none=True)
    loss_max, used = 0.0, []
    timesteps = range(0, sched.config.num_train_timesteps, cfg.taylor_stride)
    for i, t in enumerate(timesteps):
        tt = torch.full((x0.shape[0],), t, device=device, dtype=torch.long)
        xt = sched.add_noise(x0, noise, tt)
        v = unet(xt, tt).sample
        # the epsilon the v prediction implies: eps_hat = alpha_t v_hat + sigma_t x_t
        eps = ac[t].sqrt() * v + (1 - ac[t]).sqrt() * xt
        loss = torch.nn.functional.mse_loss(eps, noise)
        loss.backward()
        used.append(t)
        loss_max = max(loss_max, loss.item())
        if progress:
            progress(min(1.0, (i + 1) / len(timesteps) * 2), f"Taylor gradients: t={t}, loss {loss.item():.4f}")
        if loss.item() < cfg.taylor_thr * loss_max:  # L_t / L_max < thr: the remaining steps are uninformative
            break
    return {"taylor_timesteps": [used[0], used[-1]], "taylor_passes": len(used), "taylor_stride": cfg.taylor_stride}


def teacher_gradients(teacher, cfg: PruneConfig, progress=None) -> tuple[dict, dict]:
    """Diff-Pruning's accumulated gradients on a copy of the teacher, by parameter name, and what was used."""
    unet = copy.deepcopy(teacher).train()
    for p in unet.parameters():
        p.requires_grad_(True)
    info = taylor_gradients(unet, cfg, progress)
    return {n: p.grad.detach().clone() for n, p in unet.named_parameters() if p.grad is not None}, info


def make_pruned(teacher, cfg: PruneConfig, scale: Scale = DEFAULT_SCALE, progress=None,
                grads: Optional[tuple[dict, dict]] = None):
    """Prune a copy of `teacher` as `cfg` says (reinit: the pruned architecture, freshly initialised).

    `grads`: Taylor gradients already accumulated on the teacher (`teacher_gradients`), reused across ratios.
    """
    unet = copy.deepcopy(teacher).train()
    for p in unet.parameters():
        p.requires_grad_(True)
    info: dict = {}
    if cfg.importance == "taylor":
        if grads is None:
            info = taylor_gradients(unet, cfg, progress)
        else:
            for name, p in unet.named_parameters():
                p.grad = grads[0][name].clone()
            info = grads[1]
    torch.manual_seed(cfg.seed)
    prune_unet(unet, cfg.ratio, cfg.importance, scale)
    if cfg.importance == "reinit":
        torch.manual_seed(cfg.seed)
        for m in unet.modules():
            if m is not unet and hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return unet.eval(), info


# ---------------------------------------------------------------------------
# the committed models: `python -m reference_impls.train pruned`
# ---------------------------------------------------------------------------


def pruned_key(cfg: PruneConfig) -> str:
    return config_hash("pruned", teacher_key(), cfg.to_dict())


def committed_config(ratio: float, kind: str) -> PruneConfig:
    return PruneConfig(ratio=ratio, importance=kind)


def train_pruned(teacher, cfg: PruneConfig, device: torch.device, scale: Scale = DEFAULT_SCALE, progress=None,
                 log_every: int = 250):
    """Prune (or re-initialise) and train `finetune_steps` steps; return the EMA model and its training record."""
    started = time.perf_counter()
    unet, info = make_pruned(teacher, cfg, scale, progress)
    prune_seconds = time.perf_counter() - started
    model, train_info = train_diffusion(cfg.train_config(), device, progress=progress, log_every=log_every,
                                        scale=scale, model=unet)
    macs, params = macs_and_params(model, scale)
    return model.eval(), dict(info, **train_info, prune_seconds=prune_seconds, macs=macs, parameters=params)


def train_all_pruned(out: Path, force: bool = False, ratios=COMMITTED_RATIOS, kinds=("taylor", "reinit", "magnitude")
                     ) -> None:
    """Train every committed (ratio, kind) among `ratios` x `kinds` that is missing (or all, with `force`)."""
    device = pick_device()
    teacher, _ = load_teacher(device=device, train_if_missing=False)
    teacher_macs, _ = macs_and_params(teacher)
    for ratio in ratios:
        for kind in kinds:
            if (ratio, kind) not in COMMITTED:
                continue
            cfg = committed_config(ratio, kind)
            key = pruned_key(cfg)
            if verify_checkpoint("pruned", key, out) and not force:
                print(f"pruned-{key} ({kind}, ratio {ratio}) present; skipping", flush=True)
                continue
            model, info = train_pruned(teacher, cfg, device)
            meta = training_meta(cfg.train_config(), "python -m reference_impls.train pruned",
                                 dict(info, prune_config=cfg.to_dict(), teacher_key=teacher_key(),
                                      teacher_macs=teacher_macs, macs_share=info["macs"] / teacher_macs),
                                 model_config={"base": model_config(), "pruned_with": "torch-pruning BasePruner, "
                                               f"ratio {ratio}, ignored conv_out"})
            save_checkpoint(model, "pruned", key, out, meta)
            print(f"pruned-{key} ({kind}, ratio {ratio}): {info['macs'] / teacher_macs:.1%} MACs, "
                  f"loss {info['final_loss']:.4f}, {info['train_seconds']:.0f}s", flush=True)


def load_pruned(cfg: PruneConfig, device: torch.device):
    """The committed model for `cfg` in its re-pruned architecture, or (None, 'missing')."""
    path, where = find_checkpoint("pruned", pruned_key(cfg))
    if path is None:
        return None, "missing"
    return fit_weights(pruned_architecture(cfg.ratio), path).to(device).eval(), where


def fit_weights(unet, path: Path):
    """Load a checkpoint into `unet`, first checking every tensor's shape (a clear error if they differ)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = unet.state_dict()
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    extra = [k for k in state if k not in own]
    if bad or extra:
        raise ValueError(f"checkpoint {path.name} does not fit the re-pruned architecture: "
                         f"{len(bad)} tensors differ (e.g. {bad[:2]}), {len(extra)} unexpected; the pruning "
                         "recipe or torch-pruning version changed; retrain with 'python -m reference_impls.train pruned'")
    return load_weights(unet, path)


def checkpoint_record(cfg: PruneConfig) -> dict:
    """The training record in a committed model's sidecar (steps, seconds, MACs)."""
    import json

    path, _ = find_checkpoint("pruned", pruned_key(cfg))
    if path is None:
        return {}
    return json.loads(path.with_suffix(".json").read_text())


# ---------------------------------------------------------------------------
# agreement with the teacher from the same noise (Diff-Pruning's "consistency")
# ---------------------------------------------------------------------------


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) with a Gaussian window, valid positions only; images (N, 1, H, W)."""
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(a.dtype)
    w = (g[:, None] * g[None, :]).view(1, 1, window, window).to(a.device)
    conv = lambda x: torch.nn.functional.conv2d(x, w)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a = conv(a * a) - mu_a ** 2
    var_b = conv(b * b) - mu_b ** 2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-image PSNR in dB (identical images: inf)."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse)


class Agreement:
    """SSIM / PSNR of a model's samples to the teacher's from the same noise (untimed, after the repeats)."""

    def __init__(self, teacher, sample_fn, n: int, device, size: int, seed: int = 4242):
        self.teacher, self.sample_fn, self.n, self.device, self.size, self.seed = teacher, sample_fn, n, device, size, seed
        self._reference: Optional[torch.Tensor] = None

    def _images(self, model) -> torch.Tensor:
        net = harness.CountingModel(model)
        chunks = []
        with torch.no_grad():
            for b0 in range(0, self.n, 250):
                noise = harness.make_noise(min(250, self.n - b0), self.seed + b0, self.device, self.size)
                chunks.append(self.sample_fn(noise, self.seed + b0, net).float().cpu())
        return torch.cat(chunks)

    def of(self, model):
        def report() -> dict:
            if self._reference is None:
                self._reference = self._images(self.teacher)
            mine = self._images(model)
            p = psnr(mine, self._reference)
            return {"ssim_to_teacher": round(float(ssim(mine, self._reference).mean()), 4),
                    "psnr_to_teacher_db": round(float(p[torch.isfinite(p)].mean()), 2) if torch.isfinite(p).any()
                    else float("inf"), "agreement_samples": self.n}
        return report


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _quiet_macs(unet, scale: Scale) -> tuple[int, int]:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # torch-pruning's counter prints a batch-size warning
        return macs_and_params(unet, scale)


def sampler_fn(name: str, steps: int):
    def fn(noise, seed, net):
        return harness.sample(net, make_scheduler(name), noise, steps=steps)
    return fn


def _models(params: dict, teacher, scale: Scale, ctx: RunContext, notes: list[str]) -> dict:
    """(ratio, kind) -> (model, where, training record) for every model the run measures."""
    kinds = list(params["importances"]) + ["reinit"]
    wanted = [(r, k) for r in params["ratios"] for k in kinds]
    out: dict = {}
    for i, (ratio, kind) in enumerate(wanted):
        ctx.progress.stage(0.02 + 0.4 * i / len(wanted), 0.02 + 0.4 * (i + 1) / len(wanted))
        if params["retrain"]:
            cfg = PruneConfig(ratio=ratio, importance=kind, finetune_steps=params["finetune_steps"],
                              taylor_stride=params["taylor_stride"])
            model, info = train_pruned(teacher, cfg, ctx.device, scale, ctx.progress.report, log_every=0)
            out[(ratio, kind)] = (model, "trained now", dict(info, train_config=cfg.train_config().to_dict()))
            continue
        if (ratio, kind) not in COMMITTED:
            notes.append(f"{kind} pruning at ratio {ratio:g} is not committed; its row is left out "
                         "(retrain=true prunes and fine-tunes it now)")
            continue
        cfg = committed_config(ratio, kind)
        model, where = load_pruned(cfg, ctx.device)
        if model is None:
            notes.append(f"no committed model for {kind} at ratio {ratio:g} (run 'python -m reference_impls.train "
                         "pruned'); its row is left out")
            continue
        out[(ratio, kind)] = (model, where, checkpoint_record(cfg))
    if params["no_finetune"]:
        ctx.progress.stage(0.42, 0.5)
        grads = teacher_gradients(teacher, PruneConfig(taylor_stride=params["taylor_stride"]), ctx.progress.report)
        for ratio in params["ratios"]:
            cfg = PruneConfig(ratio=ratio, importance="taylor", taylor_stride=params["taylor_stride"])
            model, _ = make_pruned(teacher, cfg, scale, grads=grads)
            out[(ratio, "taylor-no-ft")] = (model.to(ctx.device), "pruned now, not fine-tuned", {})
    return out


def run(params: dict, ctx: RunContext):
    if ctx.model_path is not None:  # your own model: pruning without fine-tuning (`run_user`)
        return run_user(params, ctx)
    # 1. the teacher, its cost, and the pruned models (committed, or pruned and trained now)
    teacher, info = teacher_for(ctx, params)
    scale = Scale(params["width"], params["image_size"])
    teacher_macs, teacher_params = _quiet_macs(teacher, scale)
    notes: list[str] = []
    models = _models(params, teacher, scale, ctx, notes)
    fn = sampler_fn(params["sampler"], params["steps"])
    sampler = {"sampler": params["sampler"], "steps": params["steps"], **describe(make_scheduler(params["sampler"]))}
    agreement = Agreement(teacher, fn, params["agreement_samples"], ctx.device, params["image_size"])
    # 2. methods: the teacher (full cost); per ratio the scratch model (equal cost) and the pruned models
    full = harness.Method(f"teacher {params['sampler']} {params['steps']}", fn, params["steps"], "full-cost",
                          extra=dict(sampler, model="teacher", macs=teacher_macs, macs_share=1.0))
    methods, training = [full], []
    labels: dict = {}
    for (ratio, kind), (model, where, record) in models.items():
        macs, n_params = _quiet_macs(model, scale)
        share = macs / teacher_macs
        name = {"reinit": "scratch (same MACs)", "taylor-no-ft": "Diff-Pruning, no fine-tune"}.get(
            kind, f"{LABELS.get(kind, kind)} + fine-tune")
        label = f"r={ratio:g} {name}"
        labels[(ratio, kind)] = label
        steps = record.get("train_config", {}).get("steps", 0)
        role = {"reinit": "equal-cost", "taylor": "technique", "magnitude": "technique"}.get(kind, "reference")
        extra = dict(sampler, model=where, ratio=ratio, importance=kind, macs=macs, macs_share=round(share, 4),
                     params_share=round(n_params / teacher_params, 4), train_steps=steps,
                     train_steps_share=round(steps / FULL_TRAIN.steps, 4))
        if record.get("taylor_timesteps"):
            extra["taylor_timesteps"] = record["taylor_timesteps"]
        methods.append(harness.Method(label, fn, params["steps"], role, model=model, extra=extra,
                                      report=agreement.of(model)))
        if steps:
            training.append({"model": label, "train_steps": steps, "share_of_teacher_steps": round(steps / FULL_TRAIN.steps, 4),
                             "train_seconds": round(record.get("train_seconds", float("nan")), 1),
                             "macs_share": round(share, 4), "source": where})
    # 3. measure: same sampler, steps and noise for every model, repeats interleaved
    measured = harness.measure_all(methods, teacher, ctx, params)
    # 4. verdicts: every fine-tuned model against the teacher and against the scratch model at its ratio
    comparisons = []
    for m in methods[1:]:
        ratio, kind = m.extra["ratio"], m.extra["importance"]
        scratch = labels.get((ratio, "reinit"))
        if kind in ("taylor", "magnitude", "random"):
            comparisons += measured.compare(m.label, full.label)
            if scratch:
                comparisons += measured.compare(m.label, scratch, "same MACs, same training steps")
        elif kind == "reinit":
            comparisons += measured.compare(m.label, full.label)
        elif kind == "taylor-no-ft" and (ratio, "taylor") in labels:
            comparisons += measured.compare(m.label, labels[(ratio, "taylor")], "what the fine-tune recovers")
        if kind == "magnitude" and (ratio, "taylor") in labels:
            comparisons += measured.compare(labels[(ratio, "taylor")], m.label, "Taylor vs magnitude importance")
    notes.append(f"MACs per network evaluation (torch-pruning's counter, batch 1): teacher {teacher_macs / 1e6:.2f}M; "
                 "every GroupNorm has 8 groups and torch-pruning removes the same number of channels from each, so "
                 "16-channel layers are halved at any ratio above 0 and MACs fall in steps")
    if training:
        notes.append(f"training budget: the committed teacher trained {FULL_TRAIN.steps} steps "
                     f"({checkpoint_seconds_note()}); each pruned model is fine-tuned, and each scratch model trained, "
                     "with the teacher's recipe for the steps in the table. The committed models' train_seconds were "
                     "recorded on a heavily shared 2-core machine (about 16 runnable processes): compare steps, not "
                     "those seconds")
    # 5. result, with a table of what pruning buys and how close the samples stay to the teacher's
    cost = [{"model": r.method, "MACs (M)": round(r.extra["macs"] / 1e6, 2), "MACs share": r.extra["macs_share"],
             "parameters": r.parameters, "wall speed-up": round(r.speedup, 2) if r.speedup else None,
             "SSIM to teacher": r.extra.get("ssim_to_teacher", 1.0 if r.role == "full-cost" else None),
             "PSNR to teacher dB": r.extra.get("psnr_to_teacher_db")} for r in measured.rows]
    tables = {f"cost and agreement with the teacher (same noise, {params['agreement_samples']} samples)": cost}
    if training:
        tables["training budget"] = training
    return harness.result(measured, comparisons, params, notes=notes,
                          model=dict(info, macs=teacher_macs, prune="torch-pruning BasePruner, local, conv_out kept"),
                          equal_cost="the same pruned architecture re-initialised and trained from scratch for the "
                                     "same steps with the same recipe (same MACs, same training budget)",
                          tables=tables)


def checkpoint_seconds_note() -> str:
    import json

    path, _ = find_checkpoint("unet", teacher_key())
    if path is None:
        return "its training time is not recorded"
    seconds = json.loads(path.with_suffix(".json").read_text()).get("train_seconds")
    return f"{seconds:.0f}s recorded in its sidecar" if seconds else "its training time is not recorded"


# ---------------------------------------------------------------------------
# your own model (--model DIR): pruning without fine-tuning
# ---------------------------------------------------------------------------

USER_IMPORTANCES = ("magnitude",)  # the importance that needs no data (Taylor needs the loss on training images)
NO_FINETUNE_NOTE = ("pruning without fine-tuning: Diff-Pruning always fine-tunes after pruning (10-20% of the "
                    "teacher's training steps), and a model pruned without it is expected to lose agreement with the "
                    "unpruned model; this run measures how much. No fine-tune and no same-MACs model trained from "
                    "scratch here: both need your training data, which a model folder does not carry")
TAYLOR_NOTE = ("importance 'taylor' left out: Diff-Pruning's Taylor importance is the gradient of the diffusion loss "
               "on training images, and a model folder carries none (a variant on the model's own samples would be a "
               "different method); magnitude (L2 of each channel group's weights) needs no data")


def user_example(net) -> tuple:
    """One input of a user's network (`usermodel.UserNet`) for torch-pruning's tracing and MAC counter."""
    device = next(net.parameters()).device
    t = torch.full((1,), min(500, net.train_timesteps // 2), dtype=torch.long, device=device)
    return torch.randn(1, *net.sample_shape, device=device), t


def user_macs(net) -> tuple[int, int]:
    """MACs of one evaluation of a user's network at batch 1 (torch-pruning's counter) and its parameters."""
    import contextlib
    import io

    import torch_pruning as tp

    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(net, user_example(net))
    return int(macs), int(params)


def prune_user_net(net, ratio: float, kind: str, where: str, seed: int = 0):
    """A copy of a user's UNet with `ratio` of every channel group removed by `kind` importance (no fine-tune).

    The wrapper (`usermodel.UserNet`) is pruned as a whole, so torch-pruning traces the very call the sampler
    makes (conditioning included); the output convolution is kept and no gradient is ever computed. A layout
    torch-pruning cannot handle is a ParamError naming the folder."""
    import torch_pruning as tp

    pruned = copy.deepcopy(net)
    for p in pruned.parameters():  # torch-pruning traces the autograd graph: the weights must want gradients
        p.requires_grad_(True)
    torch.manual_seed(seed)
    try:
        tp.pruner.BasePruner(pruned, user_example(pruned), importance=_importance(kind), pruning_ratio=ratio,
                             ignored_layers=[pruned.model.conv_out]).step()
        fix_resamplers(pruned.model)
        x, t = user_example(pruned)
        with torch.no_grad():
            out = pruned(x.expand(2, *x.shape[1:]).contiguous(), t.expand(2))
        if out.shape[1:] != x.shape[1:] or not torch.isfinite(out).all():
            raise RuntimeError(f"the pruned network returns {tuple(out.shape)} (non-finite or the wrong shape)")
    except (RuntimeError, ValueError, AssertionError, IndexError, KeyError, TypeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ParamError(f"model folder {where}: torch-pruning could not prune your {net.class_name} at ratio "
                         f"{ratio:g} ({first}); use another ratio or a UNet whose channels torch-pruning can "
                         "group") from None
    for p in pruned.parameters():
        p.requires_grad_(False)
    return pruned.eval()


def user_sampler_fn(name: str, steps: int, base: dict):
    def fn(noise, seed, net):
        return harness.sample(net, make_scheduler(name, base=base), noise, steps=steps)
    return fn


def run_user(params: dict, ctx: RunContext):
    """Magnitude pruning of the user's UNet at every ratio, no fine-tune, against the
    unpruned model from the same noise (PSNR/SSIM: the harness's fidelity mode)."""
    from ..core.usermodel import FIDELITY_NOTE, user_model_for

    # 1. the user's model, its scheduler config and its cost
    net, info = user_model_for(ctx)
    base = info["scheduler"]
    macs0, params0 = user_macs(net)
    kinds = list(USER_IMPORTANCES)
    notes = [info["conditioning"], FIDELITY_NOTE, NO_FINETUNE_NOTE]
    if "taylor" in params["importances"]:
        notes.append(TAYLOR_NOTE)
    fn = user_sampler_fn(params["sampler"], params["steps"], base)
    sampler = {"sampler": params["sampler"], "steps": params["steps"],
               **describe(make_scheduler(params["sampler"], base=base))}
    # 2. methods: the unpruned model (full cost, the reference); per ratio and importance a pruned copy
    full = harness.Method(f"unpruned {params['sampler']} {params['steps']}", fn, params["steps"], "full-cost",
                          extra=dict(sampler, macs=macs0, macs_share=1.0, params_share=1.0))
    methods, labels = [full], {}
    for i, (ratio, kind) in enumerate((r, k) for r in params["ratios"] for k in kinds):
        ctx.progress.report(0.0, f"pruning your model: {kind}, ratio {ratio:g}")
        pruned = prune_user_net(net, ratio, kind, str(info["path"]))
        macs, n_params = user_macs(pruned)
        if macs >= macs0:
            notes.append(f"{kind} pruning at ratio {ratio:g} removed nothing measurable (MACs {macs} vs {macs0}): "
                         "the channel groups of your UNet are too small to split at this ratio")
        labels[(ratio, kind)] = f"r={ratio:g} {LABELS[kind]}, no fine-tune"
        methods.append(harness.Method(labels[(ratio, kind)], fn, params["steps"],
                                      "technique", model=pruned,
                                      extra=dict(sampler, ratio=ratio, importance=kind, macs=macs,
                                                 macs_share=round(macs / macs0, 4),
                                                 params_share=round(n_params / params0, 4), train_steps=0)))
    # 3. measure (fidelity mode: each row's PSNR/SSIM is against the unpruned output from the same noise)
    measured = harness.measure_all(methods, net, ctx, params)
    # 4. comparisons: each ratio against the next lower one (PSNR/SSIM paired over seeds); none against the
    #    unpruned row, whose output is every row's reference
    comparisons = []
    ratios = sorted(set(params["ratios"]))
    for lower, higher in zip(ratios, ratios[1:]):
        comparisons += measured.compare(labels[(higher, kinds[0])], labels[(lower, kinds[0])],
                                        "what the higher ratio costs")
    notes.append(f"MACs per network evaluation (torch-pruning's counter, batch 1): unpruned {macs0 / 1e6:.2f}M; "
                 "torch-pruning removes the same number of channels from every GroupNorm group, so MACs fall in "
                 "steps; timings on a shared machine: compare the speed-ups within this run")
    cost = [{"model": r.method, "MACs (M)": round(r.extra["macs"] / 1e6, 3), "MACs share": r.extra["macs_share"],
             "parameters": r.parameters, "params share": r.extra["params_share"],
             "wall speed-up": round(r.speedup, 2) if r.speedup else None,
             "PSNR dB": None if r.psnr is None else round(r.psnr, 2),
             "SSIM": None if r.ssim is None else round(r.ssim, 4)} for r in measured.rows]
    return harness.result(measured, comparisons, params, notes=notes,
                          model=dict(info, macs=macs0, prune="torch-pruning BasePruner, local, conv_out kept, "
                                                          "no fine-tune"),
                          equal_cost="none with your model: the same-MACs model trained from scratch needs your "
                                     "training data",
                          tables={"cost and agreement with the unpruned model (same noise)": cost})


def _check_model(params: dict, folder) -> None:
    """With a user's model: a UNet, data-free importances, no training, step counts within its schedule."""
    from ..core.usermodel import check_steps

    if folder.class_name not in ("UNet2DModel", "UNet2DConditionModel"):
        raise ParamError(f"option 'model': your model is a {folder.class_name}; the pruning demo prunes the "
                         "convolution channels of a UNet2DModel or UNet2DConditionModel with torch-pruning; use the "
                         "solvers, scheduling or runtime demo for a DiT")
    if params["retrain"]:
        raise ParamError("parameter 'retrain': with your own model (--model) nothing is trained (no training data); "
                         "leave retrain=false: the run prunes without fine-tuning")
    if "magnitude" not in params["importances"]:
        raise ParamError("parameter 'importances': with your own model only magnitude prunes without data (taylor "
                         "needs the diffusion loss on training images); use importances=magnitude")
    check_steps(params, folder, "steps")


def _check(params: dict) -> None:
    if params["width"] == 1 and max(params["ratios"]) > 0.5:
        raise ParamError("parameter 'ratios': above 0.5 the 16-channel layers of the width-1 UNet (2 channels per "
                         "GroupNorm group) cannot be pruned at all, so MACs rise again (measured: 0.75 costs more "
                         "than 0.5); use ratios up to 0.5, or width >= 2 with retrain=true")
    if params["retrain"]:
        return
    if (params["width"], params["image_size"]) != (1, 16):
        raise ParamError("parameters 'width'/'image_size': pruned models are committed only for width=1, "
                         "image_size=16; set retrain=true to prune and fine-tune a bigger teacher now (a GPU job)")
    other = [r for r in params["ratios"] if r not in COMMITTED_RATIOS]
    if other:
        raise ParamError(f"parameter 'ratios': {', '.join(map(str, other))} not committed (committed: "
                         f"{', '.join(map(str, COMMITTED_RATIOS))}); use those or set retrain=true")
    other = [k for k in params["importances"] if not any((r, k) in COMMITTED for r in params["ratios"])]
    if other:
        committed = ", ".join(f"{k} at {r:g}" for r, k in COMMITTED if k != "reinit")
        raise ParamError(f"parameter 'importances': {', '.join(other)} pruning is not committed at ratios "
                         f"{', '.join(f'{r:g}' for r in params['ratios'])} (committed: {committed}); drop it or set "
                         "retrain=true to prune and fine-tune it now")
    if params["finetune_steps"] != PruneConfig().finetune_steps:
        raise ParamError(f"parameter 'finetune_steps': the committed models were fine-tuned "
                         f"{PruneConfig().finetune_steps} steps; set retrain=true to train for {params['finetune_steps']}")


DEMO = Demo(
    id="pruning",
    title="Structural pruning (Diff-Pruning) vs the same-MACs model trained from scratch",
    summary="torch-pruning removes channels from the trained UNet (Taylor importance over informative timesteps, or "
            "magnitude); a short fine-tune; measured against the teacher and a same-MACs model trained from scratch.",
    nodes=("shen2025:algorithm.compression.pruning",),
    papers=("structural-pruning-diffusion-models-2023",),
    params=common(n_samples=(200, 1000), seeds=(5, 5)) + (
        Param(name="ratios", type=float, many=True, quick=[0.5], full=[0.25, 0.5], lo=0.05, hi=0.9,
              help="torch-pruning's pruning_ratio per channel group (0.25 keeps ~43% of the MACs, 0.5 ~25%)"),
        Param(name="importances", type=str, many=True, quick=["taylor", "magnitude"],
              full=["taylor", "magnitude"], choices=IMPORTANCES,
              help="channel importance: taylor (Diff-Pruning), magnitude (L2), random (a reference row; retrain=true)"),
        Param(name="sampler", type=str, quick="ddim", full="ddim", choices=("ddim", "dpmsolver++"),
              help="the sampler every model uses"),
        Param(name="steps", type=int, quick=10, full=20, lo=1, hi=1000, help="sampler steps (the same for every model)"),
        Param(name="no_finetune", type=bool, quick=False, full=True,
              help="add the Taylor-pruned model before fine-tuning (what the fine-tune recovers)"),
        Param(name="agreement_samples", type=int, quick=100, full=500, lo=10, hi=20000,
              help="samples from one fixed noise for SSIM/PSNR to the teacher's (untimed)"),
        Param(name="retrain", type=bool, quick=False, full=False,
              help="prune and train every model now instead of loading the committed ones (GPU)"),
        Param(name="finetune_steps", type=int, quick=1000, full=1000, lo=1, hi=1000000,
              help="fine-tune / scratch training steps (the committed models: 1000 = 12.5% of the teacher's 8000)"),
        Param(name="taylor_stride", type=int, quick=5, full=5, lo=1, hi=500,
              help="Taylor gradients at t = 0, stride, 2*stride, ... until L_t < 0.05 L_max"),
    ),
    run=run,
    check=_check,
    accepts_model=True,
    model_check=_check_model,
    smoke=dict(n_samples=64, seeds=2, ratios=[0.5], importances=["taylor"], steps=4, agreement_samples=16),
    module=__name__,
    same_cost_per_nfe=False,
    quick_seconds=26,  # measured 2026-12-02: diffatlas demo run pruning --quick, idle 2-core CPU, 2 threads
    full_seconds=293,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
)
