"""Latent diffusion: diffuse in a small autoencoder's latent space, decode once at the end.

The technique (Rombach et al., "High-Resolution Image Synthesis with Latent
Diffusion Models", CVPR 2022)
    A pixel diffusion model spends every network evaluation on every pixel,
    including detail the eye does not need. Latent diffusion first trains an
    autoencoder (a KL-regularised VAE: reconstruction loss plus a very small
    KL term, so the latent space stays smooth but is not forced towards a
    Gaussian), then trains the diffusion model on its latents, downsampled by
    a factor f. Every step then runs on (H/f) x (W/f) latents instead of H x W
    pixels; one decoder pass at the end turns the sample into an image. LDM
    rescales the latents to unit variance before diffusing them (Stable
    Diffusion's 0.18215), and finds f = 4 to 8 the sweet spot: smaller f saves
    little, larger f loses detail the diffusion model cannot restore.

    Here: a tiny diffusers `AutoencoderKL` (1 channel; f=2 gives 2x8x8 latents
    from 16x16 digits, f=4 gives 4x4x4), trained with L1 reconstruction plus
    1e-6 x KL; a latent `UNet2DModel` with exactly the teacher's channels,
    blocks and attention, trained on the normalised posterior means with the
    teacher's own recipe (v-prediction, DDPM linear betas, AdamW, cosine,
    EMA, batch 64) for 2,000 steps: with the autoencoder's 600 steps, the
    f=2 model's whole training costs what 1,000 pixel steps do (counted
    FLOPs), so the committed 1,000-step pixel UNet is its equal-training
    baseline. Only the input size differs, so one latent step costs about a
    quarter (f=2) or a sixteenth (f=4) of a pixel step.

    Two latent normalisations, each with its own latent UNet: "scalar" is
    LDM's (one std over all latents, Stable Diffusion's 0.18215); "channel"
    standardises each channel (diffusers' latents_mean / latents_std). With
    a KL weight of 1e-6 the channels' spreads differ several-fold (f=2: std
    0.36 and 2.7), and one scalar leaves the narrow channel far below the
    noise the diffusion model sees.

The caveat, plainly
    The 16x16 digits are bilinear upsamples of 8x8 images: a 16x16 digit
    holds no more information than 64 numbers, so an f=2 autoencoder (128
    numbers) can reconstruct it almost losslessly. That flatters latent
    diffusion here: on real images f=2 buys little and loses little, and the
    interesting trade-off starts at f=4 to 8. The f=4 variant (64 numbers,
    exactly the 8x8 source's count, but learned) shows the reconstruction
    floor rising; read the floor rows before reading a latent model's FD.

What is measured (one harness run, the same noise seeds for every method)
    * full cost: the committed pixel teacher with the chosen sampler and steps;
    * technique: the latent model(s) with the same sampler and steps; FLOPs
      per sample count every network step *and the decoder pass*;
    * equal-cost baseline: the pixel teacher at the step count whose FLOPs
      per sample match the latent sampler's (decoder included);
    * equal training compute (a control row): a pixel model trained with the
      teacher's recipe for as many steps as the latent model's whole training
      costs (autoencoder + latent UNet, in counted FLOPs);
    * the autoencoder's floor: training digits and their reconstructions
      (the same draw per seed), scored like samples, paired, so the FD an
      autoencoder alone adds is measured; a table adds PSNR and FD of the
      held-out digits' reconstructions (0 = lossless).
    Latent noise is drawn from the seed the harness hands a method (its
    shape differs from the pixel noise), so every method is deterministic
    per seed. A table gives each model's training compute (steps x batch,
    counted FLOPs per training step).

Catalog papers: latent-diffusion-models-2022, ulhaq2022-ldm-ddim, ulhaq2022-latent-ddim,
auto-encoding-variational-bayes-2014, denoising-diffusion-probabilistic-models-2020,
diffusion-models-beat-gans-2021, denoising-diffusion-implicit-models-2021, dpm-solver-plus-plus-2022.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import torch

from ..core import harness, metrics
from ..core.checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta
from ..core.data import digits_split
from ..core.model import DEFAULT_SCALE, SCHEDULE_CONFIG, Scale, model_config, training_scheduler
from ..core.paths import cache_dir
from ..core.schedulers import LABELS, describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import FULL_TRAIN, TrainConfig, diffusion_loss, load_teacher, lr_lambda, teacher_for, teacher_key, train_diffusion

FACTORS = (2, 4)
SAMPLERS = ("ddim", "dpmsolver++")
NORMS = ("scalar", "channel")  # how latents are brought to unit variance (see latent_stats)
NORM_LABELS = {"scalar": "scalar", "channel": "per-channel"}


# ---------------------------------------------------------------------------
# the autoencoder
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AEConfig:
    """How the autoencoder is trained: L1 reconstruction + kl_weight x KL, AdamW with warm-up and cosine decay."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 50
    kl_weight: float = 1e-6
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


