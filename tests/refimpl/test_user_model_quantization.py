"""The quantization demo on a user's diffusers model folder (`--model DIR`): fidelity rows, bytes, no equal-cost row."""

from __future__ import annotations

import pytest

from tests.refimpl.test_user_model import run_json, save_tiny_unet


@pytest.fixture(scope="module")
def quant_json(tmp_path_factory):
    """`diffatlas demo run quantization --model DIR --quick --json` on a tiny random UNet, tiny overrides."""
    folder = save_tiny_unet(tmp_path_factory.mktemp("user-unet-quant"))
    return run_json(["quantization", "--model", str(folder), "--out", str(tmp_path_factory.mktemp("quant-run")),
                     "-p", "n_samples=4", "-p", "seeds=2", "-p", "batch=4", "-p", "steps=4",
                     "-p", "schemes=w8,w4,w8a8", "-p", "calibration=trajectory", "-p", "calib_samples=8",
                     "-p", "agreement_samples=8"])


def test_quantization_on_a_saved_model_reports_psnr_ssim_and_bytes(quant_json):
    data = quant_json
    rows = {r["method"]: r for r in data["rows"]}
    full = rows["fp32 your model, DDIM 4"]
    assert full["role"] == "full-cost" and full["psnr"] is None and full["ssim"] is None
    assert {r["role"] for r in data["rows"]} == {"full-cost", "reference", "technique"}  # no equal-cost row
    cast = rows["fp32 weights cast to bf16 (reference), DDIM 4"]
    w8, w4 = rows["quanto W8, DDIM 4"], rows["quanto W4, DDIM 4"]
    a8 = rows["quanto W8A8, calib trajectory, DDIM 4"]
    assert all(r["fd"] is None and r["kid"] is None for r in data["rows"])
    for r in (cast, w8, w4, a8):
        assert 0 < r["psnr"] <= 100 and -1 <= r["ssim"] <= 1 and len(r["psnr_seeds"]) == 2
    # bytes: bf16 half of fp32, int8 weights smaller than bf16, packed int4 smaller again (scales and biases stay)
    assert cast["weight_bytes"] * 2 == pytest.approx(full["weight_bytes"], rel=0.01)
    assert w4["weight_bytes"] < w8["weight_bytes"] < cast["weight_bytes"]
    # fewer weight bits, less agreement with fp32 from the same noise
    assert w4["psnr"] < w8["psnr"]
    comps = data["comparisons"]
    assert comps and {c["metric"] for c in comps} == {"psnr", "ssim"}
    assert all(c["reference"] == cast["method"] and c["reference_role"] == "reference" for c in comps)
    assert data["model"]["source"] == "user" and "narrow_key" not in data["model"]
    assert "no equal-cost baseline on your model" in " ".join(data["notes"])
    assert data["equal_cost"].startswith("none on your model")


def test_calibration_follows_the_users_sample_shape_and_schedule(tmp_path):
    """Calibration draws from the user model's own 3x8x8 noise and its scheduler config (100 training steps here),
    and more DDIM steps than those 100 are refused in one line before anything loads."""
    import torch
    from diffusers import DDPMScheduler

    from reference_impls.compression import quantization as qz
    from reference_impls.core.usermodel import load_user_model
    from tests.refimpl.test_user_model import one_line_error

    folder = save_tiny_unet(tmp_path)
    DDPMScheduler(num_train_timesteps=100, prediction_type="v_prediction").save_pretrained(folder)
    net, checked = load_user_model(folder, torch.device("cpu"))
    states = qz.calibration_states(net, 4, 2, 0, torch.device("cpu"), 28, checked.scheduler,
                                   checked.sample_shape)
    assert len(states) == 4 and all(x.shape == (2, 3, 8, 8) for x, _ in states)
    assert all(int(t.max()) < 100 for _, t in states)
    batches = qz.calibration_batches(states, "first")
    assert len(batches) == 4 and all(x is states[0][0] for x, _ in batches)
    one_line_error(["quantization", "--model", str(folder), "--quick", "-p", "steps=200"],
                   "parameter 'steps': 200 steps exceed your model's 100 training timesteps")
