"""The latent demo: the autoencoders, the latent UNets, the cost accounting and a smoke run."""

from __future__ import annotations

import pytest
import torch

from reference_impls.core import harness
from reference_impls.core.checkpoints import verify_checkpoint
from reference_impls.core.data import digits_split
from reference_impls.core.paths import WEIGHTS_DIR
from reference_impls.core.spec import ParamError
from reference_impls.core.training import teacher_key
from reference_impls.design import latent

CPU = torch.device("cpu")


@pytest.mark.parametrize("factor", latent.FACTORS)
def test_committed_checkpoints_pass_the_hash_check(factor):
    assert verify_checkpoint("vae", latent.vae_key(factor), WEIGHTS_DIR), "run 'python -m reference_impls.train latent'"
    for norm in latent.NORMS:
        assert verify_checkpoint("latent-unet", latent.latent_key(factor, norm=norm), WEIGHTS_DIR), norm
    assert verify_checkpoint("unet", teacher_key(latent.equal_train_config()), WEIGHTS_DIR)


@pytest.mark.parametrize("norm", latent.NORMS)
def test_the_latent_statistics_in_the_sidecar_are_those_of_the_committed_autoencoder(norm):
    unet, vae, (mean, std), where = latent.load_latent(2, CPU, train_if_missing=False, norm=norm)
    assert where == "committed"
    want_mean, want_std = latent.latent_stats(vae, norm)
    assert mean == pytest.approx(want_mean, abs=1e-4) and std == pytest.approx(want_std, rel=1e-4)
    z = latent.normalise(latent.encode(vae, digits_split().train_x), mean, std)
    if norm == "channel":
        assert z.std((0, 2, 3)) == pytest.approx(torch.ones(2), abs=1e-3)
    else:
        assert float(z.std()) == pytest.approx(1.0, abs=1e-3)
    assert torch.allclose(latent.denormalise(z, mean, std), latent.encode(vae, digits_split().train_x), atol=1e-4)


def test_a_corrupted_checkpoint_fails_the_check(tmp_path):
    import shutil

    for suffix in (".safetensors", ".json"):
        src = WEIGHTS_DIR / f"vae-{latent.vae_key(2)}{suffix}"
        shutil.copy(src, tmp_path / src.name)
    assert verify_checkpoint("vae", latent.vae_key(2), tmp_path)
    weights = tmp_path / f"vae-{latent.vae_key(2)}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert verify_checkpoint("vae", latent.vae_key(2), tmp_path) is None


@pytest.mark.parametrize("factor,shape", [(2, (2, 8, 8)), (4, (4, 4, 4))])
def test_reconstruction_round_trip_and_latent_shape(factor, shape):
    vae, where = latent.load_vae(factor, CPU, train_if_missing=False)
    assert where == "committed" and latent.latent_shape(factor) == shape
    x = digits_split().test_x[:16]
    z = latent.encode(vae, x)
    assert z.shape == (16, *shape)
    recon = latent.reconstruct(vae, x)
    assert recon.shape == x.shape and torch.isfinite(recon).all()
    assert ((recon - x) ** 2).mean() < 0.05  # a trained autoencoder, not noise (untrained: about 0.5)


def test_the_sampler_decodes_and_its_counted_flops_include_the_decoder():
    unet, vae, stats, _ = latent.load_latent(2, CPU, train_if_missing=False, norm="channel")
    model = latent.LatentSampler(unet, vae, stats, 16).eval()
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in unet.parameters()) + \
        sum(p.numel() for p in vae.parameters())  # the encoder is not part of sampling
    z = torch.zeros((1, *model.latent))
    t = torch.tensor([500])
    step, decoder = latent.forward_flops(lambda: model(z, t)), latent.forward_flops(lambda: model.decode(z))
    assert step > 0 and decoder > 0
    method = harness.Method("latent", latent.latent_fn("ddim", 3, model), 3)
    net = harness.CountingModel(model)
    with torch.no_grad():
        images = method.fn(harness.make_noise(2, 5, CPU), 5, net)
    assert images.shape == (2, 1, 16, 16) and images.abs().max() <= 1.0
    assert net.calls == 3  # the decoder pass is not a network evaluation of the diffusion model
    total = latent.forward_flops(lambda: method.fn(harness.make_noise(1, 5, CPU), 5, harness.CountingModel(model)))
    assert total >= 3 * step + decoder  # counted FLOPs of a sample include the decoder pass
    assert total < 1.1 * (3 * step + decoder)


