"""`diffatlas render` writes the survey-style Markdown lists and detects stale pages."""

from __future__ import annotations

from click.testing import CliRunner

from diffatlas.cli import main

from .helpers import TAXONOMY, make_catalog, paper


def test_render_and_check(tmp_path):
    root = make_catalog(tmp_path, [
        paper("sampler-2022", "A Sampler [with] *Stars*", code="https://github.com/example/s"),
        paper("bert-2019", "BERT Background", kind="background", tags={}),
    ])
    out = tmp_path / "docs"
    args = ["--catalog", str(root), "--taxonomy", str(TAXONOMY), "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(main, ["render", *args, "--check"]).exit_code == 1
    result = runner.invoke(main, ["render", *args])
    assert result.exit_code == 0, result.output
    page = (out / "shen2025.md").read_text()
    assert r"- **[ICLR 2022]** A Sampler \[with\] \*Stars\*. [[Paper]](https://example.org/sampler-2022) [[Code]](https://github.com/example/s)" in page
    assert "BERT" not in page
    assert {p.name for p in out.iterdir()} == {"README.md", "ulhaq2022.md", "shen2025.md", "ma2024.md"}
    assert runner.invoke(main, ["render", *args, "--check"]).exit_code == 0
    (out / "ma2024.md").write_text("edited by hand\n")
    result = runner.invoke(main, ["render", *args, "--check"])
    assert result.exit_code == 1 and "ma2024.md" in result.output and "diffatlas render" in result.output
