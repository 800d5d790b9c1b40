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
