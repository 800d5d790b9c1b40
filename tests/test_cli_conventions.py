"""Command-line conventions: the catalog found from the working directory upwards (git-like),
the catalog used printed by every writing command, and `diffatlas app` passing only what the
user gave so Streamlit's own configuration works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import diffatlas.paths
from diffatlas.cli import main
from diffatlas.cli.app_cmd import streamlit_command, streamlit_env
from diffatlas.paths import default_catalog_dir, default_taxonomy_dir, discover_root

from .helpers import REPO, TAXONOMY, make_catalog, paper

ADD = ["add", "--no-interactive", "--title", "CopySampler: A Paper Added in a Copy", "--year", "2024",
       "--venue", "ICML", "--url", "https://arxiv.org/abs/2401.54321",
       "--tag", "ulhaq2022:eps.scheduling", "--tag", "shen2025:algorithm.sampling.solver",
       "--summary", "A made-up sampler that tests where diffatlas add writes its file."]


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copied repository: catalog/papers/ with two papers and the real taxonomy/ beside it."""
    root = tmp_path / "copy"
    make_catalog(root, [paper("one-2022", "First Copied Paper"), paper("two-2022", "Second Copied Paper")])
    shutil.copytree(TAXONOMY, root / "taxonomy")
    (root / "sub" / "deeper").mkdir(parents=True)
    return root


def no_catalog_env(monkeypatch):
    for name in ("DIFFATLAS_CATALOG", "DIFFATLAS_TAXONOMY"):
        monkeypatch.delenv(name, raising=False)


def test_discovery_walks_up_from_the_working_directory(copy, tmp_path, monkeypatch):
    no_catalog_env(monkeypatch)
    monkeypatch.chdir(copy / "sub" / "deeper")
    assert discover_root() == copy.resolve()
    assert default_catalog_dir() == copy.resolve() / "catalog"
    assert default_taxonomy_dir() == copy.resolve() / "taxonomy"
    monkeypatch.chdir(tmp_path)  # no checkout here or above: the installed one
    assert discover_root(tmp_path) is None
    assert default_catalog_dir() == diffatlas.paths.REPO_ROOT / "catalog"


def test_environment_beats_discovery_and_the_flag_beats_both(copy, tmp_path, monkeypatch):
    other = make_catalog(tmp_path / "other", [paper("three-2022", "Only Paper of the Other Catalog")])
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DIFFATLAS_CATALOG", str(other))
    monkeypatch.delenv("DIFFATLAS_TAXONOMY", raising=False)
    assert default_catalog_dir() == other
    assert default_taxonomy_dir() == copy.resolve() / "taxonomy"
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0 and "1 valid papers" in result.output, result.output
    result = CliRunner().invoke(main, ["validate", "--catalog", str(copy / "catalog")])
    assert result.exit_code == 0 and "2 valid papers" in result.output, result.output