AE_TRAIN = AEConfig()
LATENT_TRAIN = replace(FULL_TRAIN, steps=2000)  # the latent UNet: the teacher's recipe on latents, a quarter of its steps


def vae_config(factor: int, scale: Scale = DEFAULT_SCALE) -> dict:
    """A tiny AutoencoderKL: one down-sampling block per factor of 2; 2 latent channels at f=2, 4 at f=4."""
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, not {factor}")
    blocks = (16, 32) if factor == 2 else (16, 32, 32)
    return dict(in_channels=1, out_channels=1, block_out_channels=tuple(c * scale.width for c in blocks),
                latent_channels=2 if factor == 2 else 4, down_block_types=("DownEncoderBlock2D",) * len(blocks),
                up_block_types=("UpDecoderBlock2D",) * len(blocks), layers_per_block=1, norm_num_groups=8,
                sample_size=scale.image_size)


def make_vae(factor: int, scale: Scale = DEFAULT_SCALE):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**vae_config(factor, scale))


def latent_shape(factor: int, scale: Scale = DEFAULT_SCALE) -> tuple[int, int, int]:
    side = scale.image_size // factor
    return vae_config(factor, scale)["latent_channels"], side, side


def vae_key(factor: int, cfg: AEConfig = AE_TRAIN, scale: Scale = DEFAULT_SCALE) -> str:
    return config_hash("vae", digits_split(scale.image_size).data_hash, vae_config(factor, scale), cfg.to_dict())


