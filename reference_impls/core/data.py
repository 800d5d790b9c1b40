"""Data that ships with a package: scikit-learn's digits and 2-D toy distributions.

scikit-learn's handwritten digits (1,797 images of 8x8 pixels, 16 grey levels)
are upsampled bilinearly to the working size (16x16 by default, 32x32 for a
bigger GPU experiment) and scaled to [-1, 1]. A fixed, stratified split keeps
600 images out of every training run: they are the reference set of the
quality metrics (see `metrics.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

IMAGE_SIZE = 16      # the committed weights' size; 32 is the other supported size
IMAGE_SIZES = (16, 32)
HELDOUT = 600
SPLIT_SEED = 0


def _digits_arrays():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def upsample(images8: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """8x8 images with values 0..16 -> 1 x size x size tensors in [-1, 1]."""
    x = torch.from_numpy(np.asarray(images8, dtype=np.float32)).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x * 2.0 - 1.0).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class DigitsSplit:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    data_hash: str


@lru_cache(maxsize=4)
def digits_split(size: int = IMAGE_SIZE) -> DigitsSplit:
    """The fixed train / held-out split (stratified, seed 0) at `size` pixels, cached in memory."""
    from sklearn.model_selection import train_test_split

    if size not in IMAGE_SIZES:
        raise ValueError(f"image size {size} is not supported; use one of {IMAGE_SIZES}")
    images, labels = _digits_arrays()
    idx = np.arange(len(labels))
    tr, te = train_test_split(idx, test_size=HELDOUT, random_state=SPLIT_SEED, stratify=labels)
    tr, te = np.sort(tr), np.sort(te)
    digest = hashlib.sha256()
    digest.update(images.tobytes())
    digest.update(labels.tobytes())
    digest.update(tr.tobytes())
    digest.update(f"size={size}".encode())
    return DigitsSplit(upsample(images[tr], size), torch.from_numpy(labels[tr]), upsample(images[te], size),
                       torch.from_numpy(labels[te]), digest.hexdigest()[:16])


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
