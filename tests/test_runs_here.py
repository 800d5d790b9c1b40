"""`runs_here`: a framework's record of being tried on this machine, and where a reader meets it.

The field is strict like the rest of the schema (unknown keys, bad dates, unknown
statuses and over-long text are problems with file, field and fix), its `instead`
must name a demo some taxonomy node links to, and the app and the rendered docs
show it with every catalog string escaped.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from diffatlas.catalog import load_catalog
from diffatlas.cli import main
from diffatlas.explore import node_runs_here, runs_here_summary

from .conftest import FIXTURE_TAXONOMY
from .helpers import TAXONOMY, make_catalog, paper, write_paper

CHECK = {
    "checked": "2026-11-30",
    "machine": "Python 3.11, torch 2.13.0+cpu, no GPU",
    "status": "cannot_run",
    "tried": "pip install --no-deps fastkernels 1.0 in a throwaway venv",
    "outcome": "OSError: CUDA_HOME environment variable is not set",
    "instead": "solvers",  # the fixture taxonomy links algorithm.sampling.solver to demo 'solvers'
    "reason": "A CUDA-only kernel library; the solvers demo measures sampling cost on this machine instead.",
}


def framework(pid: str = "fastkernels", title: str = "FastKernels", **check) -> dict:
    return paper(pid, title, kind="framework", code="https://github.com/example/fastkernels",
                 tags={"ulhaq2022": ["eps.scheduling"], "shen2025": ["framework"]},
                 runs_here={**CHECK, **check})


def problems_for(catalog, file: str) -> list:
    return [p for p in catalog.problems if p.file.endswith(file)]


def test_a_good_check_loads_and_reads_back(tmp_path):
    root = make_catalog(tmp_path, [framework(), framework("no-demo", "No Demo Kernels", instead=None, status="not_applicable")])
    catalog = load_catalog(root, FIXTURE_TAXONOMY)
    assert catalog.problems == []
    check = catalog.get("fastkernels").runs_here
    assert check.checked == dt.date(2026, 11, 30) and check.status == "cannot_run" and check.instead == "solvers"
    assert catalog.get("no-demo").runs_here.instead is None
    summary = runs_here_summary(catalog.get("fastkernels"))
    assert summary["status"] == "cannot run here" and summary["checked"] == "2026-11-30"
    assert [p.id for p in node_runs_here(catalog, "shen2025", "framework")] == ["fastkernels", "no-demo"]  # by title
    assert node_runs_here(catalog, "shen2025", "system.caching") == []
    assert runs_here_summary(catalog.get("fastkernels").model_copy(update={"runs_here": None})) is None


@pytest.mark.parametrize("change, field, words", [
    ({"status": "maybe"}, "runs_here.status", "Input should be"),
    ({"checked": "yesterday"}, "runs_here.checked", "date"),
    ({"checked": (dt.date.today() + dt.timedelta(days=2)).isoformat()}, "runs_here.checked", "in the future"),
    ({"colour": "red"}, "runs_here.colour", "unknown field"),
    ({"tried": ""}, "runs_here.tried", "at least 1 character"),
    ({"outcome": "x" * 501}, "runs_here.outcome", "at most 500 characters"),
    ({"reason": "too short"}, "runs_here.reason", "at least 20 characters"),
    ({"reason": "Fails: <script>alert(1)</script> on this machine."}, "runs_here.reason", "HTML markup"),
    ({"instead": "Run Me!"}, "runs_here.instead", "pattern"),
])
def test_bad_values_are_problems_with_field_and_fix(tmp_path, change, field, words):
    root = make_catalog(tmp_path, [framework(**change)])
    catalog = load_catalog(root, FIXTURE_TAXONOMY)
    found = problems_for(catalog, "fastkernels.yaml")
    assert [p.field for p in found] == [field], [str(p) for p in found]
    assert words in found[0].message
    # the fix is the hint, or for the model's own checks the clause after ';' in the message
    assert found[0].hint or "; " in found[0].message, "every problem says how to fix it"
    assert "fastkernels" not in catalog.papers


def test_missing_fields_and_the_date_hint(tmp_path):
    data = framework()
    del data["runs_here"]["reason"]
    data["runs_here"]["checked"] = "1 Dec 2026"
    root = make_catalog(tmp_path, [data])
    found = {p.field: p for p in problems_for(load_catalog(root, FIXTURE_TAXONOMY), "fastkernels.yaml")}
    assert set(found) == {"runs_here.reason", "runs_here.checked"}
    assert found["runs_here.reason"].message == "missing required field"
    assert "YYYY-MM-DD" in found["runs_here.checked"].hint


def test_instead_must_name_a_demo_that_a_taxonomy_node_links_to(tmp_path):
    root = make_catalog(tmp_path, [framework(instead="solver"), framework("elsewhere", "Elsewhere Kernels", instead="no-such-demo")])
    catalog = load_catalog(root, FIXTURE_TAXONOMY)
    close = problems_for(catalog, "fastkernels.yaml")
    assert [(p.field, p.message) for p in close] == [
        ("runs_here.instead", "no taxonomy node names the demo 'solver'")]
    assert "did you mean solvers?" in close[0].hint
    far = problems_for(catalog, "elsewhere.yaml")
    assert far and "solvers" in far[0].hint and "null" in far[0].hint
    # with the repository's taxonomies the fixture's demo id is checked against their own demo: links
    repo = load_catalog(make_catalog(tmp_path / "repo", [framework(instead="solvers")]), TAXONOMY)
    assert repo.problems == []


def test_render_lists_the_check_under_the_framework_line(tmp_path):
    hostile = framework(outcome="Fails with *stars*, [brackets] and a_snake_case name",
                        reason="A CUDA-only kernel library | so the `solvers` demo stands in for it here.")
    root = make_catalog(tmp_path, [hostile, paper("plain-2022", "A Plain Sampler")])
    out = tmp_path / "docs"
    result = CliRunner().invoke(main, ["render", "--catalog", str(root), "--taxonomy", str(FIXTURE_TAXONOMY),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "shen2025.md").read_text()
    lines = page.splitlines()
    at = next(i for i, line in enumerate(lines) if "FastKernels" in line)
    assert lines[at + 1].startswith("  - *cannot run here* (checked 2026-11-30 on Python 3.11, torch 2.13.0+cpu, no GPU). "
                                    "Tried: pip install --no-deps fastkernels 1.0 in a throwaway venv. What happened: ")
    assert lines[at + 1].endswith(r"Fails with \*stars\*, \[brackets\] and a\_snake\_case name")
    assert lines[at + 2].startswith("  - measured instead by `diffatlas demo run solvers`: A CUDA-only kernel library \\| ")
    plain = next(i for i, line in enumerate(lines) if "A Plain Sampler" in line)
    assert not lines[plain + 1].startswith("  - "), "an entry without runs_here gets no sub-items"


# -- the app ------------------------------------------------------------------------
def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _demo_links(at) -> list:
    from .test_app_pages import elements

    return [e.proto for e in elements(at, "page_link") if "demo=" in e.proto.query_string]


def test_papers_detail_shows_the_check_escaped(make_app, tmp_path):
    root = make_catalog(tmp_path, [framework(outcome="Stops with $CUDA_HOME$ unset: see *build* log [1]")])
    at = make_app(root, FIXTURE_TAXONOMY)
    at.run()
    at.switch_page("views/papers.py").run()
    at.text_input(key="papers_query").set_value("fastkernels").run()
    assert not at.exception, [e.value for e in at.exception]
    text = _texts(at)
    assert "**Does it run here?** cannot run here (tried 2026\\-11\\-30 on" in text
    assert r"What happened: Stops with \$CUDA\_HOME\$ unset\: see \*build\* log \[1\]" in text
    links = _demo_links(at)
    assert any("demo=solvers" in link.query_string and "solvers demo" in link.label for link in links)


def test_framework_node_lists_every_checked_framework(make_app, tmp_path):
    root = make_catalog(tmp_path, [framework(), framework("other-kernels", "Other Kernels", status="runs", instead=None),
                                   paper("plain-2022", "A Plain Sampler")])
    write_paper(root / "papers", paper("elsewhere", "Cache Library", kind="framework",
                                       tags={"ulhaq2022": ["eps.scheduling"], "shen2025": ["system.caching"]},
                                       runs_here=CHECK))
    at = make_app(root, FIXTURE_TAXONOMY)
    at.query_params["tax"] = "shen2025"
    at.query_params["node"] = "framework"
    at.run()
    at.switch_page("views/taxonomy.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = _texts(at)
    # one machine for both: named once above the list, not in every entry
    assert "**Tried on this machine** (Python 3\\.11, torch 2\\.13\\.0\\+cpu, no GPU): does each of the 2 entries" in text
    assert "**FastKernels**: cannot run here (tried 2026\\-11\\-30)" in text
    assert "**FastKernels**: cannot run here" in text and "**Other Kernels**: runs here" in text
    assert "No demo measures it in its place." in text
    assert "Cache Library" not in text  # filed under system.caching, not at this node
    assert any("demo=solvers" in link.query_string for link in _demo_links(at))
