"""The guidance demo: its committed models, the two guidance mechanisms and their counted cost.

Each test could fail: classifier guidance at scale 0 must be unguided sampling bit for bit and any other
scale must change it; CFG must cost two counted network evaluations per step and reduce to the conditional
(w = 1) and unconditional (w = 0) predictions; the noise-aware classifier's gradient must raise its own
log-probability of the intended class; the class scores must read a known answer (real digits).
"""

from __future__ import annotations

import json

import pytest
import torch

from reference_impls.core import checkpoints, harness
from reference_impls.core.data import digits_split
from reference_impls.core.model import training_scheduler
from reference_impls.core.spec import ParamError
from reference_impls.design import guidance as g

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def models():
    unet, classifier, where = g.load_models(CPU)
    assert where == {"unet": "committed", "classifier": "committed"}
    return g.Labelled(unet), classifier


def _noise(n=10, seed=0):
    return harness.make_noise(n, seed, CPU)


def _rec():
    return g.Recorder(10, 10, 1)


def _run(method, labelled, noise):
    """Run one method as the harness does: through a CountingModel around the labelled network."""
    net = harness.CountingModel(labelled)
    return method.fn(noise, 0, net), net


def test_committed_weights_are_hash_checked_and_record_their_training():
    for name, key in (("cond-unet", g.conditional_key()), ("noisy-classifier", g.classifier_key())):
        path = checkpoints.verify_checkpoint(name, key, checkpoints.WEIGHTS_DIR)
        assert path is not None, f"{name}-{key} missing or corrupted; run python -m reference_impls.train guidance"
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["command"] == "python -m reference_impls.train guidance"
        assert meta["data_hash"] == digits_split().data_hash and meta["bytes"] < 1_500_000
        assert meta["train_config"] == g.GUIDANCE_TRAIN.to_dict()
    assert g.checkpoints_present()


def test_a_corrupted_checkpoint_is_refused(tmp_path):
    net = g.NoisyClassifier()
    path = checkpoints.save_checkpoint(net, "noisy-classifier", "k", tmp_path, {"command": "test"})
    assert checkpoints.verify_checkpoint("noisy-classifier", "k", tmp_path) == path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert checkpoints.verify_checkpoint("noisy-classifier", "k", tmp_path) is None


def test_the_conditional_unet_is_the_teacher_plus_a_class_embedding(models):
    labelled, _ = models
    unet = labelled.unet
    assert unet.class_embedding.num_embeddings == g.NUM_CLASSES + 1
    teacher = g.make_conditional_unet()
    extra = sum(p.numel() for p in unet.parameters()) - sum(
        p.numel() for n, p in teacher.named_parameters() if not n.startswith("class_embedding"))
    assert extra == 11 * unet.config.block_out_channels[0] * 4  # 11 labels x the time-embedding width
    x, t = _noise(4), torch.full((4,), 600)
    with torch.no_grad():  # the label matters: digit 3 and the null class predict different v
        a = unet(x, t, class_labels=torch.full((4,), 3)).sample
        b = unet(x, t, class_labels=torch.full((4,), g.NULL_CLASS)).sample
    assert not torch.allclose(a, b, atol=1e-4)


def test_classifier_guidance_at_scale_zero_is_unguided_sampling_bit_for_bit(models):
    labelled, classifier = models
    noise = _noise(seed=3)
    plain, _ = _run(g.unguided_method(labelled, 5, "reference", _rec()), labelled, noise)
    zero, _ = _run(g.cg_method(labelled, 5, 0.0, "cond", classifier, _rec(), 1.2), labelled, noise)
    assert torch.equal(zero, plain)
    guided, net = _run(g.cg_method(labelled, 5, 4.0, "cond", classifier, _rec(), 1.2), labelled, noise)
    assert not torch.allclose(guided, plain, atol=1e-3)
    assert net.samples / len(noise) == 5  # the classifier is not a UNet evaluation: 1 NFE per step


def test_cfg_costs_two_counted_evaluations_per_step_and_reduces_to_cond_and_uncond(models):
    labelled, _ = models
    noise = _noise(seed=4)
    cfg, net = _run(g.cfg_method(labelled, 6, 1.0, _rec()), labelled, noise)
    assert net.samples / len(noise) == 12 and net.calls == 6  # one call per step on the doubled batch
    cond, net = _run(g.unguided_method(labelled, 6, "reference", _rec()), labelled, noise)
    assert net.samples / len(noise) == 6
    assert torch.allclose(cfg, cond, atol=1e-4)  # w = 1 is the conditional model
    uncond, _ = _run(g.unguided_method(labelled, 6, "reference", _rec(), conditional=False), labelled, noise)
    w0, _ = _run(g.cfg_method(labelled, 6, 0.0, _rec()), labelled, noise)
    assert torch.allclose(w0, uncond, atol=1e-4)  # w = 0 is the unconditional one
    w3, _ = _run(g.cfg_method(labelled, 6, 3.0, _rec()), labelled, noise)
    assert not torch.allclose(w3, cond, atol=1e-3)


