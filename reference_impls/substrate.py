"""The substrate every demo runs on: small data, a tiny diffusers model, and a trainer.

Data
    scikit-learn's handwritten digits (1,797 images of 8x8 pixels, 16 grey
    levels) ship with the package, so nothing is downloaded. Each image is
    upsampled bilinearly to 16x16 and scaled to [-1, 1]. A fixed, stratified
    split keeps 600 images out of every training run: they are the reference
    set of the quality metric (FD-digits, see `metrics.py`).

Model
    A `diffusers.UNet2DModel` with three resolutions (16, 8, 4 pixels; 16/32/48
    channels; self-attention at 4x4): about 450k parameters. It predicts v
    (Salimans & Ho's velocity, `prediction_type="v_prediction"`) under the DDPM
    linear beta schedule with 1,000 training steps. v rather than epsilon
    because progressive distillation (`distillation.py`) needs a
    parameterisation that stays well-conditioned at one or two steps; every
    diffusers scheduler used here accepts v.

Trainer and checkpoints
    `train_diffusion` trains with AdamW, a short warm-up, cosine decay and an
    exponential moving average (EMA) of the weights; the EMA weights are saved.
    A checkpoint is keyed by a hash of the data, the model config and the
    training config. It is looked up first among the weights committed to the
    repository (reference_impls/weights/, produced by
    `python -m reference_impls.train all`), then in the user cache folder
    ($DIFFATLAS_CACHE, else ~/.cache/diffatlas). Each checkpoint has a JSON
    sidecar with the SHA-256 of its weights, written after the weights: a
    partial or corrupted file fails the check and is retrained, never used.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

IMAGE_SIZE = 16
HELDOUT = 600
SPLIT_SEED = 0


def _digits_arrays():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def upsample(images8: np.ndarray) -> torch.Tensor:
    """8x8 images with values 0..16 -> 1x16x16 tensors in [-1, 1]."""
    x = torch.from_numpy(np.asarray(images8, dtype=np.float32)).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return (x * 2.0 - 1.0).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class DigitsSplit:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    data_hash: str


_SPLIT_CACHE: dict[str, DigitsSplit] = {}


def digits_split() -> DigitsSplit:
    """The fixed train / held-out split (stratified, seed 0), cached in memory."""
    if "split" in _SPLIT_CACHE:
        return _SPLIT_CACHE["split"]
    from sklearn.model_selection import train_test_split

    images, labels = _digits_arrays()
    idx = np.arange(len(labels))
    tr, te = train_test_split(idx, test_size=HELDOUT, random_state=SPLIT_SEED, stratify=labels)
    tr, te = np.sort(tr), np.sort(te)
    digest = hashlib.sha256()
    digest.update(images.tobytes())
    digest.update(labels.tobytes())
    digest.update(tr.tobytes())
    digest.update(f"size={IMAGE_SIZE}".encode())
    split = DigitsSplit(
        upsample(images[tr]), torch.from_numpy(labels[tr]), upsample(images[te]), torch.from_numpy(labels[te]),
        digest.hexdigest()[:16],
    )
    _SPLIT_CACHE["split"] = split
    return split


def toy_2d(name: str, n: int, seed: int = 0) -> np.ndarray:
    """2-D toy distributions whose samples can be compared exactly (sliced Wasserstein, MMD)."""
    rng = np.random.default_rng(seed)
    if name == "8gaussians":
        angles = 2 * np.pi * rng.integers(0, 8, n) / 8
        centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
        return (centres + 0.15 * rng.standard_normal((n, 2))).astype(np.float32)
    if name == "moons":
        from sklearn.datasets import make_moons

        x, _ = make_moons(n, noise=0.05, random_state=seed)
        return ((x - [0.5, 0.25]) * 1.5).astype(np.float32)
    raise ValueError(f"unknown toy {name!r}; use 8gaussians or moons")


# ---------------------------------------------------------------------------
# model and noise schedule
# ---------------------------------------------------------------------------

MODEL_CONFIG = dict(
    sample_size=IMAGE_SIZE,
    in_channels=1,
    out_channels=1,
    block_out_channels=(16, 32, 48),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
    attention_head_dim=None,
)

# The training noise schedule. Every sampler is built from exactly these
# values (see `solvers.make_scheduler`) and a test checks alphas_cumprod.
SCHEDULE_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.0001,
    beta_end=0.02,
    beta_schedule="linear",
    prediction_type="v_prediction",
)


def make_unet(config: Optional[dict] = None):
    from diffusers import UNet2DModel

    return UNet2DModel(**(config or MODEL_CONFIG))


def training_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE_CONFIG)


def alphas_cumprod() -> torch.Tensor:
    return training_scheduler().alphas_cumprod.clone()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------
# device
# ---------------------------------------------------------------------------


def pick_device(requested: Optional[str] = None) -> torch.device:
    """CUDA if present, else CPU; `requested` ("cpu", "cuda", "cuda:1") overrides."""
    if requested and requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} requested but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _busy_cores(window: float = 0.3) -> float:
    """How many cores other processes keep busy now, from /proc/stat over a short window (0 if unknown)."""
    def snapshot():
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)

    try:
        total0, idle0 = snapshot()
        time.sleep(window)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return 0.0
    elapsed = total1 - total0
    return 0.0 if elapsed <= 0 else (os.cpu_count() or 1) * (1 - (idle1 - idle0) / elapsed)


def set_threads() -> None:
    """Torch CPU threads: $DIFFATLAS_THREADS, else every core, or half of them on a busy machine.

    On an idle 2-core CPU two threads run the quick demos about 1.5x faster
    than one (measured: solvers 36 s vs 54 s). On a shared machine, as many
    threads as cores is a trap: when another process holds a core, every
    parallel region waits for the descheduled thread, and a run measured here
    became ten times slower with 2 threads than with 1. So when other work
    already keeps more than half a core busy right now, half the cores are
    used. The thread count is part of the device string every result records.
    """
    wanted = os.environ.get("DIFFATLAS_THREADS")
    cores = os.cpu_count() or 2
    n = int(wanted) if wanted else (max(1, cores // 2) if _busy_cores() > 0.5 else cores)
    if torch.get_num_threads() != max(1, n):
        torch.set_num_threads(max(1, n))


# ---------------------------------------------------------------------------
# checkpoint store
# ---------------------------------------------------------------------------


def cache_dir() -> Path:
    root = os.environ.get("DIFFATLAS_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "diffatlas"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_hash(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_paths(name: str, key: str, folder: Path) -> tuple[Path, Path]:
    return folder / f"{name}-{key}.safetensors", folder / f"{name}-{key}.json"


def save_checkpoint(model: torch.nn.Module, name: str, key: str, folder: Path, meta: dict) -> Path:
    """Write weights (fp16 to keep files about a megabyte) atomically, then the sidecar."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights, sidecar = checkpoint_paths(name, key, folder)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, weights)
    meta = dict(meta, name=name, key=key, file=weights.name, sha256=_sha256(weights), dtype="float16",
                bytes=weights.stat().st_size)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, sidecar)
    return weights


