"""The parallel demo's technique facts: exact sharding over gloo ranks, Picard convergence, NFE/depth accounting."""

from __future__ import annotations

import pytest
import torch

from reference_impls.core import harness
from reference_impls.core.model import Scale
from reference_impls.core.spec import ParamError
from reference_impls.core.training import load_teacher
from reference_impls.system import parallel


@pytest.fixture(scope="module")
def teacher():
    model, _ = load_teacher(train_if_missing=False)
    return model


def test_two_gloo_ranks_give_the_one_process_samples_bit_for_bit(teacher):
    noise = harness.make_noise(11, 3, torch.device("cpu"))  # 11 samples: uneven shards (6 + 5), padded gather
    group = parallel.RankGroup.start(2, "gloo", torch.device("cpu"), 1, teacher, Scale(), batch=11)
    try:
        net = harness.CountingModel(teacher)
        sharded = group.sample(net, noise, steps=4)
        calls = net.calls
    finally:
        group.close()
    assert all(p.exitcode == 0 for p in group.procs.processes)
    # the one-process run, with the same per-call batches as the ranks (oneDNN convolutions are not batch-size
    # invariant, nor thread-count invariant at small batches), at the ranks' thread count
    single = parallel.ddim_method("one process", 4, "full-cost", calls_like=2, threads=1).fn(
        noise, 0, harness.CountingModel(teacher))
    assert sharded.shape == noise.shape
    assert torch.equal(sharded, single)
    assert net.samples == 11 * 4 and calls == 2 * 4  # both ranks' network evaluations are counted on rank 0


def test_picard_with_one_step_stride_converges_to_sequential_ddim(teacher):
    noise = harness.make_noise(6, 1, torch.device("cpu"))
    net = harness.CountingModel(teacher)
    sequential = parallel.ddim(net, noise, 8)
    for window in (4, 8):  # stride 1: every state is refined until its whole prefix is exact
        out = parallel.picard_ddim(net, noise, 8, window, stride=1)
        assert (out - sequential).abs().max() < 1e-4, window
    tight = parallel.PicardStats()
    out = parallel.picard_ddim(net, noise, 8, 4, stride=0, tolerance=1e-7, stats=tight)
    assert (out - sequential).abs().max() < 1e-4
    assert tight.sweeps <= 8 and sum(tight.advances) >= 8


def test_fewer_sweeps_approximate_the_chain_at_the_declared_cost(teacher):
    noise = harness.make_noise(4, 2, torch.device("cpu"))
    net = harness.CountingModel(teacher)
    sequential = parallel.ddim(net, noise, 16)
    for steps, window, stride, nfe, depth in ((16, 4, 2, 30, 8), (16, 8, 4, 28, 4), (16, 4, 1, 58, 16)):
        assert parallel.picard_cost(steps, window, stride) == (nfe, depth)
        net.reset()
        out = parallel.picard_ddim(net, noise, steps, window, stride=stride)
        assert net.samples / noise.shape[0] == nfe and net.calls == depth
        if stride > 1:  # an approximation, not the sequential chain itself
            assert (out - sequential).pow(2).mean().sqrt() > 1e-4
    method = parallel.picard_method(16, 4, 2, {}, {})
    assert (method.nfe, method.extra["depth"], method.extra["stride"]) == (30, 8, 2)


def test_tolerance_rule_trades_depth_for_deviation(teacher):
    noise = harness.make_noise(1, 5, torch.device("cpu"))
    net = harness.CountingModel(teacher)
    sequential = parallel.ddim(net, noise, 16)
    loose, tight = parallel.PicardStats(), parallel.PicardStats()
    a = parallel.picard_ddim(net, noise, 16, 8, tolerance=0.5, stats=loose)
    b = parallel.picard_ddim(net, noise, 16, 8, tolerance=1e-4, stats=tight)
    assert loose.sweeps < tight.sweeps <= 16
    assert (b - sequential).abs().max() < (a - sequential).abs().max()


def test_bad_window_and_sweeps_are_rejected_by_name():
    demo = parallel.DEMO
    with pytest.raises(ParamError, match="'sweeps'"):
        demo.resolve("quick", {"windows": [4], "sweeps": [3]})
    with pytest.raises(ParamError, match="'windows'"):
        demo.resolve("quick", {"steps": 8, "windows": [16]})
    assert parallel.shard(11, 2, 0) == (0, 6, 6) and parallel.shard(11, 2, 1) == (6, 11, 6)
    assert parallel.shard(1, 2, 1) == (1, 1, 1)  # an empty shard still sends a padded block
