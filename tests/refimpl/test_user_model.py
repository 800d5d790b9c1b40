"""Run options (base seed, your own model) and demos on a user's diffusers model folder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from diffatlas.cli import main
from reference_impls import registry
from reference_impls.core import harness
from reference_impls.core.result import DemoResult
from reference_impls.core.spec import ParamError


def one_line_error(args: list[str], message: str) -> str:
    out = CliRunner().invoke(main, ["demo", "run", *args])
    assert out.exit_code == 2, out.output
    assert out.output.strip().count("\n") == 0, out.output
    assert out.output.startswith("error: ") and message in out.output, out.output
    return out.output


# ---------------------------------------------------------------------------
# run options
# ---------------------------------------------------------------------------


def test_seed_zero_keeps_the_committed_noise_seeds_and_others_move_by_a_thousand():
    assert harness.noise_seeds(0, 5) == [0, 1, 2, 3, 4]
    assert harness.noise_seeds(3, 2) == [3000, 3001]
    timed_max = (1000 * 10**6 + 19) * 100003 + 20000  # the largest timed noise seed (seed, k, batch start)
    assert timed_max < harness.COST_SEED


@pytest.mark.parametrize("seed, message", [
    ("-1", "option 'seed': -1 is out of range [0, 1000000]"),
    ("1000001", "option 'seed': 1000001 is out of range [0, 1000000]"),
    ("x", "option 'seed': 'x' is not an integer"),
])
def test_bad_seed_is_one_line_and_exit_2(seed, message):
    one_line_error(["solvers", "--seed", seed], message)
    with pytest.raises(ParamError, match="option 'seed'"):
        registry.check_options(seed=seed)


def test_model_on_a_demo_that_cannot_take_one_names_those_that_can(tmp_path):
    line = one_line_error(["distillation", "--model", str(tmp_path)], "demo 'distillation' runs only on the project's")
    takers = [d.id for d in registry.registry().values() if d.accepts_model]
    assert all(t in line for t in takers)


def test_a_result_stored_without_seed_or_machine_still_reads():
    stored = DemoResult.of([], [], {}, equal_cost="x", model={}).to_json()
    del stored["seed"], stored["machine"]
    again = DemoResult.from_json(json.loads(json.dumps(stored)))
    assert again.seed == 0 and again.machine == {}


def test_the_run_is_stamped_with_its_seed_and_machine(tmp_path):
    smoke = dict(registry.get_demo("solvers").smoke, n_samples=50, seeds=1, solvers=["ddim"], baseline_steps=10)
    result = registry.run_demo("solvers", "quick", smoke, device="cpu", out_dir=tmp_path, seed=2)
    assert result.seed == 2
    assert set(result.machine) == {"hostname", "platform", "processor", "cpu_count", "gpu"}
    assert result.machine["cpu_count"] >= 1


# ---------------------------------------------------------------------------
# your own model: folders, loading, and demos on it
# ---------------------------------------------------------------------------


def save_tiny_unet(folder, prediction_type: str = "v_prediction"):
    """A random 3-channel 8x8 UNet2DModel and its DDPM scheduler, saved as a user would save them.
    v-prediction keeps a random network's x0 estimates bounded, so every solver's trajectory stays finite."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    unet.save_pretrained(folder)
    DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_unet(tmp_path_factory.mktemp("user-unet"))


