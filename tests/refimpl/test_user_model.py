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
