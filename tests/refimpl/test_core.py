"""The core: data, checkpoints, schedulers, metrics, parameters, devices and the method loop."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from reference_impls.core import checkpoints, data, device, harness, metrics, model, schedulers, spec, training
from reference_impls.core.progress import Progress
from reference_impls.core.spec import ParamError, RunContext


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# -- data, model, checkpoints -------------------------------------------------------------


def test_digits_split_is_fixed_and_scaled():
    split = data.digits_split()
    assert split.train_x.shape == (1197, 1, 16, 16) and split.test_x.shape == (600, 1, 16, 16)
    assert split.train_x.min() >= -1 and split.train_x.max() <= 1
    assert sorted(split.test_y.unique().tolist()) == list(range(10))
    big = data.digits_split(32)
    assert big.train_x.shape == (1197, 1, 32, 32) and big.data_hash != split.data_hash
    with pytest.raises(ValueError, match="not supported"):
        data.digits_split(20)


def test_scale_changes_the_model_but_not_the_committed_key():
    assert model.model_config(model.DEFAULT_SCALE) == model.MODEL_CONFIG
    wide = model.Scale(width=2, image_size=32)
    cfg = model.model_config(wide)
    assert cfg["block_out_channels"] == (32, 64, 96) and cfg["sample_size"] == 32
    assert training.teacher_key(scale=wide) != training.teacher_key()
    net = model.make_unet(wide).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 32, 32), torch.tensor([1, 500])).sample.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError):
        model.Scale(width=0)


def test_committed_weights_record_their_training():
    for name, key in (("unet", training.teacher_key()), ("digitsnet", metrics.classifier_key())):
        path = checkpoints.verify_checkpoint(name, key, checkpoints.WEIGHTS_DIR)
        assert path is not None, f"committed {name}-{key} missing or corrupted; run python -m reference_impls.train all"
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["command"].startswith("python -m reference_impls.train")
        assert meta["data_hash"] == data.digits_split().data_hash
        assert "train_config" in meta and meta["bytes"] < 2_000_000


TINY = training.TrainConfig(steps=20, batch_size=16, warmup=5, ema_decay=0.9)


def test_short_retrain_saves_verifies_and_detects_corruption(cache, capsys):
    cpu = torch.device("cpu")
    net, where = training.load_teacher(TINY, cpu)
    assert where == "trained now"
    key = training.teacher_key(TINY)
    path = checkpoints.verify_checkpoint("unet", key, cache)
    assert path is not None and json.loads(path.with_suffix(".json").read_text())["train_config"]["steps"] == 20
    again, where = training.load_teacher(TINY, cpu)
    assert where == "cache"
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([10, 900])
    with torch.no_grad():
        assert torch.equal(net(x, t).sample, again(x, t).sample)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert checkpoints.verify_checkpoint("unet", key, cache) is None
    _, where = training.load_teacher(TINY, cpu)
    assert where == "trained now" and "failed its integrity check" in capsys.readouterr().err
    path.with_suffix(".json").unlink()
    assert checkpoints.verify_checkpoint("unet", key, cache) is None


@pytest.mark.parametrize("name", ("ddpm",) + schedulers.SOLVERS)
@pytest.mark.parametrize("karras", [False, True])
def test_every_sampler_uses_the_training_noise_schedule(name, karras):
    if karras and name in ("ddpm", "ddim"):
        pytest.skip("no Karras option")
    sched = schedulers.make_scheduler(name, karras=karras)
    assert torch.allclose(sched.alphas_cumprod.double(), model.alphas_cumprod().double(), atol=0, rtol=1e-6)
    assert sched.config.prediction_type == "v_prediction" and sched.config.num_train_timesteps == 1000


# -- metrics --------------------------------------------------------------------------------


def test_fd_and_kid_separate_real_digits_from_noise_without_warnings():
    split = data.digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no singular-matrix or sqrtm warning may remain
        real = metrics.live(metrics.embed(split.train_x[:300])[0])
        noise = metrics.live(metrics.embed(torch.randn(300, 1, 16, 16).clamp(-1, 1))[0])
        blurred = metrics.live(metrics.embed(torch.nn.functional.avg_pool2d(split.train_x[:300], 3, 1, 1))[0])
        fd_real, fd_noise, fd_blur = (metrics.fd(f) for f in (real, noise, blurred))
        kid_real, kid_noise, kid_blur = (metrics.kid(f) for f in (real, noise, blurred))
        a = metrics.anchors(300)
    assert fd_real < fd_blur < fd_noise and fd_real * 10 < fd_noise
    assert abs(kid_real) < kid_blur < kid_noise
    assert a["fd_floor"] * 10 < a["fd_ceiling"] and a["draws"] >= 5 and a["fd_floor_sd"] > 0
    assert 0 < a["live_features"] < 128
    # FD is the FID formula: a copy of the reference scores (numerically) zero
    assert abs(metrics.fd(metrics.reference().feats)) < 1e-4


def test_classifier_is_accurate_and_coverage_sees_mode_collapse():
    _, accuracy, source = metrics.classifier()
    assert accuracy > 0.95 and source in ("committed", "cache", "trained now")
    split = data.digits_split()
    probs = metrics.embed(split.train_x[split.train_y == 1][:100])[1]
    stats = metrics.class_stats(probs)
    assert stats["coverage"] <= 2 and stats["class_entropy"] < 0.3


def test_toy_distances_and_grid(tmp_path):
    a, b, c = data.toy_2d("8gaussians", 400, 0), data.toy_2d("8gaussians", 400, 1), data.toy_2d("moons", 400, 0)
    assert metrics.sliced_wasserstein(a, b) < metrics.sliced_wasserstein(a, c) / 3
    assert abs(metrics.mmd_rbf(a, b)) < metrics.mmd_rbf(a, c) / 5
    from PIL import Image

    assert Image.open(metrics.save_grid(data.digits_split().test_x[:30], tmp_path / "g.png")).size[0] > 100


# -- parameters and devices ------------------------------------------------------------------


def test_parameters_parse_strictly_and_name_the_range():
    f = spec.Param(name="frac", type=float, quick=0.3, full=0.3, lo=0.01, hi=0.99, help="", many=True)
    assert f.parse("0.2,0.4") == [0.2, 0.4] and f.parse("0.2,0.2,0.4") == [0.2, 0.4]
    for bad in ("nan", "inf", "-inf", float("nan")):
        with pytest.raises(ParamError, match=r"'frac'.*not a finite number.*\[0.01, 0.99\]"):
            f.parse(bad)
    with pytest.raises(ParamError, match=r"'frac': 2 is out of range \[0.01, 0.99\]"):
        f.parse(2.0)
    b = spec.Param(name="retrieval", type=bool, quick=True, full=True, help="")
    for text, value in (("true", True), ("No", False), ("1", True), ("0", False), ("yes", True), (False, False)):
        assert b.parse(text) is value
    for bad in ("ture", "2", "", "y e s"):
        with pytest.raises(ParamError, match="'retrieval'.*not a boolean.*true/false"):
            b.parse(bad)
    i = spec.Param(name="seeds", type=int, quick=3, full=5, lo=1, hi=20, help="")
    assert i.parse("4") == 4 and i.parse(4.0) == 4
    for bad in ("4.5", "many", True, 4.5):
        with pytest.raises(ParamError, match="'seeds'.*not an integer"):
            i.parse(bad)
    with pytest.raises(ParamError, match=r"'seeds': 0 is out of range \[1, 20\]"):
        i.parse(0)
    s = spec.Param(name="solver", type=str, quick="a", full="a", choices=("a", "b"), help="")
    with pytest.raises(ParamError, match="'solver'.*not allowed; use one of a, b"):
        s.parse("c")


def test_devices_that_are_not_here_are_one_clear_error(monkeypatch):
    assert device.pick_device("cpu").type == "cpu" and device.pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(device.DeviceError, match="'tpu' is not known"):
        device.pick_device("tpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:7"):
            with pytest.raises(device.DeviceError, match="sees no CUDA GPU"):
                device.pick_device(name)
    monkeypatch.setenv("DIFFATLAS_THREADS", "3")
    assert device.thread_count() == 3
    monkeypatch.setenv("DIFFATLAS_THREADS", "many")
    with pytest.raises(ParamError, match="DIFFATLAS_THREADS"):
        device.thread_count()
    monkeypatch.delenv("DIFFATLAS_THREADS")
    import os

    assert device.thread_count() == os.cpu_count()


# -- the method loop --------------------------------------------------------------------------


def _ctx(tmp_path, dtype="fp32"):
    return RunContext(torch.device("cpu"), Progress(), tmp_path, "quick", dtype, False, torch.get_num_threads())


def test_repeats_are_interleaved_nfe_is_counted_and_own_models_are_used(tmp_path):
    torch.manual_seed(0)
    base, other = model.make_unet().eval(), model.make_unet().eval()
    log = []

    def method(label, steps, role, own=None):
        def fn(noise, seed, net):
            if noise.shape[0] > 1:  # the repeats, not the batch-1 cost pass
                log.append((label, seed, net.model is (own or base)))
            return harness.sample(net, schedulers.make_scheduler("ddim"), noise, steps=steps)
        return harness.Method(label, fn, steps, role, model=own)

    methods = [method("full", 6, "full-cost"), method("eq", 2, "equal-cost"), method("tech", 2, "technique", other)]
    params = {"n_samples": 8, "seeds": 3, "batch": 8, "image_size": 16}
    measured = harness.measure_all(methods, base, _ctx(tmp_path), params)
    seeds_in_order = [seed // 100003 for _, seed, _ in log]
    assert seeds_in_order == sorted(seeds_in_order)  # every method's repeat k before any method's repeat k+1
    assert all(own for *_, own in log)  # each method ran on its own model
    orders = [tuple(label for label, s, _ in log if s // 100003 == k) for k in range(3)]
    assert len(set(orders)) > 1  # shuffled between repeats
    rows = {r.method: r for r in measured.rows}
    assert [rows[k].nfe for k in ("full", "eq", "tech")] == [6, 2, 2]
    assert rows["full"].flops_per_sample == pytest.approx(3 * rows["eq"].flops_per_sample, rel=0.02)
    assert rows["full"].speedup == 1.0 and rows["eq"].speedup > 1
    assert len(rows["tech"].fd_seeds) == 3 and rows["tech"].latency_ms > 0 and rows["tech"].weight_bytes > 0
    cmp = measured.compare("tech", "eq")
    assert {c.metric for c in cmp} == {"fd", "kid"} and all(c.reference_role == "equal-cost" for c in cmp)
    assert all(c.ci_low <= c.difference <= c.ci_high for c in cmp)


def test_sampling_can_start_mid_chain():
    torch.manual_seed(0)
    net = harness.CountingModel(model.make_unet().eval())
    noise = torch.randn(3, 1, 16, 16)
    for name in ("ddim", "dpmsolver++"):
        whole = harness.sample(net, schedulers.make_scheduler(name), noise, steps=8)
        half = harness.sample(net, schedulers.make_scheduler(name), noise, steps=8, end=3)
        rest = harness.sample(net, schedulers.make_scheduler(name), half, steps=8, begin=3, from_noise=False)
        if name == "ddim":  # single-step: resuming from the state is exact
            assert torch.allclose(whole, rest, atol=1e-5)
        else:  # multistep: the resumed run restarts its history (first order for one step), so it is close
            assert (whole - rest).abs().mean() < 0.05
    net.reset()
    harness.sample(net, schedulers.make_scheduler("ddim"), noise, steps=10, begin=4, from_noise=False)
    assert net.calls == 6


def test_autocast_precision_is_applied(tmp_path):
    net = harness.CountingModel(model.make_unet().eval(), dtype="bf16")
    out = net(torch.randn(2, 1, 16, 16), torch.tensor(500))
    assert out.dtype == torch.float32 and net.calls == 1


def test_a_demo_checks_cross_parameter_rules_before_loading():
    from reference_impls import registry

    with pytest.raises(ParamError, match="key_step"):
        registry.get_demo("truncated").resolve("quick", {"key_step": 9})
    with pytest.raises(ParamError, match="chain_steps.*divide 1000"):
        registry.get_demo("truncated").resolve("quick", {"chain_steps": 300})
    with pytest.raises(ParamError, match="students are committed only"):
        registry.get_demo("distillation").resolve("quick", {"width": 2})
    with pytest.raises(ParamError, match="option 'dtype'"):
        registry.check_options("fp8")
    for d in registry.registry().values():
        d.resolve("quick")
        d.resolve("full")
        assert {"n_samples", "seeds", "batch", "width", "image_size"} <= {p.name for p in d.params}
