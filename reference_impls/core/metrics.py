"""Quality metrics: FD and KID in a digits classifier's feature space, and their anchors.

Feature space
    The 128-d penultimate layer of a small CNN classifier that the project
    trains on the training split (`python -m reference_impls.train
    classifier`; its held-out accuracy is recorded beside its weights and
    printed with every result). Images larger than 16x16 are area-averaged to
    16x16 first, the classifier's input size. 53 of the 128 ReLU features are
    zero on every real digit; both metrics use only the *live* features
    (those that vary over the real digits), so no covariance is singular.

FD (Fréchet distance, the FID formula)
    ||mu_g - mu_r||^2 + tr(S_g) + tr(S_r) - 2 tr((S_r^1/2 S_g S_r^1/2)^1/2),
    the last trace from the eigenvalues of a symmetric positive semi-definite
    matrix (no general matrix square root, no warning). FD is biased upwards
    at small n, so it is always read against its anchors.

KID (kernel inception distance, Bińkowski et al. 2018)
    The unbiased squared MMD with the cubic kernel k(x, y) = (x.y / d + 1)^3
    on the live features divided by one constant so that x.x / d is 1 on
    average over the real digits (the classifier's raw ReLU features are
    about 8 times larger, and the cubic kernel would let the largest
    dominate; per-feature standardisation blows up rarely active features),
    reported x 1000. Unbiased at any n, so small quick runs read better in
    KID than in FD. At most `KID_MAX` samples per seed enter it.

Anchors, computed with the run's number of samples over `ANCHOR_DRAWS` draws
(mean and sd): the floor (real training digits vs the held-out digits: what a
perfect generator scores at this size) and the ceiling (clipped Gaussian
noise images vs the held-out digits).

Also: mean classifier confidence (max softmax), class coverage (how many of
the ten classes get at least a fifth of their fair share of samples; mode
collapse lowers it), the entropy of the predicted class histogram, k-NN
precision / recall (Kynkäänniemi et al., 2019), exact distances for 2-D toys.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta, verify_checkpoint
from .data import HELDOUT, IMAGE_SIZE, digits_split
from .paths import cache_dir

CLASSIFIER_TRAIN = dict(epochs=40, batch_size=64, lr=2e-3, seed=0, shift=1)
KID_MAX = 2000
ANCHOR_DRAWS = 5

# ---------------------------------------------------------------------------
# the classifier
# ---------------------------------------------------------------------------


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
    return config_hash("digitsnet", digits_split().data_hash, CLASSIFIER_TRAIN, "v1")


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    if max_shift <= 0:
        return x
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_classifier(cfg: dict = CLASSIFIER_TRAIN) -> tuple[DigitsNet, float]:
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    split = digits_split()
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
    split = digits_split()
    return float((net(split.test_x).argmax(1) == split.test_y).float().mean())


def train_and_save_classifier(out: Path, force: bool = False) -> Path:
    key = classifier_key()
    existing = verify_checkpoint("digitsnet", key, out)
    if existing and not force:
        print(f"classifier digitsnet-{key} present; skipping")
        return existing
    net, acc = train_classifier()
    meta = training_meta(CLASSIFIER_TRAIN, "python -m reference_impls.train classifier",
                         {"test_accuracy": acc, "test_images": HELDOUT})
    path = save_checkpoint(net, "digitsnet", key, out, meta)
    print(f"classifier digitsnet-{key}: held-out accuracy {acc:.4f}")
    return path


@lru_cache(maxsize=1)
def classifier() -> tuple[DigitsNet, float, str]:
    """The committed (or cached, or freshly trained) classifier, its accuracy, and its origin."""
    key = classifier_key()
    path, where = find_checkpoint("digitsnet", key)
    if path is None:
        path = train_and_save_classifier(cache_dir())
        where = "trained now"
    net = load_weights(DigitsNet(), path).eval()
    return net, test_accuracy(net), where


def classifier_info() -> dict:
    _, acc, where = classifier()
    return {"accuracy": acc, "source": where, "key": classifier_key()}


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------


@torch.no_grad()
def embed(images: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """All 128 features and the softmax probabilities of images in [-1, 1] (clipped first)."""
    net = classifier()[0]
    feats, probs = [], []
    for i in range(0, len(images), batch):
        x = images[i:i + batch].float().cpu().clamp(-1, 1)
        if x.shape[-1] != IMAGE_SIZE:
            x = nn.functional.adaptive_avg_pool2d(x, IMAGE_SIZE)
        f = net.features(x)
        feats.append(f.numpy().astype(np.float64))
        probs.append(torch.softmax(net.head(f), 1).numpy())
    return np.concatenate(feats), np.concatenate(probs)


@lru_cache(maxsize=1)
def _real_features() -> np.ndarray:
    split = digits_split()
    return embed(torch.cat([split.train_x, split.test_x]))[0]


@lru_cache(maxsize=1)
def live_features() -> np.ndarray:
    """Indices of the features that vary over the real digits (train and held-out)."""
    return np.flatnonzero(_real_features().std(0) > 1e-6)


def live(feats: np.ndarray) -> np.ndarray:
    return feats[:, live_features()]


@lru_cache(maxsize=1)
def _kid_scale() -> float:
    feats = live(_real_features())
    return float(np.sqrt((feats ** 2).sum(1).mean() / feats.shape[1]))


def standardise(feats: np.ndarray) -> np.ndarray:
    """Live features divided by one constant, so that x.x / d is 1 on average over the real digits."""
    return feats / _kid_scale()


@lru_cache(maxsize=1)
def reference() -> "Reference":
    return Reference(live(embed(digits_split().test_x)[0]))


class Reference:
    """The held-out digits' live features and what FD and KID need of them, computed once."""

    def __init__(self, feats: np.ndarray):
        self.feats = feats
        self.d = feats.shape[1]
        self.mu = feats.mean(0)
        self.cov = np.cov(feats, rowvar=False)
        vals, vecs = np.linalg.eigh(self.cov)
        self.cov_sqrt = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
        self.z = standardise(feats)
        k_rr = kernel(self.z, self.z)
        m = len(feats)
        self.k_rr = float((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1)))


