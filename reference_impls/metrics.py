"""Quality metrics: FD-digits, classifier confidence, class coverage, precision/recall.

FD-digits
    The Fréchet distance (the FID formula) between Gaussian fits of features of
    generated and of held-out real digits. The features are the 128-d
    penultimate layer of a small CNN classifier that the project trains on the
    training split (`python -m reference_impls.train classifier`; its held-out
    accuracy is recorded beside its weights and printed with every result).
    An FD number alone cannot be read, so every result carries two anchors
    computed with the same number of samples:

    * the floor: real training digits vs the held-out digits (what a perfect
      generator would score at this sample size), and
    * the ceiling: clipped Gaussian noise images vs the held-out digits.

Also: mean classifier confidence (max softmax), class coverage (how many of
the ten classes get at least a fifth of their fair share of samples; mode
collapse lowers it), the entropy of the predicted class histogram, and
k-NN precision / recall in feature space (Kynkäänniemi et al., 2019).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from . import substrate

CLASSIFIER_TRAIN = dict(epochs=40, batch_size=64, lr=2e-3, seed=0, shift=1)


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.ReLU(),   # 8x8
            nn.Conv2d(64, 64, 3, padding=1, stride=2), nn.ReLU(),   # 4x4
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def classifier_key() -> str:
    return substrate.config_hash("digitsnet", substrate.digits_split().data_hash, CLASSIFIER_TRAIN, "v1")


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    if max_shift <= 0:
        return x
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_classifier(cfg: dict = CLASSIFIER_TRAIN) -> tuple[DigitsNet, float]:
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    split = substrate.digits_split()
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    n = len(split.train_x)
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg["batch_size"]):
            idx = perm[i:i + cfg["batch_size"]]
            x = _shift(split.train_x[idx], gen, cfg["shift"])
            loss = nn.functional.cross_entropy(net(x), split.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net, test_accuracy(net)


@torch.no_grad()
def test_accuracy(net: DigitsNet) -> float:
    split = substrate.digits_split()
    pred = net(split.test_x).argmax(1)
    return float((pred == split.test_y).float().mean())


def train_and_save_classifier(out: Path, force: bool = False) -> Path:
    key = classifier_key()
    existing = substrate.verify_checkpoint("digitsnet", key, out)
    if existing and not force:
        print(f"classifier digitsnet-{key} present; skipping")
        return existing
    net, acc = train_classifier()
    meta = substrate.training_meta(CLASSIFIER_TRAIN, "python -m reference_impls.train classifier",
                                   {"test_accuracy": acc, "test_images": substrate.HELDOUT})
    path = substrate.save_checkpoint(net, "digitsnet", key, out, meta)
    print(f"classifier digitsnet-{key}: held-out accuracy {acc:.4f}")
    return path


@lru_cache(maxsize=1)
def classifier() -> tuple[DigitsNet, float, str]:
    """The committed (or cached, or freshly trained) classifier, its accuracy, and its origin."""
    key = classifier_key()
    path, where = substrate.find_checkpoint("digitsnet", key)
    if path is None:
        path = train_and_save_classifier(substrate.cache_dir())
        where = "trained now"
    net = substrate.load_weights(DigitsNet(), path).eval()
    return net, test_accuracy(net), where


@torch.no_grad()
def embed(images: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Features and softmax probabilities of images in [-1, 1] (clipped first)."""
    net = classifier()[0]
    feats, probs = [], []
    for i in range(0, len(images), batch):
        x = images[i:i + batch].float().cpu().clamp(-1, 1)
        f = net.features(x)
        feats.append(f.numpy().astype(np.float64))
        probs.append(torch.softmax(net.head(f), 1).numpy())
    return np.concatenate(feats), np.concatenate(probs)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@lru_cache(maxsize=1)
def _reference_features() -> np.ndarray:
    return embed(substrate.digits_split().test_x)[0]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision (fakes inside the real manifold) and recall (reals inside the fake one)."""
    def radii(x):
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]

    def inside(points, centres, r):
        d = np.sqrt(((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
        return float((d <= r[None, :]).any(1).mean())

    real, fake = real[:1000], fake[:1000]
    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def quality(images: torch.Tensor, with_pr: bool = False) -> dict:
    """All image-quality metrics of a batch of generated digits against the held-out set."""
    feats, probs = embed(images)
    ref = _reference_features()
    counts = np.bincount(probs.argmax(1), minlength=10)
    share = counts / counts.sum()
    nz = share[share > 0]
    out = {
        "fd": frechet_distance(feats, ref),
        "confidence": float(probs.max(1).mean()),
        "coverage": int((share >= 0.1 / 5).sum()),
        "class_entropy": float(-(nz * np.log(nz)).sum() / np.log(10)),
    }
    if with_pr:
        out["precision"], out["recall"] = precision_recall(ref, feats)
    return out


@lru_cache(maxsize=8)
def anchors(n: int, seed: int = 0) -> dict:
    """FD floor (real train vs held-out) and ceiling (noise vs held-out) at sample size n."""
    split = substrate.digits_split()
    gen = torch.Generator().manual_seed(seed)
    m = min(n, len(split.train_x))
    idx = torch.randperm(len(split.train_x), generator=gen)[:m]
    noise = torch.randn((n, 1, substrate.IMAGE_SIZE, substrate.IMAGE_SIZE), generator=gen).clamp(-1, 1)
    ref = _reference_features()
    return {
        "fd_floor": frechet_distance(embed(split.train_x[idx])[0], ref),
        "fd_ceiling": frechet_distance(embed(noise)[0], ref),
        "floor_samples": m,
        "classifier_accuracy": classifier()[1],
    }


def classifier_info() -> dict:
    net, acc, where = classifier()
    return {"classifier_accuracy": acc, "classifier_source": where, "classifier_key": classifier_key()}


def save_grid(images: torch.Tensor, path: Path, nrow: int = 10, scale: int = 3) -> Path:
    """Save up to nrow*nrow images as one PNG grid (each image upscaled `scale` times)."""
    from PIL import Image

    x = images[: nrow * nrow].detach().float().cpu().clamp(-1, 1)
    x = ((x + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()
    n, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    canvas = np.full((rows * (h + 1) + 1, nrow * (w + 1) + 1), 40, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = x[i]
    img = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def describe_anchors(a: dict) -> str:
    return json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in a.items()})


# ---------------------------------------------------------------------------
# exact distances for 2-D toy distributions (see substrate.toy_2d)
# ---------------------------------------------------------------------------


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 256, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two equal-size point clouds (exact per projection)."""
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((projections, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pa = np.sort(a[:n] @ dirs.T, axis=0)
    pb = np.sort(b[:n] @ dirs.T, axis=0)
    return float(np.abs(pa - pb).mean())


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float = 1.0) -> float:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel."""
    def k(x, y):
        d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * bandwidth ** 2))

    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())