def test_latent_noise_is_deterministic_per_seed():
    a, b = latent.latent_noise(4, 7, (2, 8, 8), CPU), latent.latent_noise(4, 7, (2, 8, 8), CPU)
    assert torch.equal(a, b) and not torch.equal(a, latent.latent_noise(4, 8, (2, 8, 8), CPU))


def test_the_warm_up_shape_is_replaced_by_latents():
    unet, vae, stats, _ = latent.load_latent(4, CPU, train_if_missing=False)
    model = latent.LatentSampler(unet, vae, stats, 16)
    with torch.no_grad():
        out = model(harness.make_noise(3, 0, CPU), torch.full((3,), 500)).sample
    assert out.shape == (3, 4, 4, 4)


def test_equal_training_steps_match_the_counted_flops():
    flops = latent.training_step_flops(factors=(2,), batch=4)
    assert latent.equal_training_steps(flops) == latent.PIXEL_EQUAL_STEPS
    assert latent.equal_cost_steps(116.5e6, 37.9e6) == 3 and latent.equal_cost_steps(10.0, 37.9e6) == 1


def test_spec_and_bounds():
    demo = latent.DEMO
    quick = demo.resolve("quick")
    assert quick["factors"] == [2, 4] and quick["samplers"] == ["ddim"]
    assert set(demo.resolve("full")["samplers"]) == set(latent.SAMPLERS)
    with pytest.raises(ParamError, match="factors"):
        demo.resolve("quick", {"factors": "8"})
    with pytest.raises(ParamError, match="samplers"):
        demo.resolve("quick", {"samplers": "heun"})
    with pytest.raises(ParamError, match="steps"):
        demo.resolve("quick", {"steps": "1"})
    assert demo.resolve("quick", demo.smoke)["steps"] == [4]


def test_smoke_run_has_every_role_and_compares_latent_with_both_baselines(tmp_path):
    from reference_impls.core.device import set_threads
    from reference_impls.core.progress import Progress
    from reference_impls.core.spec import RunContext

    params = latent.DEMO.resolve("quick", dict(latent.DEMO.smoke, n_samples=50))
    ctx = RunContext(CPU, Progress(None, None), tmp_path, "quick", threads=set_threads())
    result = latent.run(params, ctx)
    roles = {r.method: r.role for r in result.rows}
    assert roles["pixel DDIM 4"] == "full-cost" and result.rows[0].method == "pixel DDIM 4"
    assert roles["latent f=2 per-channel DDIM 4"] == "technique"
    equal = [m for m, role in roles.items() if role == "equal-cost"]
    assert equal and all(result.row(m).nfe < 4 for m in equal)
    assert roles["autoencoder f=2 reconstructions"] == roles["training digits (no model)"] == "reference"
    tech, full = result.row("latent f=2 per-channel DDIM 4"), result.row("pixel DDIM 4")
    assert tech.nfe == 4 and tech.flops_per_sample < full.flops_per_sample
    assert tech.extra["decoder_mflops"] > 0
    pairs = {(c.technique, c.reference) for c in result.comparisons}
    assert ("latent f=2 per-channel DDIM 4", "pixel DDIM 4") in pairs and ("latent f=2 per-channel DDIM 4", equal[0]) in pairs
    assert ("autoencoder f=2 reconstructions", "training digits (no model)") in pairs
    assert any(n.startswith("Caveat") for n in result.notes)
    assert set(result.tables) == {"autoencoder reconstruction of the held-out digits",
                                  "training compute (FLOPs counted by torch, forward and backward, at batch 64)"}
