"""The substrate: data split, checkpoint store (corruption detected), a short real retrain, NFE counting."""

from __future__ import annotations

import json

import pytest
import torch

from reference_impls import substrate as _substrate_for_threads  # noqa: E402
from reference_impls import harness, metrics, solvers, substrate


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_digits_split_is_fixed_and_scaled():
    split = substrate.digits_split()
    assert split.train_x.shape == (1197, 1, 16, 16) and split.test_x.shape == (600, 1, 16, 16)
    assert split.train_x.min() >= -1 and split.train_x.max() <= 1
    assert sorted(split.test_y.unique().tolist()) == list(range(10))
    assert len(split.data_hash) == 16


def test_committed_weights_record_their_training(cache):
    for name, key in (("unet", substrate.teacher_key()), ("digitsnet", metrics.classifier_key())):
        path = substrate.verify_checkpoint(name, key, substrate.WEIGHTS_DIR)
        assert path is not None, f"committed {name}-{key} missing or corrupted; run python -m reference_impls.train all"
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["command"].startswith("python -m reference_impls.train")
        assert meta["data_hash"] == substrate.digits_split().data_hash
        assert "train_config" in meta and meta["bytes"] < 2_000_000


TINY = substrate.TrainConfig(steps=20, batch_size=16, warmup=5, ema_decay=0.9)


def test_short_retrain_saves_verifies_and_detects_corruption(cache, capsys):
    device = torch.device("cpu")
    model, where = substrate.load_teacher(TINY, device)
    assert where == "trained now"
    key = substrate.teacher_key(TINY)
    path = substrate.verify_checkpoint("unet", key, cache)
    assert path is not None
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["train_config"]["steps"] == TINY.steps and meta["final_loss"] > 0
    again, where = substrate.load_teacher(TINY, device)
    assert where == "cache"
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        assert torch.equal(model(x, t).sample, again(x, t).sample)
    # corrupt one byte: the checkpoint is rejected and retrained, never used
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert substrate.verify_checkpoint("unet", key, cache) is None
    _, where = substrate.load_teacher(TINY, device)
    assert where == "trained now"
    assert "failed its integrity check" in capsys.readouterr().err
    # a partial write (weights without sidecar) is not used either
    path.with_suffix(".json").unlink()
    assert substrate.verify_checkpoint("unet", key, cache) is None


@pytest.mark.parametrize("name", ("ddpm",) + solvers.SOLVERS)
def test_nfe_is_counted_by_wrapping_the_model(name):
    torch.manual_seed(0)
    model = substrate.make_unet().eval()
    steps = 1000 if name == "ddpm" else 5
    if name == "ddpm":
        steps = 20  # DDPM with 20 of its 1000 steps: NFE still equals steps
    method = solvers.solver_method(name, steps)
    row = harness.measure(method, model, n=4, seeds=[0], device=torch.device("cpu"), batch=4)
    assert row["nfe"] == method.expected_nfe == solvers.expected_nfe(name, steps)
    assert row["spacing"] in ("leading", "linspace")
    assert 0 <= row["overhead_share"] < 1


_substrate_for_threads.set_threads()  # half the cores: see substrate.set_threads