# ---------------------------------------------------------------------------
# FD and KID
# ---------------------------------------------------------------------------


def fd(feats: np.ndarray, ref: Reference | None = None) -> float:
    """FD of live features against the reference (held-out digits)."""
    ref = ref or reference()
    mu, cov = feats.mean(0), np.cov(feats, rowvar=False)
    # tr((S_r^1/2 S_g S_r^1/2)^1/2) from the eigenvalues of a symmetric PSD matrix
    middle = ref.cov_sqrt @ cov @ ref.cov_sqrt
    root_trace = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu - ref.mu) ** 2).sum() + np.trace(cov) + np.trace(ref.cov) - 2 * root_trace)


def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cubic polynomial kernel of KID: (a.b / d + 1)^3."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kid(feats: np.ndarray, ref: Reference | None = None) -> float:
    """Unbiased squared MMD x 1000 (cubic kernel) against the reference, on at most KID_MAX samples."""
    ref = ref or reference()
    z = standardise(feats[:KID_MAX])
    n = len(z)
    k_gg = kernel(z, z)
    # mean over distinct pairs (i != j) + the reference's own term - 2 x the cross mean
    gg = (k_gg.sum() - np.trace(k_gg)) / (n * (n - 1))
    return float(1000.0 * (gg + ref.k_rr - 2 * kernel(z, ref.z).mean()))


def class_stats(probs: np.ndarray) -> dict:
    counts = np.bincount(probs.argmax(1), minlength=10)
    share = counts / counts.sum()
    nz = share[share > 0]
    return {"confidence": float(probs.max(1).mean()), "coverage": int((share >= 0.1 / 5).sum()),
            "class_entropy": float(-(nz * np.log(nz)).sum() / np.log(10))}


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


# ---------------------------------------------------------------------------
# anchors
# ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def anchors(n: int, image_size: int = IMAGE_SIZE, draws: int = ANCHOR_DRAWS) -> dict:
    """FD and KID floor (real train vs held-out) and ceiling (noise vs held-out) at n samples, over `draws` draws."""
    split = digits_split(image_size)
    gen = torch.Generator().manual_seed(0)
    m = min(n, len(split.train_x))
    floor_fd, floor_kid, ceil_fd, ceil_kid = [], [], [], []
    for _ in range(draws):
        idx = torch.randperm(len(split.train_x), generator=gen)[:m]
        real = live(embed(split.train_x[idx])[0])
        noise = torch.randn((m, 1, image_size, image_size), generator=gen).clamp(-1, 1)
        fake = live(embed(noise)[0])
        floor_fd.append(fd(real))
        floor_kid.append(kid(real))
        ceil_fd.append(fd(fake))
        ceil_kid.append(kid(fake))

    def ms(values):
        return float(np.mean(values)), float(np.std(values, ddof=1))

    out = {"samples": m, "draws": draws, "classifier_accuracy": classifier()[1],
           "live_features": int(len(live_features())), "features": 128}
    for name, values in (("fd_floor", floor_fd), ("kid_floor", floor_kid), ("fd_ceiling", ceil_fd),
                         ("kid_ceiling", ceil_kid)):
        out[name], out[name + "_sd"] = ms(values)
    return out


# ---------------------------------------------------------------------------
# sample grids and exact distances for 2-D toys (see data.toy_2d)
# ---------------------------------------------------------------------------


def save_grid(images: torch.Tensor, path: Path, nrow: int = 10, scale: int = 3) -> Path:
    """Save up to nrow*nrow images as one PNG grid (each image upscaled `scale` times); three channels are
    shown in colour, any other count by its first channel (a latent model's samples are not images)."""
    from PIL import Image

    x = images[: nrow * nrow].detach().float().cpu().clamp(-1, 1)
    x = ((x + 1) * 127.5).round().to(torch.uint8)
    x = (x.permute(0, 2, 3, 1) if x.shape[1] == 3 else x[:, :1].permute(0, 2, 3, 1)).numpy()
    n, h, w, c = x.shape
    rows = (n + nrow - 1) // nrow
    canvas = np.full((rows * (h + 1) + 1, nrow * (w + 1) + 1, c), 40, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + col * (w + 1): 1 + col * (w + 1) + w] = x[i]
    img = Image.fromarray(canvas if c == 3 else canvas[:, :, 0])
    img = img.resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


# ---------------------------------------------------------------------------
# fidelity: agreement with the full-cost baseline's output from the same noise (a user's model)
# ---------------------------------------------------------------------------

FIDELITY_RANGE = 2.0   # the [-1, 1] image range; a latent model's samples are scored on the same constant
PSNR_CAP = 100.0       # dB: an image identical to its reference (infinite PSNR) scores this


def psnr(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over images of each image's PSNR against its reference (same noise), capped at PSNR_CAP."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    per_image = peak_signal_noise_ratio(images.float(), reference.float(), data_range=FIDELITY_RANGE,
                                        reduction="none", dim=(1, 2, 3))
    return float(per_image.clamp(max=PSNR_CAP).mean())


def ssim(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean SSIM (Gaussian window 11, or the largest odd window the image holds) against the same-noise reference."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    side = min(images.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)
    return float(structural_similarity_index_measure(images.float(), reference.float(), data_range=FIDELITY_RANGE,
                                                     kernel_size=kernel, sigma=1.5 * kernel / 11))


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
