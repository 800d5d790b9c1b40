"""The survey-list importers parse both formats and merge without duplicates."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from diffatlas.cli import main
from diffatlas.importers import parse_file
from diffatlas.yamlio import load_yaml

from .helpers import TAXONOMY, make_catalog, paper

LISTS = Path(__file__).parent / "fixtures" / "lists"


def test_parse_shen_format_with_wrapping_and_broken_link():
    entries = parse_file(LISTS / "shen_snippet.md", "shen")
    titles = [e.title for e in entries]
    assert titles[0].startswith("DPM-Solver: A Fast ODE Solver")
    wrapped = entries[1]
    assert wrapped.title == "A Made-Up Solver That Wraps Over Two Lines"
    assert (wrapped.venue, wrapped.year, wrapped.month) == ("arXiv", 2023, 9)
    assert wrapped.url == "https://arxiv.org/abs/2309.99999" and wrapped.fixes
    assert entries[0].code == "https://github.com/LuChengTHU/dpm-solver"
    assert entries[0].section.endswith("Efficient Sampling > Solver")
    framework = entries[-1]
    assert (framework.title, framework.section) == ("ToyFramework", "Frameworks")


def test_parse_ma_format_with_badges():
    entries = parse_file(LISTS / "ma_snippet.md", "ma")
    assert entries[0].title == "Progressive distillation for fast sampling of diffusion models"
    assert (entries[0].venue, entries[0].year) == ("ICLR", 2022)
    assert entries[2].url == "https://arxiv.org/abs/2401.00001"  # '[[Paper]] (url)' with a space
    assert (entries[2].venue, entries[2].year, entries[2].month) == ("arXiv", 2024, 1)
    assert (entries[-1].venue, entries[-1].year) == ("NeurIPS Workshop", 2021)
    assert entries[-1].section == "Part 6: Efficient Deployment And Usage"


def test_merge_adds_provenance_instead_of_duplicates(tmp_path):
    existing = paper("dpm-solver-2022", "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps",
                     arxiv="2206.00927")
    root = make_catalog(tmp_path, [existing])
    runner = CliRunner()
    args = ["--catalog", str(root), "--taxonomy", str(TAXONOMY)]
    result = runner.invoke(main, ["sources", "import", str(LISTS / "shen_snippet.md"), "--format", "shen", "--survey", "shen2025", *args])
    assert result.exit_code == 0, result.output
    assert "1 already in the catalog" in result.output and "3 new stubs" in result.output
    files = sorted(p.name for p in (root / "papers").glob("*.yaml"))
    assert len(files) == 4
    dpm = load_yaml(root / "papers" / "dpm-solver-2022.yaml")
    assert dpm["listed_in"][0]["survey"] == "shen2025"
    assert dpm["tags"]["shen2025"] == ["algorithm.sampling.solver"]
    stub = load_yaml(root / "papers" / "progressive-distillation-fast-sampling-2022.yaml")
    assert stub["tags"] == {"shen2025": ["algorithm.sampling.distillation"]}
    framework = load_yaml(root / "papers" / "toyframework.yaml")
    assert framework["kind"] == "framework"

    result = runner.invoke(main, ["sources", "import", str(LISTS / "ma_snippet.md"), "--format", "ma", "--survey", "ma2024", *args])
    assert result.exit_code == 0, result.output
    assert "2 already in the catalog" in result.output and "1 repeated within the source" in result.output
    assert len(list((root / "papers").glob("*.yaml"))) == 6
    stub = load_yaml(root / "papers" / "progressive-distillation-fast-sampling-2022.yaml")
    assert [item["survey"] for item in stub["listed_in"]] == ["shen2025", "ma2024"]
    assert stub["tags"]["ma2024"] == ["part5"]

    # Importing the same list again changes nothing.
    before = {p.name: p.read_text() for p in (root / "papers").glob("*.yaml")}
    result = runner.invoke(main, ["sources", "import", str(LISTS / "ma_snippet.md"), "--format", "ma", "--survey", "ma2024", *args])
    assert "0 new stubs" in result.output
    assert before == {p.name: p.read_text() for p in (root / "papers").glob("*.yaml")}


def test_dry_run_measures_coverage_and_writes_nothing(tmp_path):
    root = make_catalog(tmp_path, [])
    result = CliRunner().invoke(main, ["sources", "import", str(LISTS / "ma_snippet.md"), "--format", "ma", "--survey", "ma2024",
                                       "--dry-run", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0
    assert "coverage: 0/5" in result.output
    assert list((root / "papers").glob("*.yaml")) == []
