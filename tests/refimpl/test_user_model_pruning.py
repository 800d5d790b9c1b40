"""The pruning demo on a user's diffusers model (--model DIR): magnitude pruning without fine-tuning."""

from __future__ import annotations

import json

from click.testing import CliRunner

from diffatlas.cli import main
from tests.refimpl.test_user_model import one_line_error, save_tiny_unet


def test_pruning_a_saved_model_without_fine_tuning_reports_agreement_and_macs(tmp_path):
    folder = save_tiny_unet(tmp_path / "user-unet")
    out = CliRunner().invoke(main, ["demo", "run", "pruning", "--model", str(folder), "--quick", "--json",
                                    "--no-record", "--out", str(tmp_path / "run"), "-p", "n_samples=2",
                                    "-p", "seeds=2", "-p", "batch=2", "-p", "steps=2", "-p", "ratios=0.25,0.5"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output[out.output.index("{"):])
    rows = {r["method"]: r for r in data["rows"]}
    full = rows.pop("unpruned ddim 2")
    assert full["role"] == "full-cost" and full["psnr"] is None and full["extra"]["macs_share"] == 1.0
    r25, r50 = rows["r=0.25 magnitude (L2), no fine-tune"], rows["r=0.5 magnitude (L2), no fine-tune"]
    for r in (r25, r50):
        assert r["fd"] is None and r["extra"]["train_steps"] == 0
        # pruned without fine-tuning: measurably different from the unpruned output, but a finite agreement
        assert 0 < r["psnr"] < 100 and -1 <= r["ssim"] < 1 and len(r["psnr_seeds"]) == 2
        assert r["parameters"] < full["parameters"] and r["flops_per_sample"] < full["flops_per_sample"]
    assert 1.0 > r25["extra"]["macs_share"] > r50["extra"]["macs_share"] > 0.1
    assert {c["metric"] for c in data["comparisons"]} == {"psnr", "ssim"}
    assert data["model"]["source"] == "user" and data["model"]["class"] == "UNet2DModel"
    assert data["anchors"]["fidelity"] and any("Diff-Pruning always fine-tunes" in n for n in data["notes"])
    assert any("importance 'taylor' left out" in n for n in data["notes"])  # the quick default lists taylor


def test_a_dit_training_or_taylor_alone_is_refused_in_one_line(tmp_path):
    from diffusers import DDIMScheduler, DiTTransformer2DModel

    dit = tmp_path / "dit"
    DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1,
                          sample_size=8, patch_size=2, norm_num_groups=4, num_embeds_ada_norm=10).save_pretrained(dit)
    DDIMScheduler().save_pretrained(dit)
    one_line_error(["pruning", "--model", str(dit)], "your model is a DiTTransformer2DModel")
    unet = save_tiny_unet(tmp_path / "unet")
    one_line_error(["pruning", "--model", str(unet), "-p", "retrain=true"], "parameter 'retrain'")
    one_line_error(["pruning", "--model", str(unet), "-p", "importances=taylor"], "only magnitude prunes without data")
