"""The trainer of the substrate model, and the teacher every demo starts from.

`train_diffusion` trains with AdamW, a short warm-up, cosine decay and an
exponential moving average (EMA) of the weights; the EMA weights are saved.
`load_teacher` finds the trained model for a scale in the checkpoint store,
or trains it on first use (minutes on a GPU; the default scale's weights are
committed, so a CPU never trains it in a demo).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from .checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta
from .data import digits_split
from .model import DEFAULT_SCALE, SCHEDULE_CONFIG, Scale, make_unet, model_config, training_scheduler
from .paths import cache_dir


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 8000
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 200
    ema_decay: float = 0.999
    seed: int = 0
    hflip: bool = False  # digits are not mirror-symmetric

    def to_dict(self) -> dict:
        return asdict(self)


FULL_TRAIN = TrainConfig()  # the configuration of the committed teacher


def diffusion_loss(model, x0: torch.Tensor, sched, generator=None) -> torch.Tensor:
    """The v-prediction objective: || v_theta(x_t, t) - (alpha_t eps - sigma_t x0) ||^2."""
    b = x0.shape[0]
    t = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    xt = sched.add_noise(x0, noise, t)
    target = sched.get_velocity(x0, noise, t)
    pred = model(xt, t).sample
    return torch.nn.functional.mse_loss(pred, target)


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return fn


def train_diffusion(cfg: TrainConfig, device: torch.device, progress: Optional[Callable[[float, str], None]] = None,
                    log_every: int = 500, scale: Scale = DEFAULT_SCALE, model: Optional[torch.nn.Module] = None,
                    data: Optional[torch.Tensor] = None):
    """Train the substrate UNet on the training split; return the EMA model.

    `model` starts from a given network instead of a fresh UNet at `scale`
    (fine-tuning a pruned model, training a narrower one from scratch, another
    backbone); it must take `(x_t, t)` and return the v-prediction (or an
    object with `.sample`), and is trained in place. `data` replaces the
    digits' training split (the latent demo trains on its autoencoder's latents).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = digits_split(scale.image_size).train_x if data is None else data
    model = (model if model is not None else make_unet(scale)).to(device).train()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    sched = training_scheduler()
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    started = time.perf_counter()
    running = 0.0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen)
        x0 = data[idx].to(device)
        loss = diffusion_loss(model, x0, sched, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        # EMA with warm-up: decay = min(d, (1 + step) / (10 + step))
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if progress:
            progress((step + 1) / cfg.steps, f"training step {step + 1}/{cfg.steps} loss {running:.4f}")
        if log_every and (step + 1) % log_every == 0:
            print(f"[train] step {step + 1}/{cfg.steps} loss(ema) {running:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return ema, {"final_loss": running, "train_seconds": time.perf_counter() - started}


def teacher_key(cfg: Optional[TrainConfig] = None, scale: Scale = DEFAULT_SCALE) -> str:
    cfg = cfg or FULL_TRAIN
    return config_hash("unet", digits_split(scale.image_size).data_hash, model_config(scale), SCHEDULE_CONFIG,
                       cfg.to_dict())


def load_teacher(cfg: Optional[TrainConfig] = None, device: Optional[torch.device] = None, train_if_missing: bool = True,
                 progress=None, save_to: Optional[Path] = None, scale: Scale = DEFAULT_SCALE):
    """The trained substrate model for `cfg` at `scale` (EMA weights, eval mode) and where it came from."""
    cfg = cfg or FULL_TRAIN
    device = device or torch.device("cpu")
    key = teacher_key(cfg, scale)
    path, where = find_checkpoint("unet", key)
    model = make_unet(scale)
    if path is None:
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint for unet-{key}; run 'python -m reference_impls.train teacher'")
        model, info = train_diffusion(cfg, device, progress, log_every=0 if cfg.steps < 1000 else 500, scale=scale)
        command = "python -m reference_impls.train teacher" + ("" if cfg == FULL_TRAIN else " (quick config)")
        if not scale.is_default:
            command += f" --width {scale.width} --image-size {scale.image_size}"
        meta = training_meta(cfg, command, info, model_config(scale), digits_split(scale.image_size).data_hash,
                             scale.image_size)
        path = save_checkpoint(model, "unet", key, save_to or cache_dir(), meta)
        load_weights(model, path)  # use exactly what was stored (fp16-rounded weights)
        where = "trained now"
    else:
        load_weights(model, path)
    return model.to(device).eval(), where


def teacher_for(ctx, params: dict):
    """The teacher at the run's scale (`width`, `image_size`), and its 'model' entry for the result."""
    from .harness import model_info

    scale = Scale(params.get("width", 1), params.get("image_size", DEFAULT_SCALE.image_size))
    ctx.progress.report(0.0, "loading the substrate model" + ("" if scale.is_default else " (training it on first use)"))
    model, source = load_teacher(device=ctx.device, scale=scale,
                                 progress=None if scale.is_default else ctx.progress.report)
    return model, model_info(model, source, teacher_key(scale=scale), width=scale.width, image_size=scale.image_size)
