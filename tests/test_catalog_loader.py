"""The loader reports every kind of bad input with file, field and a hint."""

from __future__ import annotations

from diffatlas.catalog import load_catalog

from .helpers import TAXONOMY, make_catalog, paper, write_paper


def load(root):
    return load_catalog(root, TAXONOMY)


def messages(catalog):
    return [str(p) for p in catalog.problems]


def test_valid_catalog_loads_with_lookups(tmp_path):
    root = make_catalog(tmp_path, [
        paper("a-2022", "Alpha Sampler", tags={"ulhaq2022": ["eps.scheduling"], "shen2025": ["algorithm.sampling.solver"], "ma2024": ["part5.ode_solvers"]},
              listed_in=[{"survey": "ma2024", "section": "Part 5"}]),
        paper("b-2021", "Beta Cache", year=2021, tags={"ulhaq2022": ["eps.scheduling"], "shen2025": ["system.caching"]}),
    ])
    catalog = load(root)
    assert catalog.problems == []
    assert len(catalog) == 2
    assert catalog.get("a-2022").title == "Alpha Sampler"
    assert [p.id for p in catalog.by_node("shen2025", "algorithm")] == ["a-2022"]
    assert [p.id for p in catalog.by_node("shen2025", "system.caching")] == ["b-2021"]
    assert [p.id for p in catalog.by_survey("ma2024")] == ["a-2022"]
    frame = catalog.dataframe()
    assert list(frame["id"]) == ["a-2022", "b-2021"]
    assert frame.loc[0, "top_shen2025"] == ["algorithm"]


def test_every_problem_is_reported_at_once(tmp_path):
    root = make_catalog(tmp_path, [paper("good-2022", "Good Paper")])
    folder = root / "papers"
    (folder / "broken-yaml.yaml").write_text("id: broken-yaml\ntitle: [unclosed\nyear: 2022\n")
    write_paper(folder, paper("unknown-field", "Unknown Field Paper", colour="blue"))
    missing = paper("missing-summary", "Missing Summary Paper")
    del missing["summary"]
    write_paper(folder, missing)
    write_paper(folder, paper("bad-node", "Bad Node Paper", tags={"ulhaq2022": ["eps.schedulng"], "shen2025": ["algorithm.sampling.solver"]}))
    write_paper(folder, paper("other-name", "Mismatched Id Paper"), name="file-name")
    write_paper(folder, paper("js-url", "Javascript Url Paper", url="javascript:alert(1)"))
    write_paper(folder, paper("dup-title", "GOOD paper!"))
    write_paper(folder, paper("dup-arxiv-a", "First Arxiv Paper", arxiv="2206.00927"))
    write_paper(folder, paper("dup-arxiv-b", "Second Arxiv Paper", arxiv="2206.00927"))
    write_paper(folder, paper("dup-doi-a", "First Doi Paper", doi="10.1000/xyz"))
    write_paper(folder, paper("dup-doi-b", "Second Doi Paper", doi="10.1000/XYZ"))
    write_paper(folder, paper("untagged", "Untagged Paper", tags={"ulhaq2022": ["eps.training"]}))
    write_paper(folder, paper("bad-tax", "Bad Taxonomy Paper", tags={"ulhaq2022": ["eps.training"], "shen2025": ["framework"], "nosuch": ["x"]}))

    catalog = load(root)
    text = "\n".join(messages(catalog))
    assert "good-2022" in catalog.papers

    def has(file, field, words):
        return any(p.file.endswith(file) and p.field == field and words in p.message for p in catalog.problems)

    broken = [p for p in catalog.problems if p.file.endswith("broken-yaml.yaml")]
    assert broken and "malformed YAML" in broken[0].message and broken[0].line in (2, 3)
    assert has("unknown-field.yaml", "colour", "unknown field")
    assert has("missing-summary.yaml", "summary", "missing required field")
    assert has("bad-node.yaml", "tags.ulhaq2022", "unknown taxonomy node 'eps.schedulng'")
    assert any("did you mean eps.scheduling" in p.hint for p in catalog.problems if p.file.endswith("bad-node.yaml"))
    assert has("file-name.yaml", "id", "does not match the file name")
    assert has("js-url.yaml", "url", "not an absolute http(s) link")
    def names_both(field, a, b):
        return any(p.field == field and {a, b} <= {p.file.rsplit("/", 1)[-1], p.message.rsplit("/", 1)[-1]} for p in catalog.problems)

    assert names_both("title", "dup-title.yaml", "good-2022.yaml")
    assert names_both("arxiv", "dup-arxiv-a.yaml", "dup-arxiv-b.yaml")
    assert names_both("doi", "dup-doi-a.yaml", "dup-doi-b.yaml")
    assert has("untagged.yaml", "tags.shen2025", "must be placed in the shen2025 tree")
    assert has("bad-tax.yaml", "tags.nosuch", "unknown taxonomy 'nosuch'")
    assert "fix:" in text


def test_background_and_unresolved_rules(tmp_path):
    root = make_catalog(tmp_path, [
        paper("bert-2019", "BERT Pretraining", kind="background", tags={}),
        {"id": "ulhaq2022-nwdm", "title": "NWDM", "unresolved": True,
         "summary": "Named in a survey table; the cited work could not be identified.",
         "tags": {"ulhaq2022": ["eds.scale.non_pyramidal"], "shen2025": ["algorithm.training"]}},
        {"id": "no-url", "title": "No Url Paper", "year": 2020, "summary": "A resolved paper must carry a link to it.",
         "tags": {"ulhaq2022": ["eps.training"], "shen2025": ["algorithm.training"]}},
    ])
    catalog = load(root)
    assert {"bert-2019", "ulhaq2022-nwdm"} <= set(catalog.papers)
    assert [p.file.endswith("no-url.yaml") for p in catalog.problems] == [True]


def test_html_and_control_characters_are_rejected(tmp_path):
    root = make_catalog(tmp_path, [
        paper("html-title", "<script>alert(1)</script> Diffusion"),
        paper("ctrl-summary", "Control Char Paper", summary="A summary with a bell \x07 character in it."),
    ])
    catalog = load(root)
    assert any(p.field == "title" and "HTML" in p.message for p in catalog.problems)
    assert any(p.field == "summary" and "control character" in p.message for p in catalog.problems)


def test_missing_folder_is_a_problem_not_a_crash(tmp_path):
    catalog = load(tmp_path / "nowhere")
    assert len(catalog) == 0
    assert "catalog folder not found" in messages(catalog)[0]


def test_stats_runs_on_a_catalog_with_undated_unresolved_entries(tmp_path):
    from click.testing import CliRunner

    from diffatlas.cli import main

    root = make_catalog(tmp_path, [
        paper("a-2022", "Alpha Sampler", listed_in=[{"survey": "ulhaq2022", "section": "Table II > Scheduling"}]),
        {"id": "ulhaq2022-x", "title": "X", "unresolved": True, "summary": "Named in a survey table; not identified.",
         "tags": {"ulhaq2022": ["eps.training"], "shen2025": ["algorithm.training"]}},
    ])
    result = CliRunner().invoke(main, ["stats", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0, result.output
    assert "Papers: 2" in result.output and "no year: 1 unresolved" in result.output
    assert "ulhaq2022     1" in result.output
