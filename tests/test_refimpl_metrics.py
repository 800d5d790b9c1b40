"""FD-digits and friends: the classifier is accurate and the metric separates digits from noise."""

from __future__ import annotations

import math

import torch

from reference_impls import substrate as _substrate_for_threads  # noqa: E402
from reference_impls import metrics, substrate


def test_classifier_is_accurate():
    _, accuracy, source = metrics.classifier()
    assert accuracy > 0.95, accuracy
    assert source in ("committed", "cache", "trained now")


def test_fd_separates_real_digits_from_noise():
    a = metrics.anchors(300)
    assert a["fd_floor"] * 10 < a["fd_ceiling"]
    real = metrics.quality(substrate.digits_split().train_x[:300], with_pr=True)
    noise = metrics.quality(torch.randn(300, 1, 16, 16).clamp(-1, 1))
    assert real["fd"] < noise["fd"] / 10
    assert real["coverage"] == 10 and real["confidence"] > 0.9
    assert real["precision"] > 0.7 and real["recall"] > 0.7
    blurred = torch.nn.functional.avg_pool2d(substrate.digits_split().train_x[:300], 3, 1, 1)
    assert real["fd"] < metrics.quality(blurred)["fd"] < noise["fd"]


def test_mode_collapse_lowers_coverage():
    split = substrate.digits_split()
    ones = split.train_x[split.train_y == 1][:100]
    q = metrics.quality(ones)
    assert q["coverage"] <= 2 and q["class_entropy"] < 0.3
    assert math.isfinite(q["fd"])


def test_grid_png(tmp_path):
    path = metrics.save_grid(substrate.digits_split().test_x[:30], tmp_path / "g.png")
    from PIL import Image

    assert Image.open(path).size[0] > 100


def test_exact_toy_distances_separate_distributions():
    a = substrate.toy_2d("8gaussians", 400, seed=0)
    b = substrate.toy_2d("8gaussians", 400, seed=1)
    c = substrate.toy_2d("moons", 400, seed=0)
    assert metrics.sliced_wasserstein(a, b) < metrics.sliced_wasserstein(a, c) / 3
    assert abs(metrics.mmd_rbf(a, b)) < metrics.mmd_rbf(a, c) / 5


_substrate_for_threads.set_threads()  # half the cores: see substrate.set_threads