def vae_loss(vae, x: torch.Tensor, kl_weight: float, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 reconstruction of a posterior sample plus kl_weight x KL(q(z|x) || N(0, I)); returns (loss, L1)."""
    posterior = vae.encode(x).latent_dist
    recon = vae.decode(posterior.sample(generator)).sample
    l1 = (recon - x).abs().mean()
    return l1 + kl_weight * posterior.kl().mean() / x[0].numel(), l1


def train_vae(factor: int, cfg: AEConfig, device: torch.device, scale: Scale = DEFAULT_SCALE, progress=None,
              log_every: int = 250):
    """Train the autoencoder on the training digits; return it (eval mode) and its training record."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = digits_split(scale.image_size).train_x
    vae = make_vae(factor, scale).to(device).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    started, running = time.perf_counter(), 0.0
    for step in range(cfg.steps):
        x = data[torch.randint(0, len(data), (cfg.batch_size,), generator=gen)].to(device)
        loss, l1 = vae_loss(vae, x, cfg.kl_weight, torch.Generator(device=device).manual_seed(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        running = 0.98 * running + 0.02 * l1.item() if step else l1.item()
        if progress:
            progress((step + 1) / cfg.steps, f"autoencoder f={factor}: step {step + 1}/{cfg.steps} L1 {running:.4f}")
        if log_every and (step + 1) % log_every == 0:
            print(f"[train vae f={factor}] step {step + 1}/{cfg.steps} L1(ema) {running:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return vae.eval(), {"final_l1": running, "train_seconds": time.perf_counter() - started}


def _command(what: str, scale: Scale) -> str:
    command = f"python -m reference_impls.train {what}"
    return command if scale.is_default else f"{command} (trained on first use at width {scale.width}, " \
                                             f"image_size {scale.image_size})"


def load_vae(factor: int, device: torch.device, scale: Scale = DEFAULT_SCALE, train_if_missing: bool = True,
             progress=None, save_to: Optional[Path] = None):
    """The trained autoencoder for `factor` at `scale` (eval mode) and where it came from."""
    key = vae_key(factor, AE_TRAIN, scale)
    path, where = find_checkpoint("vae", key)
    vae = make_vae(factor, scale)
    if path is None:
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint for vae-{key}; run 'python -m reference_impls.train latent'")
        trained, info = train_vae(factor, AE_TRAIN, device, scale, progress, log_every=0)
        meta = training_meta(AE_TRAIN, _command("latent", scale), dict(info, factor=factor),
                             vae_config(factor, scale), digits_split(scale.image_size).data_hash, scale.image_size)
        path = save_checkpoint(trained, "vae", key, save_to or cache_dir(), meta)
        where = "trained now"
    load_weights(vae, path)  # exactly what was stored (fp16-rounded weights)
    for p in vae.parameters():
        p.requires_grad_(False)
    return vae.to(device).eval(), where


@torch.no_grad()
def encode(vae, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Posterior means of images (deterministic latents: what the latent model is trained on, unscaled)."""
    device = next(vae.parameters()).device
    return torch.cat([vae.encode(x[i:i + batch].to(device)).latent_dist.mean for i in range(0, len(x), batch)])


@torch.no_grad()
def reconstruct(vae, x: torch.Tensor) -> torch.Tensor:
    """decode(encode(x)) through the posterior mean, in [-1, 1]-ish pixel space."""
    return vae.decode(encode(vae, x)).sample


def latent_stats(vae, norm: str = "scalar", scale: Scale = DEFAULT_SCALE) -> tuple[list, list]:
    """Per-channel (mean, std) that map the training digits' latents to unit variance.

    "scalar" is LDM's rescaling: one std over every latent, no shift (Stable
    Diffusion's 0.18215 = 1 / std). "channel" standardises each latent channel
    on its own (diffusers' `latents_mean` / `latents_std`): a KL-1e-6
    autoencoder's channels differ several-fold in spread, and one scalar leaves
    the narrow channel far below the noise level the diffusion model sees.
    """
    z = encode(vae, digits_split(scale.image_size).train_x).cpu()
    channels = z.shape[1]
    if norm == "scalar":
        return [0.0] * channels, [float(z.std())] * channels
    if norm == "channel":
        return z.mean((0, 2, 3)).tolist(), z.std((0, 2, 3)).tolist()
    raise ValueError(f"unknown latent normalisation {norm!r}; use one of {', '.join(NORMS)}")


def normalise(z: torch.Tensor, mean: list, std: list) -> torch.Tensor:
    m, s = (torch.tensor(v, dtype=z.dtype, device=z.device)[None, :, None, None] for v in (mean, std))
    return (z - m) / s


def denormalise(z: torch.Tensor, mean: list, std: list) -> torch.Tensor:
    m, s = (torch.tensor(v, dtype=z.dtype, device=z.device)[None, :, None, None] for v in (mean, std))
    return z * s + m


# ---------------------------------------------------------------------------
# the latent diffusion model
# ---------------------------------------------------------------------------


def latent_unet_config(factor: int, scale: Scale = DEFAULT_SCALE) -> dict:
    """The teacher's UNet config at the latent's size and channel count."""
    channels, side, _ = latent_shape(factor, scale)
    return dict(model_config(scale), sample_size=side, in_channels=channels, out_channels=channels)


def make_latent_unet(factor: int, scale: Scale = DEFAULT_SCALE):
    from diffusers import UNet2DModel

    return UNet2DModel(**latent_unet_config(factor, scale))


def latent_key(factor: int, cfg: TrainConfig = LATENT_TRAIN, scale: Scale = DEFAULT_SCALE, norm: str = "scalar") -> str:
    parts = ("latent-unet", vae_key(factor, AE_TRAIN, scale), latent_unet_config(factor, scale), SCHEDULE_CONFIG,
             cfg.to_dict()) + (() if norm == "scalar" else (norm,))
    return config_hash(*parts)


def train_latent_unet(factor: int, latents: torch.Tensor, cfg: TrainConfig, device: torch.device,
                      scale: Scale = DEFAULT_SCALE, progress=None, log_every: int = 500):
    """The teacher's trainer (`training.train_diffusion`: v-loss, AdamW, cosine schedule, EMA) on scaled latents.

    The latent UNet is initialised right after seeding, as the trainer does for
    a fresh UNet, so the committed latent UNets retrain bit for bit.
    """
    torch.manual_seed(cfg.seed)
    model = make_latent_unet(factor, scale)
    return train_diffusion(cfg, device, progress, log_every, scale, model=model, data=latents)


def load_latent(factor: int, device: torch.device, scale: Scale = DEFAULT_SCALE, train_if_missing: bool = True,
                progress=None, save_to: Optional[Path] = None, norm: str = "scalar"):
    """(latent UNet, autoencoder, (mean, std) of the latents, where) for `factor` at `scale`, training what is missing."""
    vae, vae_where = load_vae(factor, device, scale, train_if_missing, progress, save_to)
    key = latent_key(factor, LATENT_TRAIN, scale, norm)
    path, where = find_checkpoint("latent-unet", key)
    unet = make_latent_unet(factor, scale)
    if path is None:
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint for latent-unet-{key}; run 'python -m reference_impls.train latent'")
        mean, std = latent_stats(vae, norm, scale)
        latents = normalise(encode(vae, digits_split(scale.image_size).train_x).cpu(), mean, std)
        trained, info = train_latent_unet(factor, latents, LATENT_TRAIN, device, scale, progress,
                                          log_every=0 if scale.is_default else 500)
        meta = training_meta(LATENT_TRAIN, _command("latent", scale),
                             dict(info, factor=factor, latent_norm=norm, latent_mean=mean, latent_std=std,
                                  vae_key=vae_key(factor, AE_TRAIN, scale)),
                             latent_unet_config(factor, scale), digits_split(scale.image_size).data_hash,
                             scale.image_size)
        path = save_checkpoint(trained, "latent-unet", key, save_to or cache_dir(), meta)
        where = "trained now"
    load_weights(unet, path)
    return unet.to(device).eval(), vae, sidecar_stats(path), where if vae_where == where else \
        f"{where} (autoencoder: {vae_where})"


def sidecar_stats(path: Path) -> tuple[list, list]:
    """The latent (mean, std) a latent UNet was trained with, from its sidecar (older ones: one scale factor)."""
    meta = json.loads(path.with_suffix(".json").read_text())
    if "latent_std" in meta:
        return meta["latent_mean"], meta["latent_std"]
    channels = meta["model_config"]["in_channels"]
    return [0.0] * channels, [1.0 / meta["latent_scale_factor"]] * channels


# ---------------------------------------------------------------------------
# training compute, counted
# ---------------------------------------------------------------------------


def _step_flops(loss_fn, batch: int) -> float:
    """Counted FLOPs (torch's counter, forward and backward) of one training step at `batch` samples."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(batch).backward()
    return float(counter.get_total_flops())


def training_step_flops(scale: Scale = DEFAULT_SCALE, factors=FACTORS, batch: int = 64) -> dict:
    """FLOPs of one training step at `batch` of the pixel UNet, each autoencoder and each latent UNet."""
    from ..core.model import make_unet

    torch.manual_seed(0)
    x = digits_split(scale.image_size).train_x[:batch]
    sched = training_scheduler()
    out = {"pixel": _step_flops(lambda b: diffusion_loss(make_unet(scale), x[:b], sched), batch)}
    for f in factors:
        out[f"vae f={f}"] = _step_flops(lambda b: vae_loss(make_vae(f, scale), x[:b], AE_TRAIN.kl_weight)[0], batch)
        z = torch.randn((batch, *latent_shape(f, scale)))
        out[f"latent f={f}"] = _step_flops(lambda b: diffusion_loss(make_latent_unet(f, scale), z[:b], sched), batch)
    return out


def equal_training_steps(flops: dict, factor: int = 2) -> int:
    """Pixel-UNet training steps (same batch) costing what the latent model's whole training costs, to 50 steps."""
    latent = AE_TRAIN.steps * flops[f"vae f={factor}"] + LATENT_TRAIN.steps * flops[f"latent f={factor}"]
    return max(50, int(round(latent / flops["pixel"] / 50)) * 50)


PIXEL_EQUAL_STEPS = 1000  # equal_training_steps(training_step_flops()) at the default scale (a test recounts it)


def equal_train_config(scale: Scale = DEFAULT_SCALE) -> TrainConfig:
    """The teacher's recipe for as many steps as the f=2 latent model's whole training costs."""
    steps = PIXEL_EQUAL_STEPS if scale.is_default else equal_training_steps(training_step_flops(scale, (2,)))
    return replace(FULL_TRAIN, steps=steps)


# ---------------------------------------------------------------------------
# the committed models: `python -m reference_impls.train latent`
# ---------------------------------------------------------------------------


def train_committed(out: Path, force: bool = False, factors=FACTORS, equal: bool = True) -> None:
    """Train the committed autoencoders, latent UNets and the equal-training-compute pixel UNet that are missing."""
    from ..core.checkpoints import verify_checkpoint
    from ..core.device import pick_device
    from ..core.training import train_diffusion

    device = pick_device()
    for f in factors:
        key = vae_key(f)
        if force or not verify_checkpoint("vae", key, out):
            print(f"training autoencoder vae-{key} (f={f}) on {device}: {AE_TRAIN}", flush=True)
            vae, info = train_vae(f, AE_TRAIN, device)
            save_checkpoint(vae, "vae", key, out, training_meta(AE_TRAIN, "python -m reference_impls.train latent",
                                                                dict(info, factor=f), vae_config(f)))
            print(f"saved vae-{key}: {info}", flush=True)
        for norm in NORMS:
            key = latent_key(f, norm=norm)
            if not force and verify_checkpoint("latent-unet", key, out):
                continue
            vae = load_weights(make_vae(f), verify_checkpoint("vae", vae_key(f), out)).to(device).eval()
            mean, std = latent_stats(vae, norm)
            latents = normalise(encode(vae, digits_split().train_x).cpu(), mean, std)
            print(f"training latent UNet latent-unet-{key} (f={f}, {norm} normalisation, std {std}) on {device}: "
                  f"{LATENT_TRAIN}", flush=True)
            unet, info = train_latent_unet(f, latents, LATENT_TRAIN, device)
            meta = training_meta(LATENT_TRAIN, "python -m reference_impls.train latent",
                                 dict(info, factor=f, latent_norm=norm, latent_mean=mean, latent_std=std,
                                      vae_key=vae_key(f)), latent_unet_config(f))
            save_checkpoint(unet, "latent-unet", key, out, meta)
            print(f"saved latent-unet-{key}: {info}", flush=True)
    cfg = equal_train_config()
    key = teacher_key(cfg)
    if equal and (force or not verify_checkpoint("unet", key, out)):
        print(f"training the equal-training-compute pixel UNet unet-{key} on {device}: {cfg}", flush=True)
        unet, info = train_diffusion(cfg, device)
        save_checkpoint(unet, "unet", key, out, training_meta(cfg, "python -m reference_impls.train latent", info))
        print(f"saved unet-{key}: {info}", flush=True)


# ---------------------------------------------------------------------------
# sampling: what a method runs
# ---------------------------------------------------------------------------


class LatentSampler(torch.nn.Module):
    """The latent UNet and the decoder half of the autoencoder: everything sampling runs (no encoder).

    The harness warms every model up on pixel-shaped noise; such an input is
    replaced by latent-shaped zeros of the same batch, so the warm-up runs the
    latent UNet at the working batch size. Any other shape goes to the UNet as is.
    """

    def __init__(self, unet, vae, stats: tuple[list, list], image_size: int):
        super().__init__()
        self.unet, self.post_quant_conv, self.decoder = unet, vae.post_quant_conv, vae.decoder
        self.mean, self.std = stats
        self.latent = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
        self.pixel = (1, image_size, image_size)

    def forward(self, x: torch.Tensor, t):
        if tuple(x.shape[1:]) == self.pixel:
            x = x.new_zeros((x.shape[0], *self.latent))
        return self.unet(x, t)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> images: undo the normalisation, then the autoencoder's decoder."""
        z = denormalise(z, self.mean, self.std)
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)


class Reconstruction(torch.nn.Module):
    """The whole autoencoder as one module (what a reconstruction row runs and weighs)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        return reconstruct(self.vae, x)


def latent_noise(n: int, seed: int, shape: tuple, device: torch.device) -> torch.Tensor:
    """Standard normal latents from the seed the harness gives a method (the pixel noise has another shape)."""
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed)).to(device)


def pixel_fn(sampler: str, steps: int):
    def fn(noise, seed, net):
        return harness.sample(net, make_scheduler(sampler), noise, steps=steps)
    return fn


def latent_fn(sampler: str, steps: int, model: LatentSampler):
    """Sample latents with the same scheduler and steps, then decode once (the decoder counts in FLOPs and time)."""
    def fn(noise, seed, net):
        z = latent_noise(noise.shape[0], seed, model.latent, noise.device)
        z = harness.sample(net, make_scheduler(sampler), z, steps=steps)
        return model.decode(z).clamp(-1, 1)
    return fn


def digits_fn(size: int, vae=None):
    """A draw of training digits per seed (the same draw for every row), reconstructed by `vae` if given."""
    data = digits_split(size).train_x

    def fn(noise, seed, net):
        idx = torch.randint(0, len(data), (noise.shape[0],), generator=torch.Generator().manual_seed(seed))
        x = data[idx].to(noise.device)
        return x if vae is None else reconstruct(vae, x).clamp(-1, 1)
    return fn


def forward_flops(fn) -> float:
    """Counted FLOPs of one call (batch 1)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return float(counter.get_total_flops())


def equal_cost_steps(latent_flops: float, pixel_step_flops: float) -> int:
    """Pixel sampler steps whose network FLOPs are closest to a latent sampler's (decoder included); at least 1."""
    return max(1, int(round(latent_flops / pixel_step_flops)))


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _load_models(params: dict, scale: Scale, ctx: RunContext) -> dict:
    """(factor, norm) -> (LatentSampler, autoencoder, where) for the run (trained on first use if missing)."""
    wanted = [(f, norm) for f in params["factors"] for norm in params["norms"]]
    out = {}
    for i, (f, norm) in enumerate(wanted):
        ctx.progress.stage(0.02 + 0.2 * i / len(wanted), 0.02 + 0.2 * (i + 1) / len(wanted))
        ctx.progress.report(0.0, f"loading the f={f} autoencoder and its latent UNet ({norm} normalisation)")
        unet, vae, stats, where = load_latent(f, ctx.device, scale, progress=ctx.progress.report, norm=norm)
        out[(f, norm)] = (LatentSampler(unet, vae, stats, scale.image_size).to(ctx.device).eval(), vae, where)
    return out


def _autoencoders(models: dict) -> dict:
    """factor -> (a LatentSampler, the autoencoder): one entry per autoencoder."""
    return {f: (model, vae) for (f, _), (model, vae, _) in models.items()}


def _recon_table(models: dict, scale: Scale) -> list[dict]:
    """Per autoencoder, on the held-out digits: MSE, PSNR and the FD of their reconstructions (0 = lossless)."""
    held = digits_split(scale.image_size).test_x
    rows = []
    for f, (sampler, vae) in _autoencoders(models).items():
        recon = reconstruct(vae, held.to(next(vae.parameters()).device)).clamp(-1, 1).cpu()
        mse = ((recon - held) ** 2).flatten(1).mean(1)
        rows.append({"autoencoder": f"f={f}", "latent": "x".join(map(str, sampler.latent)),
                     "numbers per image": sampler.latent[0] * sampler.latent[1] * sampler.latent[2],
                     "pixels per image": scale.image_size ** 2, "held-out MSE": round(float(mse.mean()), 5),
                     "held-out PSNR dB": round(float((10 * torch.log10(4.0 / mse)).mean()), 2),
                     "FD held-out recon vs held-out": round(metrics.fd(metrics.live(metrics.embed(recon)[0])), 3),
                     "latent std per channel": [round(v, 3) for v in latent_stats(vae, "channel", scale)[1]]})
    return rows


def _train_seconds(name: str, key: str):
    path, _ = find_checkpoint(name, key)
    if path is None:
        return None
    seconds = json.loads(path.with_suffix(".json").read_text()).get("train_seconds")
    return round(seconds) if seconds else None


def _training_table(params: dict, scale: Scale) -> list[dict]:
    """Training compute of every model: steps x batch x counted FLOPs per training step (forward and backward)."""
    flops = {k: v * 16 for k, v in training_step_flops(scale, tuple(params["factors"]), batch=4).items()}  # batch 64
    teacher_total = FULL_TRAIN.steps * flops["pixel"]

    def row(model, steps, batch, per_step, seconds=None):
        return {"model": model, "steps": steps, "batch": batch, "GFLOPs per step": round(per_step / 1e9, 3),
                "TFLOPs total": round(steps * per_step / 1e12, 2),
                "share of the teacher's": round(steps * per_step / teacher_total, 4), "train seconds": seconds}

    rows = [row("pixel teacher", FULL_TRAIN.steps, FULL_TRAIN.batch_size, flops["pixel"],
                _train_seconds("unet", teacher_key(scale=scale)))]
    if params["equal_training"]:
        cfg = equal_train_config(scale)
        rows.append(row(f"pixel, {cfg.steps}-step training", cfg.steps, cfg.batch_size, flops["pixel"],
                        _train_seconds("unet", teacher_key(cfg, scale))))
    for f in params["factors"]:
        ae = row(f"autoencoder f={f}", AE_TRAIN.steps, AE_TRAIN.batch_size, flops[f"vae f={f}"],
                 _train_seconds("vae", vae_key(f, AE_TRAIN, scale)))
        lat = row(f"latent UNet f={f} (each normalisation)", LATENT_TRAIN.steps, LATENT_TRAIN.batch_size, flops[f"latent f={f}"],
                  _train_seconds("latent-unet", latent_key(f, LATENT_TRAIN, scale)))
        total = AE_TRAIN.steps * flops[f"vae f={f}"] + LATENT_TRAIN.steps * flops[f"latent f={f}"]
        rows += [ae, lat, {"model": f"latent f={f} total", "TFLOPs total": round(total / 1e12, 2),
                           "share of the teacher's": round(total / teacher_total, 4)}]
    return rows


def _methods(params: dict, teacher, models: dict, equal_model, scale: Scale, flops: dict) -> tuple[list, dict]:
    """Every method of the run, in order, and the labels the comparisons need, keyed by what they are."""
    methods, labels = [], {}

    def add(key, method):
        if method.label not in {m.label for m in methods}:
            methods.append(method)
        labels[key] = method.label

    first = True
    for sampler in params["samplers"]:
        info = {"sampler": sampler, **describe(make_scheduler(sampler))}
        for steps in params["steps"]:
            add(("pixel", sampler, steps), harness.Method(
                f"pixel {LABELS[sampler]} {steps}", pixel_fn(sampler, steps), steps,
                "full-cost" if first else "reference", extra=dict(info, steps=steps, space="pixel", model="teacher")))
            first = False
            for (f, norm), (model, _, where) in models.items():
                cost = steps * flops[f"latent f={f}"] + flops[f"decoder f={f}"]
                add(("latent", sampler, steps, f, norm), harness.Method(
                    f"latent f={f} {NORM_LABELS[norm]} {LABELS[sampler]} {steps}", latent_fn(sampler, steps, model),
                    steps, "technique", model=model,
                    extra=dict(info, steps=steps, space=f"latent f={f}", norm=norm, model=where,
                                            latent="x".join(map(str, model.latent)),
                                            decoder_mflops=round(flops[f"decoder f={f}"] / 1e6, 3))))
                k = equal_cost_steps(cost, flops["pixel"])
                add(("equal", sampler, steps, f), harness.Method(
                    f"pixel {LABELS[sampler]} {k}", pixel_fn(sampler, k), k, "equal-cost",
                    extra=dict(info, steps=k, space="pixel", model="teacher")))
                if f == 2 and equal_model is not None:
                    cfg_steps = equal_train_config(scale).steps
                    add(("trained", sampler, steps), harness.Method(
                        f"pixel ({cfg_steps}-step training) {LABELS[sampler]} {steps}", pixel_fn(sampler, steps),
                        steps, "reference", model=equal_model,
                        extra=dict(info, steps=steps, space="pixel", model=f"teacher recipe, {cfg_steps} steps")))
    add(("digits",), harness.Method("training digits (no model)", digits_fn(scale.image_size), 0, "reference",
                                    extra={"space": "data", "model": "none (the digits themselves; the parameter columns are the teacher's)"}))
    for f, (_, vae) in _autoencoders(models).items():
        add(("recon", f), harness.Method(f"autoencoder f={f} reconstructions", digits_fn(scale.image_size, vae), 0,
                                         "reference", model=Reconstruction(vae), extra={"space": f"latent f={f}"}))
    return methods, labels


def _comparisons(params: dict, measured, labels: dict, flops: dict) -> list:
    out = []
    for sampler in params["samplers"]:
        for steps in params["steps"]:
            pixel = labels[("pixel", sampler, steps)]
            for f in params["factors"]:
                cost = steps * flops[f"latent f={f}"] + flops[f"decoder f={f}"]
                equal = labels[("equal", sampler, steps, f)]
                k = measured.row(equal).nfe_expected
                for norm in params["norms"]:
                    latent = labels[("latent", sampler, steps, f, norm)]
                    out += measured.compare(latent, pixel, "same sampler and steps on pixels")
                    out += measured.compare(latent, equal, f"equal sampling FLOPs: {cost / 1e6:.1f}M (decoder "
                                                           f"included) vs {k * flops['pixel'] / 1e6:.1f}M")
                    if f == 2 and ("trained", sampler, steps) in labels:
                        out += measured.compare(latent, labels[("trained", sampler, steps)], "equal training compute")
                if len(params["norms"]) == 2:
                    out += measured.compare(labels[("latent", sampler, steps, f, "channel")],
                                            labels[("latent", sampler, steps, f, "scalar")],
                                            "per-channel vs LDM's scalar latent normalisation")
            if 2 in params["factors"] and 4 in params["factors"]:
                for norm in params["norms"]:
                    out += measured.compare(labels[("latent", sampler, steps, 4, norm)],
                                            labels[("latent", sampler, steps, 2, norm)], "f=4 vs f=2")
    for f in params["factors"]:
        out += measured.compare(labels[("recon", f)], labels[("digits",)], "what the autoencoder alone adds")
    return out


def run(params: dict, ctx: RunContext):
    # 1. models: the pixel teacher, the autoencoders with their latent UNets, the equal-training pixel UNet
    teacher, info = teacher_for(ctx, params)
    scale = Scale(params["width"], params["image_size"])
    models = _load_models(params, scale, ctx)
    equal_model = None
    if params["equal_training"]:
        ctx.progress.stage(0.22, 0.25).report(0.0, "loading the pixel UNet trained with the latent model's compute")
        equal_model, _ = load_teacher(equal_train_config(scale), ctx.device, scale=scale, progress=ctx.progress.report)
    # 2. the cost of one network call and of one decoder pass (batch 1, counted), to match sampling FLOPs
    size = scale.image_size
    t = torch.tensor([500], device=ctx.device)
    flops = {"pixel": forward_flops(lambda: teacher(torch.zeros(1, 1, size, size, device=ctx.device), t))}
    for f, (model, _) in _autoencoders(models).items():
        z = torch.zeros((1, *model.latent), device=ctx.device)
        flops[f"latent f={f}"] = forward_flops(lambda: model(z, t))
        flops[f"decoder f={f}"] = forward_flops(lambda: model.decode(z))
    # 3. methods, measured in one run with the same seeds, repeats interleaved
    methods, labels = _methods(params, teacher, models, equal_model, scale, flops)
    measured = harness.measure_all(methods, teacher, ctx, params)
    # 4. verdicts from the paired comparisons
    comparisons = _comparisons(params, measured, labels, flops)
    # 5. result: notes (the caveat first), the reconstruction floor and training compute tables
    ctx.progress.stage(0.99, 1.0).report(0.0, "reconstruction floor and training compute")
    notes = [CAVEAT, "FLOPs per network call (batch 1, counted): pixel UNet " f"{flops['pixel'] / 1e6:.2f}M; " +
             "; ".join(f"latent UNet f={f} {flops[f'latent f={f}'] / 1e6:.2f}M, decoder f={f} "
                       f"{flops[f'decoder f={f}'] / 1e6:.2f}M (once per sample)" for f in params["factors"]) +
             ". The equal-cost pixel row takes the step count whose FLOPs are closest to the latent sampler's.",
             "The reconstruction rows score a draw of training digits decoded from their latents against the "
             "unreconstructed draw (same digits per seed): the FD the autoencoder alone adds. Train-seconds are from "
             "a shared 2-core CPU; compare FLOPs, not seconds.",
             f"Training budgets differ on purpose: the latent UNets trained {LATENT_TRAIN.steps} steps and the teacher "
             f"{FULL_TRAIN.steps} (see the training table), so a latent-vs-teacher gap mixes the representation with "
             "the training budget; the equal-training pixel row, with the f=2 latent model's whole training compute, "
             "separates the two."]
    tables = {"autoencoder reconstruction of the held-out digits": _recon_table(models, scale),
              "training compute (FLOPs counted by torch, forward and backward, at batch 64)":
                  _training_table(params, scale)}
    latent_info = {f"f={f} {norm}": {"key": latent_key(f, LATENT_TRAIN, scale, norm), "source": where,
                                     "vae_key": vae_key(f, AE_TRAIN, scale), "latent_mean": model.mean,
                                     "latent_std": model.std,
                                     "parameters_unet_and_decoder": sum(p.numel() for p in model.parameters())}
                   for (f, norm), (model, _, where) in models.items()}
    return harness.result(measured, comparisons, params, notes=notes, tables=tables, model=dict(info, latent=latent_info),
                          equal_cost="the pixel teacher with the same sampler at the step count whose FLOPs per "
                                     "sample match the latent sampler's (decoder pass included)")


CAVEAT = ("Caveat: the 16x16 digits are bilinear upsamples of 8x8 images (64 numbers of information), so an f=2 "
          "autoencoder (2x8x8 = 128 numbers) loses almost nothing and its 4x cheaper steps come nearly free: this "
          "flatters latent diffusion. The f=4 autoencoder (4x4x4 = 64 numbers) shows the reconstruction floor rising; "
          "LDM's sweet spot on real images is f=4 to 8.")


def _check(params: dict) -> None:
    if max(params["steps"]) < 2:
        raise ParamError("parameter 'steps': give at least one step count of 2 or more; the equal-cost pixel row "
                         "needs fewer steps than the latent sampler")


DEMO = Demo(
    id="latent",
    title="Latent diffusion: a tiny AutoencoderKL's latents (f=2, f=4) vs pixels at equal sampling and training FLOPs",
    summary="A diffusers AutoencoderKL and a latent UNet with the teacher's architecture against the pixel teacher: "
            "same sampler and steps, equal sampling FLOPs (decoder included), equal training compute, and the "
            "autoencoder's own reconstruction floor.",
    nodes=("shen2025:algorithm.training.latent_diffusion", "ulhaq2022:eds.representation.latent",
           "ulhaq2022:eds.representation.pixel", "ma2024:part3.latent_autoencoder"),
    papers=("latent-diffusion-models-2022", "ulhaq2022-ldm-ddim", "ulhaq2022-latent-ddim",
            "auto-encoding-variational-bayes-2014", "denoising-diffusion-probabilistic-models-2020",
            "diffusion-models-beat-gans-2021", "denoising-diffusion-implicit-models-2021",
            "dpm-solver-plus-plus-2022"),
    params=common(n_samples=(100, 1000), seeds=(3, 5)) + (
        Param(name="samplers", type=str, many=True, quick=["ddim"], full=list(SAMPLERS), choices=SAMPLERS,
              help="samplers (every model uses each)"),
        Param(name="steps", type=int, many=True, quick=[10], full=[10, 20], lo=1, hi=1000,
              help="sampler steps of the pixel teacher and the latent models"),
        Param(name="factors", type=int, many=True, quick=[2, 4], full=[2, 4], choices=FACTORS,
              help="autoencoder downsampling factors (2: 2x8x8 latents from 16x16, 4: 4x4x4)"),
        Param(name="norms", type=str, many=True, quick=["channel"], full=list(NORMS), choices=NORMS,
              help="latent normalisation: scalar (LDM: one std) and/or channel (each channel to unit variance)"),
        Param(name="equal_training", type=bool, quick=True, full=True,
              help="add the pixel UNet trained with the f=2 latent model's training FLOPs (autoencoder included)"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=64, seeds=2, steps=[4], factors=[2], norms=["channel"], equal_training=False),
    module=__name__,
    same_cost_per_nfe=False,
    quick_seconds=24,  # measured 2026-12-02 07:09: time diffatlas demo run latent --quick (100 samples x 3 seeds,
                       # per-channel latents at f=2 and f=4; LDM's scalar scaling is in full), 2 threads, load ~3
    full_seconds=1800,  # an estimate, not measured: about 3x quick's sampling work at 5x the samples, idle
)
