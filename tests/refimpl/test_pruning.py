"""The pruning demo: torch-pruning on the substrate UNet, the committed pruned models, the agreement metrics."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from reference_impls.compression import pruning
from reference_impls.core.checkpoints import verify_checkpoint
from reference_impls.core.model import make_unet
from reference_impls.core.paths import WEIGHTS_DIR
from reference_impls.core.spec import ParamError


def _macs(unet) -> tuple[int, int]:
    with contextlib.redirect_stdout(io.StringIO()):
        return pruning.macs_and_params(unet)


def test_a_pruned_unet_runs_and_keeps_its_output_shape():
    torch.manual_seed(0)
    unet = pruning.prune_unet(make_unet(), 0.5, "magnitude")
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999])
    with torch.no_grad():
        out = unet(x, t).sample
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert unet.conv_out.out_channels == 1  # the ignored output layer is untouched
    assert unet.conv_in.out_channels < 16  # and something was actually removed


def test_macs_and_parameters_fall_as_the_ratio_rises():
    torch.manual_seed(0)
    costs = [_macs(make_unet())] + [_macs(pruning.prune_unet(make_unet(), r, "magnitude")) for r in (0.1, 0.25, 0.5)]
    macs = [c[0] for c in costs]
    params = [c[1] for c in costs]
    assert macs == sorted(macs, reverse=True) and len(set(macs)) == len(macs), macs
    assert params == sorted(params, reverse=True) and len(set(params)) == len(params), params
    assert 0.3 <= macs[2] / macs[0] <= 0.5 and 0.2 <= macs[3] / macs[0] <= 0.3  # the demo's range: 25-50 %


def test_channel_counts_depend_on_the_ratio_not_on_the_importance():
    """Why a run may re-prune with magnitude and load a Taylor- or random-pruned checkpoint into it."""
    torch.manual_seed(0)
    base = make_unet()
    shapes = []
    for kind in ("magnitude", "random", "taylor"):
        unet = make_unet()
        unet.load_state_dict(base.state_dict())
        if kind == "taylor":
            for p in unet.parameters():
                p.grad = torch.randn_like(p)
        pruning.prune_unet(unet, 0.5, kind)
        shapes.append({k: tuple(v.shape) for k, v in unet.state_dict().items()})
    assert shapes[0] == shapes[1] == shapes[2]


def test_taylor_gradients_stop_at_the_informative_timesteps():
    from reference_impls.core.training import load_teacher

    teacher, _ = load_teacher(train_if_missing=False)
    grads, info = pruning.teacher_gradients(teacher, pruning.PruneConfig(taylor_stride=200, taylor_batch=8))
    first, last = info["taylor_timesteps"]
    assert first == 0 and 0 < last < 900  # the epsilon-equivalent loss falls below 5% of its maximum well before T
    assert info["taylor_passes"] == last // 200 + 1
    assert all(torch.isfinite(g).all() for g in grads.values()) and any(g.abs().sum() > 0 for g in grads.values())
    assert teacher.conv_in.weight.grad is None  # the caller's teacher is left untouched


@pytest.mark.parametrize("ratio,kind", pruning.COMMITTED)
def test_committed_models_pass_the_hash_check_and_fit_the_re_pruned_architecture(ratio, kind):
    cfg = pruning.committed_config(ratio, kind)
    assert verify_checkpoint("pruned", pruning.pruned_key(cfg), WEIGHTS_DIR), \
        "run 'python -m reference_impls.train pruned'"
    unet, where = pruning.load_pruned(cfg, torch.device("cpu"))
    assert where == "committed"
    record = pruning.checkpoint_record(cfg)
    assert record["train_config"]["steps"] == cfg.finetune_steps and record["prune_config"] == cfg.to_dict()
    assert _macs(unet)[0] == record["macs"]
    with torch.no_grad():
        out = unet(torch.randn(2, 1, 16, 16), torch.tensor([10, 900])).sample
    assert out.shape == (2, 1, 16, 16) and torch.isfinite(out).all()


def test_a_checkpoint_of_another_ratio_does_not_fit():
    from reference_impls.core.checkpoints import find_checkpoint

    path, _ = find_checkpoint("pruned", pruning.pruned_key(pruning.committed_config(0.25, "taylor")))
    if path is None:
        pytest.skip("committed pruned models missing")
    with pytest.raises(ValueError, match="does not fit"):
        pruning.fit_weights(pruning.pruned_architecture(0.5), path)


def test_ssim_and_psnr():
    torch.manual_seed(0)
    a = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.allclose(pruning.ssim(a, a), torch.ones(4), atol=1e-6)
    assert torch.isinf(pruning.psnr(a, a)).all()
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    s = pruning.ssim(a, b)
    assert (s < 0.95).all() and (s > -1).all() and torch.allclose(s, pruning.ssim(b, a))
    # constant images: SSIM reduces to the luminance term (2 mu_a mu_b + c1) / (mu_a^2 + mu_b^2 + c1)
    c1 = (0.01 * 2) ** 2
    x, y = torch.full((1, 1, 16, 16), 0.5), torch.full((1, 1, 16, 16), -0.2)
    assert pruning.ssim(x, y).item() == pytest.approx((2 * 0.5 * -0.2 + c1) / (0.25 + 0.04 + c1), rel=1e-4)
    # PSNR: a uniform error of 0.2 on a range of 2 is 10 log10(4 / 0.04) = 20 dB
    assert pruning.psnr(x, x + 0.2).item() == pytest.approx(20.0, abs=1e-4)


def test_bad_parameters_name_the_fix():
    demo = pruning.DEMO
    with pytest.raises(ParamError, match="ratios"):
        demo.resolve("quick", {"ratios": "0.3"})
    with pytest.raises(ParamError, match="finetune_steps"):
        demo.resolve("quick", {"finetune_steps": 500})
    with pytest.raises(ParamError, match="width"):
        demo.resolve("quick", {"width": 2})
    with pytest.raises(ParamError, match="cannot be pruned"):
        demo.resolve("quick", {"ratios": "0.75", "retrain": "true"})
    with pytest.raises(ParamError, match="importances"):
        demo.resolve("quick", {"importances": "l1"})
    with pytest.raises(ParamError, match="not committed"):
        demo.resolve("quick", {"importances": "random"})
    with pytest.raises(ParamError, match="not committed"):
        demo.resolve("quick", {"importances": "magnitude", "ratios": "0.25"})
    assert demo.resolve("quick", {"ratios": "0.3", "retrain": "true"})["ratios"] == [0.3]
