"""The caching demo's technique: DeepCache on the committed UNet.

Each test could fail: the full call must be the library's forward bit for bit,
interval 1 must be the uncached sampler exactly, a cached call must cost the
FLOPs of the layers it runs (listed here by hand, not taken from the code),
and a feature must never be reused across sampling runs or batches.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reference_impls.core import harness
from reference_impls.core.schedulers import make_scheduler
from reference_impls.core.spec import ParamError
from reference_impls.core.training import load_teacher
from reference_impls.registry import get_demo
from reference_impls.system import caching
from reference_impls.system.caching import DeepCacheConfig, apply_deepcache


@pytest.fixture(scope="module")
def unet():
    model, _ = load_teacher(device=torch.device("cpu"))
    return model.eval()


def _noise(n=4, seed=0):
    return harness.make_noise(n, seed, torch.device("cpu"))


def _sample(net, name, steps, noise):
    return harness.sample(harness.CountingModel(net), make_scheduler(name), noise, steps=steps)


@torch.no_grad()
@pytest.mark.parametrize("branch", range(6))
def test_full_call_is_the_library_forward_and_a_cached_call_resumes_it_exactly(unet, branch):
    x, t = _noise(), torch.full((4,), 700)
    net = apply_deepcache(unet, DeepCacheConfig(interval=3, branch=branch))
    reference = unet(x, t).sample
    assert torch.equal(net(x, t), reference)  # call 0: full
    net._last_t += 1  # same timestep again, without starting a new run: call 1 is cached
    assert net.full_calls == 1 and torch.equal(net(x, t), reference) and net.full_calls == 1
    # at another timestep the cached call (call 2) differs from the full one: the cache is really used
    t2 = torch.full((4,), 680)
    assert not torch.equal(net(x, t2), unet(x, t2).sample) and net.full_calls == 1


@torch.no_grad()
@pytest.mark.parametrize("name,steps", [("ddim", 10), ("dpmsolver++", 8)])
def test_interval_one_reproduces_the_uncached_sampler_exactly(unet, name, steps):
    noise = _noise(seed=3)
    net = apply_deepcache(unet, DeepCacheConfig(interval=1, branch=0))
    assert torch.equal(_sample(net, name, steps, noise), _sample(unet, name, steps, noise))
    assert net.full_calls == steps
    # interval 3 does change the result, with ceil(steps / 3) full calls
    cached = apply_deepcache(unet, DeepCacheConfig(interval=3, branch=0))
    out = _sample(cached, name, steps, noise)
    assert cached.full_calls == math.ceil(steps / 3) and cached.calls == steps
    assert not torch.equal(out, _sample(unet, name, steps, noise))


def _flops(fn) -> tuple[float, dict]:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn()
    return float(counter.get_total_flops()), counter.get_flop_counts()


# The layers a cached call runs, per branch, written out from the paper's definition for this UNet
# (down 16/8/4 px with one resnet each, up blocks with two resnets each): everything else comes from the cache.
RUNS = {
    0: ["time_embedding", "conv_in", "up_blocks.2.resnets.1", "conv_out"],
    1: ["time_embedding", "conv_in", "down_blocks.0.resnets.0", "up_blocks.2.resnets.0", "up_blocks.2.resnets.1",
        "conv_out"],
    2: ["time_embedding", "conv_in", "down_blocks.0.resnets.0", "down_blocks.0.downsamplers.0",
        "up_blocks.1.resnets.1", "up_blocks.1.upsamplers.0", "up_blocks.2", "conv_out"],
}


@pytest.mark.parametrize("branch", sorted(RUNS))
def test_a_cached_call_costs_the_flops_of_the_layers_it_runs(unet, branch):
    x, t = torch.zeros(1, 1, 16, 16), torch.tensor([500])
    full, per_module = _flops(lambda: unet(x, t))
    expected = sum(sum(per_module[f"UNet2DModel.{name}"].values()) for name in RUNS[branch]) / full
    full_c, cached_c = caching.call_flops(unet, DeepCacheConfig(branch=branch), torch.device("cpu"), 16)
    assert full_c == full
    assert cached_c / full == pytest.approx(expected, rel=1e-9)
    assert 0.05 < expected < 0.6


def test_a_cached_sampling_run_costs_what_the_equal_cost_rule_assumes(unet):
    """FLOPs of whole runs (what the harness reports) follow ceil(S/N) full + the rest at the cached fraction."""
    noise = _noise(1, seed=5)
    full_call, cached_call = caching.call_flops(unet, DeepCacheConfig(branch=0), torch.device("cpu"), 16)
    fraction = cached_call / full_call
    plain, _ = _flops(lambda: _sample(unet, "ddim", 12, noise))
    net = apply_deepcache(unet, DeepCacheConfig(interval=3, branch=0))
    cached, _ = _flops(lambda: _sample(net, "ddim", 12, noise))
    assert cached / plain == pytest.approx(caching.cached_cost(12, 3, fraction) / 12, rel=1e-3)
    assert caching.cached_cost(50, 3, 0.1) == pytest.approx(17 + 3.3)


@torch.no_grad()
def test_the_cache_resets_between_runs_and_batches(unet):
    steps = 10  # not a multiple of N: without a reset, the next run's first call would be a cached one
    a, b = _noise(4, seed=1), _noise(4, seed=2)
    method = caching.deepcache_method("ddim", steps, unet, DeepCacheConfig(interval=3, branch=1), 0.3)
    shared = method.model
    fresh = caching.deepcache_method("ddim", steps, unet, DeepCacheConfig(interval=3, branch=1), 0.3)
    method.fn(a, 0, harness.CountingModel(shared))
    second = method.fn(b, 0, harness.CountingModel(shared))
    assert torch.equal(second, fresh.fn(b, 0, harness.CountingModel(fresh.model)))
    # the wrapper guards itself too: a run that starts without reset() (timestep goes up) starts full
    _sample(shared, "ddim", steps, a)
    assert torch.equal(_sample(shared, "ddim", steps, b), second) and shared.full_calls == math.ceil(steps / 3)
    # and another batch size starts a new run even mid-schedule
    shared.reset()
    shared(a, torch.full((4,), 900))
    shared(b[:2], torch.full((2,), 800))
    assert shared.full_calls == 1 and shared.calls == 1 and shared.cache.shape[0] == 2
    # the test is sensitive: a stale feature, forced in by defeating both guards, changes the samples
    _sample(shared, "ddim", steps, a)
    shared._last_t = None
    stale = _sample(shared, "ddim", steps, b)
    assert not torch.equal(stale, second)


def test_parameters_are_checked_before_anything_loads():
    demo = get_demo("caching")
    with pytest.raises(ParamError, match="ddim_steps"):
        demo.resolve("quick", {"ddim_steps": 3, "intervals": "3"})
    with pytest.raises(ParamError, match="branches"):
        demo.resolve("quick", {"branches": "6"})
    with pytest.raises(ValueError, match="branches 0-5"):
        apply_deepcache(load_teacher(device=torch.device("cpu"))[0], DeepCacheConfig(branch=6))
    assert not demo.same_cost_per_nfe


# -- diffusers' hooks on the tiny DiT (random weights: these test the wiring, not the quality) ------------------


@pytest.fixture(scope="module")
def dit():
    from reference_impls.core.dit import make_dit

    torch.manual_seed(0)
    net = make_dit().eval()
    with torch.no_grad():  # adaLN-Zero starts every block as the identity: perturb so that every block matters
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return net


@torch.no_grad()
def test_dit_hooks_reset_per_batch_and_a_hook_that_skips_nothing_is_the_plain_model(dit):
    noise = _noise(4, seed=1)
    plain = caching.sampler_method("ddim", 8, "full-cost", model=dit, backbone="dit")
    reference = plain.fn(noise, 0, harness.CountingModel(dit))
    never = caching.dit_cache_method("ddim", 8, dit, "fbc", 0.0)  # threshold 0: always computes every block
    harness.warm_up(never.model, torch.device("cpu"), 2)
    assert torch.equal(never.fn(noise, 0, harness.CountingModel(never.model)), reference)
    assert never.report()["attention_computed_share"] == 1.0
    for kind in ("pab", "fastercache"):
        m = caching.dit_cache_method("ddim", 8, dit, kind, 0.1)
        harness.warm_up(m.model, torch.device("cpu"), 2)  # the harness calls the model outside any sampling run
        first = m.fn(noise, 0, harness.CountingModel(m.model))
        m.fn(_noise(4, seed=2), 0, harness.CountingModel(m.model))
        assert torch.equal(m.fn(noise, 0, harness.CountingModel(m.model)), first), kind  # no state leaks across runs
        assert not torch.equal(first, reference) and m.report()["attention_computed_share"] < 1.0, kind
        cpu = torch.device("cpu")
        flops = caching.run_flops(m, dit, cpu, 16, 2) / caching.run_flops(plain, dit, cpu, 16, 1)
        assert 0.5 < flops < 1.0, (kind, flops)
