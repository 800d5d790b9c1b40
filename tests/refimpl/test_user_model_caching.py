"""DeepCache on a user's diffusers UNet (`demo run caching --model DIR`).

Each test could fail: the flat-list forward must be the library's own forward on
a UNet2DConditionModel (cross-attention blocks) and on a UNet2DModel with
attention; a cached call at the same timestep must give the full call's output
(the cache holds the right feature) and a cached call at another timestep
another output (the cache is used); the CLI run on a saved model must give the
fidelity result; a DiT folder must be refused in one line.
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from diffatlas.cli import main
from reference_impls.core.usermodel import load_user_model
from reference_impls.system.caching import DeepCacheConfig, apply_deepcache, branch_count, deepcache_of


def save_unet(folder, conditional: bool = False):
    """A random 3-channel 8x8 UNet (two levels, attention or cross-attention in the first) and a DDPM scheduler,
    saved with save_pretrained; v-prediction keeps a random network's x0 estimates bounded."""
    from diffusers import DDPMScheduler, UNet2DConditionModel, UNet2DModel

    torch.manual_seed(0)
    if conditional:
        unet = UNet2DConditionModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                                    layers_per_block=1, norm_num_groups=4, cross_attention_dim=8,
                                    attention_head_dim=2,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    else:
        unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                           layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
                           down_block_types=("AttnDownBlock2D", "DownBlock2D"),
                           up_block_types=("UpBlock2D", "AttnUpBlock2D"))
    unet.save_pretrained(folder)
    DDPMScheduler(num_train_timesteps=1000, prediction_type="v_prediction").save_pretrained(folder)
    return folder


@torch.no_grad()
@pytest.mark.parametrize("conditional", [False, True])
def test_deepcache_on_a_user_unet_is_its_forward_and_really_caches(tmp_path, conditional):
    net, folder = load_user_model(save_unet(tmp_path / "unet", conditional), torch.device("cpu"))
    assert branch_count(folder.config) == 4  # conv_in, two down resnets, one downsampler
    x, t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.full((2,), 700)
    reference = net(x, t)
    for branch in range(4):
        cached = apply_deepcache(net, DeepCacheConfig(interval=3, branch=branch))
        assert torch.allclose(cached(x, t), reference, atol=1e-6)  # call 0: full, the library's forward
        deepcache_of(cached)._last_t += 1  # the same timestep again, in the same run: call 1 is cached
        assert torch.allclose(cached(x, t), reference, atol=1e-6) and deepcache_of(cached).full_calls == 1
        t2 = torch.full((2,), 650)
        assert not torch.allclose(cached(x, t2), net(x, t2), atol=1e-6)  # call 2, cached: the cache is used
    with pytest.raises(ValueError, match="branch 4 does not exist"):
        apply_deepcache(net, DeepCacheConfig(branch=4))


def _run(args):
    return CliRunner().invoke(main, ["demo", "run", "caching", *args, "--quick", "--json", "--no-record"])


def test_caching_on_a_saved_unet_reports_psnr_ssim_and_flop_equal_baselines(tmp_path):
    model = save_unet(tmp_path / "unet")
    out = _run(["--model", str(model), "--out", str(tmp_path / "run"), "-p", "n_samples=2", "-p", "seeds=2",
                "-p", "batch=2", "-p", "ddim_steps=8", "-p", "intervals=3", "-p", "branches=0,1"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output[out.output.index("{"):])
    rows = {r["method"]: r for r in data["rows"]}
    full = rows["DDIM 8"]
    assert full["role"] == "full-cost" and full["psnr"] is None  # the reference itself
    techs = [r for r in data["rows"] if r["role"] == "technique"]
    assert [r["method"] for r in techs] == ["DDIM 8 + DeepCache N=3 b=0", "DDIM 8 + DeepCache N=3 b=1"]
    for r in techs:
        assert 0 < r["psnr"] < 100 and -1 <= r["ssim"] <= 1 and len(r["psnr_seeds"]) == 2  # cached: not identical
        assert r["extra"]["flops_vs_no_cache"] < 1
    equal = [r for r in data["rows"] if r["role"] == "equal-cost"]
    assert equal and all(r["nfe"] < 8 and r["psnr"] is not None for r in equal)
    assert {c["metric"] for c in data["comparisons"]} == {"psnr", "ssim"}
    assert {c["reference_role"] for c in data["comparisons"]} == {"equal-cost"}
    assert data["model"]["source"] == "user" and data["model"]["class"] == "UNet2DModel"
    assert data["anchors"]["fidelity"] and all(r["fd"] is None for r in data["rows"])


def test_a_dit_folder_is_refused_in_one_line_naming_the_supported_unets(tmp_path):
    from diffusers import DDIMScheduler, DiTTransformer2DModel

    DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1,
                          sample_size=8, patch_size=2, norm_num_groups=4, num_embeds_ada_norm=10
                          ).save_pretrained(tmp_path / "dit")
    DDIMScheduler().save_pretrained(tmp_path / "dit")
    out = _run(["--model", str(tmp_path / "dit")])
    assert out.exit_code == 2, out.output
    assert out.output.strip().count("\n") == 0, out.output
    assert "DeepCache runs on a UNet2DModel or UNet2DConditionModel" in out.output
    assert "is a DiTTransformer2DModel" in out.output