def verify_checkpoint(name: str, key: str, folder: Path) -> Optional[Path]:
    """The weights file if it and its sidecar are complete and the hash matches, else None."""
    weights, sidecar = checkpoint_paths(name, key, folder)
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("sha256") != _sha256(weights):
        return None
    return weights


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    state = load_file(str(path))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


def find_checkpoint(name: str, key: str) -> tuple[Optional[Path], str]:
    """Look in the committed weights, then the user cache; report where."""
    for folder, where in ((WEIGHTS_DIR, "committed"), (cache_dir(), "cache")):
        path = verify_checkpoint(name, key, folder)
        if path is not None:
            return path, where
        weights, _ = checkpoint_paths(name, key, folder)
        if weights.exists():
            print(f"[diffatlas] checkpoint {weights} failed its integrity check; ignoring it", file=sys.stderr)
    return None, "missing"


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


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


# The configuration of the committed teacher. Quick variants are for tests.
FULL_TRAIN = TrainConfig()
QUICK_TRAIN = TrainConfig(steps=60, batch_size=32, warmup=10, ema_decay=0.9)


def diffusion_loss(model, x0: torch.Tensor, sched, generator=None) -> torch.Tensor:
    """The v-prediction objective: ||v_theta(x_t, t) - (alpha_t eps - sigma_t x0)||^2."""
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
                    log_every: int = 500):
    """Train the substrate UNet on the training split; return the EMA model."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = digits_split().train_x
    model = make_unet().to(device)
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


def teacher_key(cfg: Optional[TrainConfig] = None) -> str:
    cfg = cfg or FULL_TRAIN
    return config_hash("unet", digits_split().data_hash, MODEL_CONFIG, SCHEDULE_CONFIG, cfg.to_dict())


def training_meta(cfg, command: str, extra: Optional[dict] = None) -> dict:
    import diffusers

    return dict(
        command=command,
        train_config=cfg.to_dict() if hasattr(cfg, "to_dict") else cfg,
        model_config=MODEL_CONFIG,
        schedule_config=SCHEDULE_CONFIG,
        data="sklearn.datasets.load_digits, bilinear 8x8->16x16, [-1,1], stratified split seed 0, 600 held out",
        data_hash=digits_split().data_hash,
        torch=torch.__version__,
        diffusers=diffusers.__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    )


def load_teacher(cfg: Optional[TrainConfig] = None, device: Optional[torch.device] = None, train_if_missing: bool = True,
                 progress=None, save_to: Optional[Path] = None):
    """The trained substrate model for `cfg` (EMA weights, eval mode) and where it came from."""
    cfg = cfg or FULL_TRAIN
    device = device or pick_device()
    key = teacher_key(cfg)
    path, where = find_checkpoint("unet", key)
    model = make_unet()
    if path is None:
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint for unet-{key}; run 'python -m reference_impls.train teacher'")
        model, info = train_diffusion(cfg, device, progress, log_every=0 if cfg.steps < 1000 else 500)
        command = "python -m reference_impls.train teacher" + ("" if cfg == FULL_TRAIN else " (quick config)")
        path = save_checkpoint(model, "unet", key, save_to or cache_dir(), training_meta(cfg, command, info))
        load_weights(model, path)  # use exactly what was stored (fp16-rounded weights)
        where = "trained now"
    else:
        load_weights(model, path)
    return model.to(device).eval(), where


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in sys.argv)
