"""The runtime demo's technique: exported runtimes compute what eager computes; missing ones are skipped; arithmetic.

A tiny UNet2DModel made here (one resolution, 8 channels, attention in every
block) keeps the export fast (the ONNX exporter's cost grows with the graph);
the demo's contract test runs the committed teacher.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from reference_impls.core.progress import Progress
from reference_impls.core.spec import RunContext
from reference_impls.system import runtime

TOLERANCE = 1e-4  # max abs difference from eager fp32, on outputs of order 1 (fp32 reordering only)


def tiny_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8,), layers_per_block=1,
                       down_block_types=("AttnDownBlock2D",), up_block_types=("AttnUpBlock2D",), norm_num_groups=4,
                       attention_head_dim=None).eval()


@pytest.fixture(scope="module")
def unet():
    return tiny_unet()


@pytest.fixture(scope="module")
def shared(unet):
    """One torch.export (and OpenVINO conversion) shared by the exported-runtime tests, as the demo shares them."""
    return runtime.Shared(unet, (torch.randn(4, 1, 16, 16), torch.full((4,), 500, dtype=torch.long)))


def inputs(batch=3):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, 1, 16, 16, generator=gen), torch.tensor([999, 500, 3][:batch], dtype=torch.long)


def eager(unet, x, t):
    with torch.no_grad():
        return unet(x, t).sample


@pytest.mark.parametrize("name", ["onnxruntime", "openvino_fp32"])
def test_exported_runtime_matches_eager_at_another_batch_size(name, unet, shared):
    pytest.importorskip(runtime.OPTIONAL[runtime.RUNTIMES[name].engine][0])
    module, facts = runtime.build_runtime(unet, runtime.RUNTIMES[name], torch.device("cpu"), 1, shared)
    x, t = inputs(3)  # exported at batch 4: the batch dimension must be dynamic
    ref = eager(unet, x, t)
    out = module(x, t)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert (out - ref).abs().max().item() < TOLERANCE * max(1.0, ref.abs().max().item())
    assert module(x[:1], t[:1]).shape == (1, 1, 16, 16)
    assert facts["precision"] == "fp32"  # OpenVINO reports the precision it actually runs
    assert runtime.agreement(out, ref)["psnr_db"] > 60


def test_openvino_bf16_hint_is_a_different_computation(unet, shared):
    pytest.importorskip("openvino")
    module, facts = runtime.build_runtime(unet, runtime.RUNTIMES["openvino_bf16"], torch.device("cpu"), 1, shared)
    x, t = inputs(3)
    err = (module(x, t) - eager(unet, x, t)).abs().max().item()
    if facts["precision"] == "bf16":  # a CPU with bf16 support: bf16 rounding shows (~1e-2), far above fp32's
        assert err > 10 * TOLERANCE
    else:  # no bf16 on this CPU: OpenVINO falls back to f32 and says so
        assert err < TOLERANCE


def test_torch_runners_match_eager(unet):
    x, t = inputs(3)
    ref = eager(unet, x, t)
    module, _ = runtime.build_runtime(unet, runtime.RUNTIMES["channels_last"], torch.device("cpu"), 1)
    with torch.no_grad():
        assert (module(x, t) - ref).abs().max().item() < TOLERANCE
    assert next(unet.parameters()).is_contiguous()  # the demo's own model is left in its layout (a copy is converted)


def ctx_for(tmp_path):
    return RunContext(torch.device("cpu"), Progress(), tmp_path, "quick", threads=1)


def test_a_runtime_that_is_not_installed_is_a_skipped_row_with_a_note(unet, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    monkeypatch.setitem(sys.modules, "openvino", None)
    params = dict(n_samples=6, batch=4, image_size=16)
    built, eager_facts, notes = runtime.set_up(unet, ["onnxruntime", "openvino_fp32", "bf16", "fp16"], params,
                                               ctx_for(tmp_path))
    assert set(built) == {"eager", "bf16"}
    assert eager_facts["setup_s"] > 0 and built["bf16"][1]["setup_s"] > 0
    text = "\n".join(notes)
    for label in ("ONNX Runtime fp32: skipped", "OpenVINO f32 hint: skipped", "eager fp16 autocast: skipped"):
        assert label in text
    assert text.count(runtime.EXTRA) == 2 and "CUDA only" in text


def test_the_demo_shapes_cover_every_call_the_harness_makes():
    assert runtime._shapes(dict(n_samples=200, batch=64)) == [64, 8, 1]
    assert runtime._shapes(dict(n_samples=64, batch=64)) == [64, 1]
    assert runtime._shapes(dict(n_samples=50, batch=250)) == [50, 1]


def test_break_even_arithmetic():
    # 9 s more setup than eager, 2 ms saved per sample: paid back after 4,500 samples
    assert runtime.break_even(10.0, 1.0, 5.0, 3.0) == pytest.approx(4500.0)
    assert runtime.break_even(10.0, 1.0, 3.0, 3.0) is None       # saves nothing: never
    assert runtime.break_even(10.0, 1.0, 3.0, 4.0) is None       # slower: never
    assert runtime.break_even(0.5, 1.0, 5.0, 3.0) == 0.0         # cheaper to set up than eager: from the first sample


def test_equal_cost_steps_follow_the_time_ratio():
    assert runtime.equal_cost_steps(10, 0.5) == 5
    assert runtime.equal_cost_steps(20, 0.74) == 15
    assert runtime.equal_cost_steps(10, 1.3) == 10   # a slower runtime: eager at the same steps already costs less
    assert runtime.equal_cost_steps(10, 0.01) == 1


def test_agreement():
    a = torch.zeros(2, 1, 4, 4)
    assert runtime.agreement(a, a) == {"max_abs_err": 0.0, "psnr_db": math.inf}
    b = a + 0.02  # MSE 4e-4 on a data range of 2: PSNR = 10 log10(4 / 4e-4) = 40 dB
    got = runtime.agreement(b, a)
    assert got["max_abs_err"] == pytest.approx(0.02) and got["psnr_db"] == pytest.approx(40.0, abs=1e-3)
