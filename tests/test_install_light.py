"""The base install (`pip install -e .`, no `demos` extra) gives the catalog, the CLI and the app.

Creating a fresh virtual environment is too slow for CI, so these tests run diffatlas in a
subprocess whose PYTHONPATH starts with a folder where torch, diffusers and the rest of the
`demos` extra are packages that raise ImportError: Python finds those first, as if the real ones
were not installed. The fresh-venv check was done by hand (see the commit message).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import APP_MAIN, FIXTURE_CATALOG, FIXTURE_TAXONOMY, REPO

BLOCKED = ("torch", "diffusers", "peft", "safetensors", "torch_pruning", "optimum", "transformers")
INSTALL = 'pip install -e ".[demos]"'


@pytest.fixture(scope="module")
def no_torch_env(tmp_path_factory) -> dict:
    """The environment of a subprocess that cannot import the demos' packages."""
    blocker = tmp_path_factory.mktemp("no_torch")
    for name in BLOCKED:
        (blocker / name).mkdir()
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked by test_install_light')\n")
    env = dict(os.environ, DIFFATLAS_CATALOG=str(FIXTURE_CATALOG), DIFFATLAS_TAXONOMY=str(FIXTURE_TAXONOMY),
               DIFFATLAS_CACHE=str(blocker / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("DIFFATLAS_RESULTS", None)
    return env


def run(env, *args, timeout=300):
    return subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_the_blocker_blocks(no_torch_env):
    assert run(no_torch_env, "-c", "import torch").returncode != 0


def test_library_and_cli_import_without_torch(no_torch_env):
    code = "import sys, diffatlas, diffatlas.cli, diffatlas.demos, diffatlas.results; print('torch' in sys.modules)"
    result = run(no_torch_env, "-c", code)
    assert result.returncode == 0 and result.stdout.split() == ["False"], result.stderr[-2000:]


@pytest.mark.parametrize("args", [["validate"], ["stats"], ["bib", "export"], ["results", "list"]])
def test_catalog_commands_work_without_torch(no_torch_env, args):
    result = run(no_torch_env, "-m", "diffatlas", *args)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["demo", "list"], ["demo", "run", "solvers"], ["demo", "train", "all"]])
def test_demo_commands_name_the_install_command(no_torch_env, args):
    result = run(no_torch_env, "-m", "diffatlas", *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: the demos need torch") and INSTALL in lines[0]


def test_every_page_renders_and_demos_says_how_to_add_them(no_torch_env):
    pages = sorted(f"views/{p.name}" for p in (APP_MAIN.parent / "views").glob("*.py"))
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP_MAIN)!r}, default_timeout=240)
at.run()
for page in {pages!r}:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    if page.endswith("demos.py"):
        print("DEMOS:", " | ".join(i.value for i in at.info))
print("torch" in sys.modules)
"""
    result = run(no_torch_env, "-c", script, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout.strip().splitlines()
    demos_line = next(line for line in out if line.startswith("DEMOS:"))
    assert INSTALL in demos_line and "torch" in demos_line, demos_line
    assert out[-1] == "False"
