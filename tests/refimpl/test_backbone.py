"""The tiny DiT substrate (core/dit.py) and the backbone demo: interface, hooks, committed weights."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from reference_impls.core import checkpoints, dit, training
from reference_impls.core.model import count_parameters, training_scheduler
from reference_impls.core.spec import ParamError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _randomised(seed: int = 0) -> torch.nn.Module:
    """A TinyDiT with every weight random (the zero init would make all outputs zero)."""
    net = dit.make_dit().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return net


def test_dit_is_called_like_the_unet():
    net = dit.make_dit()
    assert count_parameters(net) == 486_020
    assert isinstance(net.transformer_blocks, torch.nn.ModuleList) and len(net.transformer_blocks) == 5
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        out = net(x, torch.tensor([1, 500, 999])).sample
    assert out.shape == (3, 1, 16, 16)
    assert torch.count_nonzero(out) == 0  # adaLN-Zero: the output layer starts at zero, as in the paper
    net = _randomised()
    with torch.no_grad():
        scalar = net(x, torch.tensor(500)).sample
        batch = net(x, torch.full((3,), 500)).sample
        labelled = net(x, torch.full((3,), 500), class_labels=torch.zeros(3, dtype=torch.long)).sample
        other_t = net(x, torch.full((3,), 20)).sample
    assert torch.equal(scalar, batch) and torch.equal(batch, labelled)
    assert not torch.allclose(batch, other_t)  # the timestep conditions the output


def test_unconditional_training_never_drops_the_label():
    net = _randomised().train()  # diffusers' label dropout (for CFG) would swap in the null class at random
    x, t = torch.randn(8, 1, 16, 16), torch.full((8,), 300)
    with torch.no_grad():
        assert torch.equal(net(x, t).sample, net(x, t).sample)


def test_dit_trains_with_the_shared_trainer():
    cfg = training.TrainConfig(steps=3, batch_size=8, warmup=1)
    start = dit.make_dit()
    before = {k: v.clone() for k, v in start.state_dict().items()}
    ema, info = training.train_diffusion(cfg, torch.device("cpu"), log_every=0, model=start)
    assert info["final_loss"] > 0 and torch.isfinite(torch.tensor(info["final_loss"]))
    changed = [k for k, v in start.state_dict().items() if not torch.equal(v, before[k])]
    assert any("proj_out_2" in k for k in changed) and any("norm1.linear" in k for k in changed)


def test_first_block_cache_hooks_attach_and_detach():
    from diffusers.hooks import FirstBlockCacheConfig

    net = _randomised()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        plain = [net(x, torch.tensor(t)).sample for t in (900, 880)]
        net.enable_cache(FirstBlockCacheConfig(threshold=0.0))  # never below: every block is computed
        with net.cache_context("cond"):
            exact = [net(x, torch.tensor(t)).sample for t in (900, 880)]
        net.disable_cache()
        net.enable_cache(FirstBlockCacheConfig(threshold=10.0))  # always below: the second call reuses the rest
        with net.cache_context("cond"):
            reused = [net(x, torch.tensor(t)).sample for t in (900, 880)]
        net.disable_cache()
        after = net(x, torch.tensor(900)).sample
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, exact))
    assert torch.allclose(reused[0], plain[0], atol=1e-6) and not torch.allclose(reused[1], plain[1], atol=1e-4)
    assert torch.equal(after, plain[0])


def test_pyramid_attention_broadcast_hooks_every_self_attention():
    from diffusers.hooks import HookRegistry, PyramidAttentionBroadcastConfig

    net = _randomised()
    state = {"t": 500}
    net.enable_cache(PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                                     spatial_attention_timestep_skip_range=(100, 800),
                                                     current_timestep_callback=lambda: state["t"]))
    hooked = [name for name, m in net.named_modules()
              if hasattr(m, "_diffusers_hook") and isinstance(m._diffusers_hook, HookRegistry)
              and m._diffusers_hook.hooks]
    net.disable_cache()
    assert sorted(hooked) == [f"transformer_blocks.{i}.attn1" for i in range(5)]


def test_committed_dit_loads_and_passes_its_hash(tmp_path, cache):
    key = dit.dit_key()
    path = checkpoints.verify_checkpoint("dit", key, checkpoints.WEIGHTS_DIR)
    assert path is not None, "committed tiny DiT missing or corrupted; run python -m reference_impls.train dit"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["command"] == "python -m reference_impls.train dit"
    assert meta["train_config"] == dit.dit_train_config().to_dict() and meta["model_config"] == dit.DIT_CONFIG
    assert meta["train_config"] == dict(training.FULL_TRAIN.to_dict(), steps=dit.DIT_TRAIN_STEPS)  # only steps differ
    net, source = dit.load_dit(torch.device("cpu"))
    assert source == "committed" and not net.training
    # a flipped byte fails the hash check
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (path, path.with_suffix(".json")):
        shutil.copy(f, bad / f.name)
    blob = bytearray((bad / path.name).read_bytes())
    blob[-10] ^= 0xFF
    (bad / path.name).write_bytes(bytes(blob))
    assert checkpoints.verify_checkpoint("dit", key, bad) is None
    # the trained weights denoise: the v-loss on held-out digits is far below predicting zero
    from reference_impls.core.data import digits_split

    x0 = digits_split().test_x[:128]
    sched = training_scheduler()
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.full((x0.shape[0],), 500)
    xt, v = sched.add_noise(x0, noise, t), sched.get_velocity(x0, noise, t)
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(net(xt, t).sample, v).item()
    assert loss < 0.5 * v.pow(2).mean().item()


def test_equal_budget_unet_is_committed_with_the_dits_training():
    cfg = dit.dit_train_config()
    path = checkpoints.verify_checkpoint("unet", training.teacher_key(cfg), checkpoints.WEIGHTS_DIR)
    assert path is not None, "committed equal-budget U-Net missing or corrupted; run python -m reference_impls.train dit"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["train_config"] == cfg.to_dict() and meta["command"] == "python -m reference_impls.train dit"
    net, source = training.load_teacher(cfg, torch.device("cpu"), train_if_missing=False)
    assert source == "committed" and count_parameters(net) == 453_793


def test_backbone_rejects_an_uncommitted_scale():
    from reference_impls.registry import get_demo

    demo = get_demo("backbone")
    with pytest.raises(ParamError, match="'width' and 'image_size'.*width=1"):
        demo.resolve("quick", {"width": 2})
    with pytest.raises(ParamError, match="'baseline_steps'"):
        demo.resolve("quick", {"steps": [20], "baseline_steps": 10})
    assert demo.resolve("quick", {"steps": [10, 50], "baseline_steps": 50})["steps"] == [10, 50]


def test_solvers_can_run_on_the_dit_only_at_the_default_scale():
    from reference_impls.registry import get_demo

    solvers = get_demo("solvers")
    assert solvers.resolve("quick")["backbone"] == "unet"
    assert solvers.resolve("quick", {"backbone": "dit"})["backbone"] == "dit"
    with pytest.raises(ParamError, match="'backbone'.*width=1"):
        solvers.resolve("quick", {"backbone": "dit", "width": 2})