def run_json(args: list[str]) -> dict:
    out = CliRunner().invoke(main, ["demo", "run", *args, "--quick", "--json", "--no-record"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output[out.output.index("{"):])


@pytest.fixture(scope="module")
def solvers_json(tiny_model, tmp_path_factory):
    """`diffatlas demo run solvers --model DIR --quick --json` with tiny overrides (seconds on an idle CPU)."""
    return run_json(["solvers", "--model", str(tiny_model), "--out", str(tmp_path_factory.mktemp("solvers-run")),
                     "-p", "n_samples=4", "-p", "seeds=2", "-p", "batch=4", "-p", "steps=2,20",
                     "-p", "solvers=ddim,dpmsolver++", "-p", "baseline_steps=100"])


def test_solvers_on_a_saved_model_report_same_noise_psnr_and_ssim(solvers_json, tiny_model):
    data = solvers_json
    rows = {r["method"]: r for r in data["rows"]}
    full = rows.pop("DDIM 100 (full cost)")
    assert full["role"] == "full-cost" and full["psnr"] is None and full["ssim"] is None  # the reference itself
    assert all(r["fd"] is None and r["kid"] is None for r in data["rows"])
    for r in rows.values():
        assert 0 < r["psnr"] <= 100 and -1 <= r["ssim"] <= 1 and len(r["psnr_seeds"]) == 2
        assert r["psnr_se"] is not None and r["nfe"] > 0 and r["flops_per_sample"] > 0
    assert rows["DDIM 2"]["psnr"] < rows["DDIM 20"]["psnr"]  # more steps: closer to the finely solved ODE
    assert {c["metric"] for c in data["comparisons"]} == {"psnr", "ssim"}
    assert all(c["reference"].startswith("DDIM") and c["reference_role"] == "equal-cost" for c in data["comparisons"])
    assert data["model"]["source"] == "user" and data["model"]["class"] == "UNet2DModel"
    assert data["model"]["key"] and data["model"]["path"] == str(tiny_model.resolve())
    assert data["anchors"]["fidelity"] and data["classifier"] == {}
    assert any("no conditioning" in n for n in data["notes"])


def test_scheduling_on_a_saved_model(tiny_model, tmp_path):
    data = run_json(["scheduling", "--model", str(tiny_model), "--out", str(tmp_path), "-p", "n_samples=4",
                     "-p", "seeds=2", "-p", "batch=4", "-p", "nfe=3", "-p", "nfe_sweep=2", "-p", "ref_steps=12",
                     "-p", "schedules=linspace,karras,optimised", "-p", "calibration=8"])
    rows = {r["method"]: r for r in data["rows"]}
    assert rows["reference DPM-Solver++(2M) 12"]["psnr"] is None
    assert all(r["psnr"] is not None for m, r in rows.items() if not m.startswith("reference"))
    assert {c["metric"] for c in data["comparisons"]} == {"psnr", "ssim"}
    assert "NFE needed to reach the quality target" in data["tables"]


def test_schedulers_follow_the_user_config():
    import torch
    from diffusers import DDPMScheduler

    from reference_impls.core.schedulers import SOLVERS, make_scheduler

    base = {"num_train_timesteps": 500, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "prediction_type": "epsilon", "clip_sample": False}
    expected = DDPMScheduler(**base).alphas_cumprod.double()
    for name in ("ddpm",) + SOLVERS:
        sched = make_scheduler(name, base=base)
        assert sched.config.num_train_timesteps == 500 and sched.config.prediction_type == "epsilon"
        assert torch.allclose(sched.alphas_cumprod.double(), expected, atol=0, rtol=1e-6), name


def _call(folder):
    import torch

    from reference_impls.core.usermodel import load_user_model

    net, checked = load_user_model(folder, torch.device("cpu"))
    x = torch.randn(2, *checked.sample_shape)
    return net, x, net(x, torch.tensor(10))


def test_conditional_unet_and_dit_folders_load_and_predict(tmp_path):
    import torch
    from diffusers import DDIMScheduler, DiTTransformer2DModel, UNet2DConditionModel

    from reference_impls.core.usermodel import conditioning_note, check_model_dir

    cond = tmp_path / "cond"
    UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=12,
                         attention_head_dim=2, norm_num_groups=4).save_pretrained(cond)
    DDIMScheduler().save_pretrained(cond)
    net, x, out = _call(cond)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert "all-zero encoder states" in conditioning_note(check_model_dir(cond))

    pipe = tmp_path / "dit-pipeline"  # a pipeline folder: model_index.json, transformer/, scheduler/
    DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1,
                          sample_size=8, patch_size=2, norm_num_groups=4, num_embeds_ada_norm=10
                          ).save_pretrained(pipe / "transformer")
    DDIMScheduler().save_pretrained(pipe / "scheduler")
    (pipe / "model_index.json").write_text(json.dumps({"_class_name": "DiTPipeline", "transformer": ["diffusers", "DiTTransformer2DModel"], "scheduler": ["diffusers", "DDIMScheduler"]}))
    net, x, out = _call(pipe)
    assert out.shape == x.shape  # the learned-variance half is dropped
    assert "class label 0" in conditioning_note(check_model_dir(pipe))