def run_cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("DIFFATLAS_CATALOG", "DIFFATLAS_TAXONOMY")}
    return subprocess.run([sys.executable, "-m", "diffatlas", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_validate_and_add_act_on_the_copied_repository(copy):
    """The issue's case: in a second clone, add wrote into the first clone's catalog, silently."""
    installed_before = sorted(p.name for p in (REPO / "catalog" / "papers").iterdir())
    checked = run_cli(["validate"], cwd=copy / "sub")
    assert checked.returncode == 0, checked.stderr
    assert "2 valid papers" in checked.stdout, checked.stdout
    added = run_cli(ADD, cwd=copy / "sub" / "deeper")
    assert added.returncode == 0, added.stdout + added.stderr
    assert f"catalog: {(copy / 'catalog').resolve()}" in added.stderr.splitlines()
    assert (copy / "catalog" / "papers" / "copysampler-2024.yaml").is_file()
    assert sorted(p.name for p in (REPO / "catalog" / "papers").iterdir()) == installed_before
    assert "3 valid papers" in run_cli(["validate"], cwd=copy).stdout


@pytest.mark.parametrize("args, says", [
    (["render"], True), (["render", "--check"], False),
    (["bib", "export"], False), (["bib", "export", "-o", "out.bib"], True),
])
def test_writing_commands_say_which_catalog(copy, monkeypatch, args, says):
    no_catalog_env(monkeypatch)
    monkeypatch.chdir(copy)
    result = CliRunner().invoke(main, args)
    line = f"catalog: {(copy / 'catalog').resolve()}"
    assert (line in result.stderr.splitlines()) is says, result.output
    assert line not in result.stdout


# -- diffatlas app -----------------------------------------------------------------------------------
def flags(command: list[str]) -> list[str]:
    return [item for item in command if item.startswith("--")]


def test_app_passes_only_the_options_given():
    assert flags(streamlit_command(None, None, None)) == []
    given = streamlit_command(8600, "0.0.0.0", False)
    assert given[given.index("--server.port") + 1] == "8600"
    assert given[given.index("--server.address") + 1] == "0.0.0.0"
    assert given[given.index("--server.headless") + 1] == "true"
    assert streamlit_command(None, None, True)[-2:] == ["--server.headless", "false"]


@pytest.mark.parametrize("tty, display, user, headless", [
    (True, ":0", None, None),            # a desktop terminal: Streamlit decides
    (False, ":0", None, "true"),         # stdin is not a terminal: it could never answer the prompt
    (True, None, None, "true"),          # no display: no browser to open
    (False, None, "false", "false"),     # the user's own setting always wins
])
def test_app_never_waits_on_a_prompt_nobody_can_answer(tty, display, user, headless, monkeypatch):
    env = {"PATH": "/usr/bin"}
    if display:
        env["DISPLAY"] = display
    if user:
        env["STREAMLIT_SERVER_HEADLESS"] = user
    monkeypatch.setattr(sys.stdin, "isatty", lambda: tty, raising=False)
    made = streamlit_env(env, catalog_dir=None, taxonomy_dir=None)
    assert made.get("STREAMLIT_SERVER_HEADLESS") == headless
    assert made["STREAMLIT_SERVER_SHOW_EMAIL_PROMPT"] == "false" and made["STREAMLIT_SERVER_ADDRESS"] == "localhost"


def test_app_defaults_give_way_to_the_users_config_file(tmp_path, monkeypatch):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\naddress = "0.0.0.0"\nheadless = false\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    made = streamlit_env({"PATH": "/usr/bin"}, catalog_dir=None, taxonomy_dir=None)
    assert "STREAMLIT_SERVER_ADDRESS" not in made and "STREAMLIT_SERVER_HEADLESS" not in made


@pytest.mark.slow
def test_streamlit_server_port_is_obeyed(tmp_path):
    """`STREAMLIT_SERVER_PORT=N diffatlas app --no-browser` serves on N (the issue's Done-when)."""
    from .conftest import free_port

    port = free_port()
    env = dict(os.environ, STREAMLIT_SERVER_PORT=str(port), HOME=str(tmp_path))
    env.pop("STREAMLIT_SERVER_HEADLESS", None)
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "diffatlas", "app", "--no-browser"], cwd=REPO, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    assert reply.read() == b"ok"
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        assert f":{port}" in log.read_text()
        assert not (tmp_path / ".streamlit").exists()  # nothing created in the user's home
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- results per catalog -------------------------------------------------------------------------
def test_each_catalog_has_its_own_results_database(copy, tmp_path, monkeypatch):
    from diffatlas.results import default_path, whose

    no_catalog_env(monkeypatch)
    monkeypatch.delenv("DIFFATLAS_RESULTS", raising=False)
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(copy)
    here = default_path()
    assert here.parent == tmp_path / "cache" and here.name.startswith("results-copy-")
    assert whose(here) == f"the runs of catalog {(copy / 'catalog').resolve()}"
    monkeypatch.chdir(REPO)
    assert default_path() != here and default_path().name.startswith(f"results-{REPO.name}-")
    listed = CliRunner().invoke(main, ["results", "list"])
    assert listed.exit_code == 0 and f"the runs of catalog {REPO / 'catalog'}" in listed.output, listed.output
    monkeypatch.setenv("DIFFATLAS_RESULTS", str(tmp_path / "mine.sqlite"))
    assert default_path() == tmp_path / "mine.sqlite" and "$DIFFATLAS_RESULTS" in whose(default_path())


def test_a_run_against_another_catalog_is_recorded_with_that_catalog(copy, tmp_path, monkeypatch):
    from diffatlas import demos
    from diffatlas.results import default_path

    monkeypatch.delenv("DIFFATLAS_RESULTS", raising=False)
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    seen = {}

    def record_where(*args, db_path=None, **kwargs):  # stands in for a run: only where it would be recorded
        seen["db"] = db_path
        raise RuntimeError("not run")

    monkeypatch.setattr(demos, "check", lambda *args, **kwargs: {})
    monkeypatch.setattr(demos, "run_and_record", record_where)
    CliRunner().invoke(main, ["demo", "run", "solvers", "--json", "--catalog", str(copy / "catalog")])
    assert seen["db"] == default_path(copy / "catalog") != default_path(REPO / "catalog")