def test_the_classifier_gradient_climbs_the_intended_log_probability(models):
    _, classifier = models
    x, t, y = _noise(20, seed=5) * 0.5, torch.tensor(300), g.intended(20)
    grad = g.classifier_gradient(classifier, x, t, y)
    assert grad.shape == x.shape and torch.isfinite(grad).all()

    def logp(z):
        with torch.no_grad():
            return torch.log_softmax(classifier(z, t.expand(20)), 1)[torch.arange(20), y].sum()

    assert logp(x + 1e-2 * grad) > logp(x)
    # the guided v is v - s sigma/alpha grad, exactly
    ac = training_scheduler().alphas_cumprod
    v = torch.zeros_like(x)
    out = g.cg_denoiser(lambda a, b: v, classifier, y, 2.0, ac)(x, t)
    a = ac[300]
    assert torch.allclose(out, -2.0 * (1 - a).sqrt() / a.sqrt() * grad)


def test_class_scores_read_real_digits_as_correct_and_shuffled_labels_as_wrong():
    split = digits_split()
    images, labels = split.test_x[:200], split.test_y[:200].numpy()
    right = g.seed_scores(labels, images)
    wrong = g.seed_scores((labels + 1) % 10, images)
    assert right["class_error"] < 5 and wrong["class_error"] > 90
    assert right["class_kid"] < wrong["class_kid"]
    assert 0.7 < right["class_spread"] < 1.3  # real digits are about as spread as the held-out digits


def test_recorder_keeps_the_timed_seeds_and_ignores_lone_batches():
    rec = g.Recorder(4, 2, 2)
    for seed in (0, 1):
        for b0 in (0, 2):
            rec.add(100003 * seed + b0, torch.arange(2), torch.full((2, 1, 16, 16), float(seed)))
    rec.add(10**15, torch.arange(1), torch.zeros(1, 1, 16, 16))  # the FLOP-counting pass
    sets = rec.seed_sets()
    assert len(sets) == 2 and [float(s[1].mean()) for s in sets] == [0.0, 1.0] and len(sets[0][0]) == 4


def test_spec_bounds_and_cross_parameter_rules():
    demo = g.DEMO
    assert set(demo.nodes) == {"ulhaq2022:eds.guidance.guided", "ulhaq2022:eds.guidance.not_guided",
                               "ma2024:part2.conditioning"}
    assert not demo.same_cost_per_nfe
    quick, full = demo.resolve("quick"), demo.resolve("full")
    assert full["n_samples"] > quick["n_samples"] and len(full["cfg_scales"]) > len(quick["cfg_scales"])
    demo.resolve("quick", demo.smoke)
    with pytest.raises(ParamError, match="baseline_steps"):
        demo.resolve("quick", {"steps": 10, "baseline_steps": 15})
    with pytest.raises(ParamError, match="width"):
        demo.resolve("quick", {"width": 2})
    with pytest.raises(ParamError, match="cg_model"):
        demo.resolve("quick", {"cg_model": "both"})
    with pytest.raises(ParamError, match="cfg_scales"):
        demo.resolve("quick", {"cfg_scales": "-1"})


@pytest.mark.slow
def test_smoke_run_shape_roles_and_counted_cost(tmp_path, monkeypatch):
    from reference_impls import registry

    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    result = registry.run_demo("guidance", "quick", g.DEMO.smoke, device="cpu", out_dir=tmp_path / "run")
    rows = {r.method: r for r in result.rows}
    steps = g.DEMO.smoke["steps"]
    assert result.rows[0].role == "full-cost"
    assert {"full-cost", "equal-cost", "technique", "reference"} == {r.role for r in result.rows}
    cfg = rows[f"DDIM {steps} CFG w=3"]
    cg = rows[f"DDIM {steps} CG s=2 (cond)"]
    assert cfg.nfe == 2 * steps and cg.nfe == steps and rows[f"DDIM {steps} uncond"].nfe == steps
    plain = rows[f"DDIM {steps} cond"]
    assert cfg.flops_per_sample == pytest.approx(2 * plain.flops_per_sample, rel=0.02)
    assert plain.flops_per_sample < cg.flops_per_sample < 2 * plain.flops_per_sample  # + classifier fwd/bwd
    for r in result.rows:
        assert 0 <= r.extra["class_error"] <= 100 and r.extra["class_kid"] == r.extra["class_kid"]
    refs = {(c.technique, c.reference) for c in result.comparisons}
    assert (cfg.method, f"DDIM {2 * steps} cond") in refs and (cg.method, plain.method) in refs
    classes = result.tables["class_comparisons"]
    assert {c["metric"] for c in classes} == {"class_error", "class_kid"}
    for c in classes:
        tech, ref = rows[c["technique"]], rows[c["reference"]]
        assert c["difference"] == pytest.approx(tech.extra[c["metric"]] - ref.extra[c["metric"]])
        assert c["ci_low"] <= c["difference"] <= c["ci_high"] or c["seeds"] < 2
    assert any(n.startswith("Class-conditional: ") for n in result.notes)
