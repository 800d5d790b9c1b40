"""The quantization demo: quanto reaches the convolutions, bytes shrink 4x/8x, calibration sets the scales."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from reference_impls.compression import quantization as qz
from reference_impls.core import harness
from reference_impls.core.model import count_parameters, weight_bytes
from reference_impls.core.training import load_teacher


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    model, _ = load_teacher(train_if_missing=False)
    return model


@pytest.fixture(scope="module")
def states(teacher):
    return qz.calibration_states(teacher, steps=4, n=16, seed=123, device=torch.device("cpu"), size=16)


@pytest.fixture(scope="module")
def probe():
    x = harness.make_noise(32, 5, torch.device("cpu"))
    return x, torch.full((32,), 400, dtype=torch.long)


def _rel_err(model, ref, x, t):
    with torch.no_grad():
        out = model(x, t).sample
    return ((out - ref).norm() / ref.norm()).item(), out


@pytest.fixture(scope="module")
def reference(teacher, probe):
    with torch.no_grad():
        return teacher(*probe).sample


@pytest.fixture(scope="module")
def w8(teacher, states):
    return qz.apply_quantization(teacher, qz.QuantConfig(8), states)


@pytest.fixture(scope="module")
def w4(teacher, states):
    return qz.apply_quantization(teacher, qz.QuantConfig(4), states)


def _layers(model):
    return [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_w8_is_close_to_fp32_and_w4_further(teacher, w8, w4, probe, reference):
    from optimum.quanto import QConv2d, QLinear

    # every conv and linear layer was replaced, not only the linears
    assert all(isinstance(m, (QConv2d, QLinear)) for m in _layers(w8))
    assert sum(isinstance(m, QConv2d) for m in w8.modules()) == sum(isinstance(m, torch.nn.Conv2d)
                                                                    for m in teacher.modules())
    e8, _ = _rel_err(w8, reference, *probe)
    e4, _ = _rel_err(w4, reference, *probe)
    assert 0 < e8 < 0.02, e8
    assert 2 * e8 < e4 < 0.25, (e8, e4)
    # the teacher itself is untouched
    assert not any(type(m).__name__.startswith("Q") for m in teacher.modules())


def test_weight_bytes_shrink_4x_and_8x_on_the_quantized_layers(teacher, w8, w4):
    fp32_layer_bytes = sum(m.weight.numel() * 4 for m in _layers(teacher))
    for q, bits, factor in ((w8, 8, 4), (w4, 4, 8)):
        data = sum(m.weight._data.numel() * m.weight._data.element_size() if bits == 8 else
                   m.weight._data._data.numel() for m in _layers(q))  # int4: two values per stored byte
        if bits == 8:
            assert data * factor == fp32_layer_bytes
        else:  # packed rows round up to whole bytes: a few dozen bytes over exactly 1/8
            assert 0 <= data * factor - fp32_layer_bytes < 0.001 * fp32_layer_bytes
        # what the harness reports (core weight_bytes reads the stored tensors): data + scales + float biases/norms
        total = weight_bytes(q)
        assert weight_bytes(teacher) / total > (3.5 if bits == 8 else 6.0), total
    assert weight_bytes(teacher) == 4 * count_parameters(teacher)


def test_calibration_sets_the_activation_scales(teacher, w8, states, probe, reference):
    from optimum.quanto import QModuleMixin, qint8, quantize

    fresh = qz.copy.deepcopy(teacher)
    quantize(fresh, weights=qint8, activations=qint8)
    assert all(float(m.input_scale) == 1.0 for m in fresh.modules() if isinstance(m, QModuleMixin))
    traj = qz.apply_quantization(teacher, qz.QuantConfig(8, 8, "trajectory"), qz.calibration_batches(states, "trajectory"))
    first = qz.apply_quantization(teacher, qz.QuantConfig(8, 8, "first"), qz.calibration_batches(states, "first"))
    scales_t = [float(m.input_scale) for m in traj.modules() if isinstance(m, QModuleMixin)]
    scales_f = [float(m.input_scale) for m in first.modules() if isinstance(m, QModuleMixin)]
    assert len(scales_t) == 65 and all(s != 1.0 and s > 0 for s in scales_t)
    assert scales_t != scales_f  # the calibration states matter
    # the int8 activations are applied: W8A8 differs from W8, and stays close to fp32
    _, out_w8 = _rel_err(w8, reference, *probe)
    e88, out_w88 = _rel_err(traj, reference, *probe)
    assert not torch.equal(out_w8, out_w88)
    assert e88 < 0.05, e88


def test_calibration_batches_cover_the_trajectory_or_one_step(states):
    traj = qz.calibration_batches(states, "trajectory")
    assert len(traj) == len(states) == 4
    assert sorted(int(t[0]) for _, t in traj) == sorted(int(t[0]) for _, t in states)
    assert [int(t[0]) for _, t in traj] != [int(t[0]) for _, t in states] or len(states) < 3
    first, last = qz.calibration_batches(states, "first"), qz.calibration_batches(states, "last")
    assert all(b is states[0] for b in first) and all(b is states[-1] for b in last) and len(first) == 4
    assert int(states[0][1][0]) > int(states[-1][1][0])  # first = noisiest step


def test_simulated_activations_round_to_the_grid(teacher, w8, states, probe, reference):
    q = qz.apply_quantization(teacher, qz.QuantConfig(8, 6, "trajectory"), states)
    fq = q.fake_quant
    seen = {}
    layer = q.conv_in
    handle = layer.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0].detach().clone()))
    with torch.no_grad():
        q(*probe)
    handle.remove()
    # conv_in's input arrives after the fake-quant hook registered first: at most 2^6 distinct levels
    assert seen["x"].unique().numel() <= 64
    e6, _ = _rel_err(q, reference, *probe)
    e8, _ = _rel_err(w8, reference, *probe)
    assert e6 > e8 and fq.calibrating is False


def test_narrow_baseline_has_about_the_w8_bytes(teacher, w8):
    narrow = qz.make_narrow()
    assert 0.85 < weight_bytes(narrow) / weight_bytes(w8) < 1.15
    assert 0.2 < count_parameters(narrow) / count_parameters(teacher) < 0.3


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="torchao not installed (PT2E path optional)")
def test_pt2e_int8_matches_fp32(teacher, states, probe):
    q = qz.apply_pt2e(teacher, qz.calibration_batches(states, "trajectory"), compile=False)
    x, t = probe
    with torch.no_grad():
        ref = teacher(x, t.float()).sample
        out = q(x, t.float())
    assert ((out - ref).norm() / ref.norm()).item() < 0.05