def _bad_folders(tmp_path, tiny_model):
    import shutil

    from diffatlas.paths import default_catalog_dir

    empty = tmp_path / "empty"
    empty.mkdir()
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"hello": 1}))
    other = tmp_path / "vae"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    (pickled / "diffusion_pytorch_model.safetensors").rename(pickled / "diffusion_pytorch_model.bin")
    linked = tmp_path / "linked"
    linked.symlink_to(tiny_model, target_is_directory=True)
    no_sched = tmp_path / "no-scheduler"
    shutil.copytree(tiny_model, no_sched)
    (no_sched / "scheduler_config.json").unlink()
    return [(empty, "no config.json"), (odd, "no '_class_name'"), (other, "is a AutoencoderKL, not one of"),
            (pickled, "only pickled weights"), (linked, "symbolic link"), (no_sched, "no scheduler_config.json"),
            (default_catalog_dir(), "no config.json"), (tmp_path / "missing", "does not exist"),
            (tiny_model / "config.json", "is a file, not a folder")]


def test_folders_that_are_not_a_model_get_one_line_and_exit_2(tmp_path, tiny_model):
    for folder, message in _bad_folders(tmp_path, tiny_model):
        line = one_line_error(["solvers", "--model", str(folder)], message)
        assert "save_pretrained" in line, line


def test_a_bad_step_count_for_the_user_schedule_is_refused_before_loading(tmp_path):
    from diffusers import DDPMScheduler

    folder = save_tiny_unet(tmp_path / "m")
    DDPMScheduler(num_train_timesteps=40, prediction_type="v_prediction").save_pretrained(folder)
    one_line_error(["solvers", "--model", str(folder)], "parameter 'baseline_steps': 50 steps exceed your model's 40")


@pytest.mark.slow
def test_the_demos_page_shows_a_fidelity_result_and_refuses_a_bad_model_folder(make_app, solvers_json, tmp_path,
                                                                               monkeypatch):
    from tests.conftest import REPO

    monkeypatch.setenv("DIFFATLAS_RESULTS", str(tmp_path / "r.sqlite"))
    at = make_app(REPO / "catalog", REPO / "taxonomy", timeout=180)
    at.run()
    at.switch_page("views/demos.py")
    at.session_state["demo_choice"] = "solvers"
    at.session_state["demo_shown"] = DemoResult.from_json(solvers_json)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Quality measured as" in [m.label for m in at.metric]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "PSNR" in json.dumps(spec["layout"]["yaxis"])
    at.text_input(key="model_dir_solvers").set_value(str(tmp_path))  # an empty folder: not a model
    at.button(key="demo_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("no config.json" in e.value for e in at.error), [e.value for e in at.error]


def test_runtime_on_a_saved_model(tiny_model, tmp_path):
    data = run_json(["runtime", "--model", str(tiny_model), "--out", str(tmp_path), "-p", "n_samples=4",
                     "-p", "seeds=2", "-p", "batch=4", "-p", "steps=4", "-p", "runtimes=bf16,channels_last"])
    rows = {r["method"]: r for r in data["rows"]}
    assert rows["eager fp32, 4 steps"]["psnr"] is None
    # channels_last changes memory layout only: (nearly) the same output as eager fp32
    assert rows["eager fp32 channels_last"]["psnr"] > 60 and rows["eager fp32 channels_last"]["ssim"] > 0.999
    assert all(c["metric"] in ("psnr", "ssim") for c in data["comparisons"])
