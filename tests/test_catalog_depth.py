"""Catalog depth (issue 11): method names, placements' origin, 'outside a tree', keywords, citation warnings."""

from __future__ import annotations

from click.testing import CliRunner

from diffatlas import explore
from diffatlas.catalog import load_catalog
from diffatlas.cli import main
from diffatlas.placement import origins, section_node, tag_origin
from tests.conftest import FIXTURE_CATALOG, FIXTURE_TAXONOMY
from tests.helpers import TAXONOMY, make_catalog, paper


def load(tmp_path, papers, keywords: str | None = None):
    root = make_catalog(tmp_path, papers)
    if keywords is not None:
        (root / "keywords.yaml").write_text(keywords, encoding="utf-8")
    return load_catalog(root, TAXONOMY)


def messages(catalog) -> list[str]:
    return [str(p) for p in catalog.problems]


# -- method names ----------------------------------------------------------------------
def test_a_method_name_is_unique_within_a_year(tmp_path):
    catalog = load(tmp_path, [paper("a-2022", "First method paper", name="FastDiff"),
                              paper("b-2022", "Second method paper", name="fastdiff"),
                              paper("c-2023", "Third method paper", name="FastDiff", year=2023)])
    got = messages(catalog)
    assert len(got) == 1 and "b-2022.yaml" in got[0] and "'fastdiff' (2022)" in got[0] and "a-2022" in got[0]


def test_the_name_is_searchable_and_labels_the_paper(tmp_path):
    catalog = load(tmp_path, [paper("a-2022", "Denoising with fewer steps", name="QuickSampler")])
    found = explore.filter_papers(catalog, explore.Filters(query="quicksampler"))
    assert [p.id for p in found] == ["a-2022"]
    assert catalog.get("a-2022").label == "QuickSampler"
    assert explore.papers_frame(found)["name"].tolist() == ["QuickSampler"]


# -- where a placement comes from --------------------------------------------------------
def test_origin_follows_the_surveys_own_filing():
    catalog = load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY)
    ddim = catalog.get("ddim-2021")
    assert tag_origin(ddim, "shen2025", "algorithm.sampling.solver") == "survey"  # "Efficient Sampling > Solver"
    assert tag_origin(ddim, "ulhaq2022", "eps.scheduling") == "survey"  # "EPS > Scheduling"
    assert tag_origin(ddim, "ulhaq2022", "eds.formulation.sde") == "curated"
    assert tag_origin(ddim, "ma2024", "part5.ode_solvers") == "refined"  # Ma files it in "Part 5" only
    assert origins(ddim)["ma2024"] == {"part5.ode_solvers": "refined"}
    rows = explore.tag_rows(catalog, ddim)
    assert set(rows["placed by"]) >= {"filed here by the survey", "placed here by diffatlas (the survey does not file it here)"}


def test_section_headings_map_to_nodes():
    assert section_node("ulhaq2022", "Table II: Efficient process strategies > Noise Ditribution") == "eps.noise_distribution"
    assert section_node("ulhaq2022", "Table III: Efficiency comparison > ImageNet") is None
    assert section_node("shen2025", "Algorithm-Level Optimization > Compression > Pruning") == "algorithm.compression.pruning"
    assert section_node("ma2024", "Part 5: Efficient Sampling and Inference") == "part5"


def test_node_origin_counts_for_the_explorer():
    catalog = load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY)
    got = explore.node_origins(catalog, "shen2025", "algorithm.sampling")
    assert got["ddim-2021"] == "survey"
    assert set(got.values()) <= {"survey", "refined", "curated"}


# -- outside a tree, with a reason ----------------------------------------------------------
REASON = "An application of diffusion to protein design; it proposes no efficiency technique."


def test_outside_a_main_tree_replaces_a_forced_placement(tmp_path):
    item = paper("protein-2023", "Protein pockets by diffusion", tags={"ulhaq2022": ["eps.training"]},
                 outside={"shen2025": REASON})
    catalog = load(tmp_path, [item])
    assert not catalog.problems, messages(catalog)
    assert [p.id for p in explore.outside_papers(catalog, "shen2025")] == ["protein-2023"]
    assert "(outside this tree)" in set(explore.tag_rows(catalog, catalog.get("protein-2023"))["node"])


def test_neither_placed_nor_outside_is_refused_with_both_fixes(tmp_path):
    catalog = load(tmp_path, [paper("p-2023", "Unplaced paper title", tags={"ulhaq2022": ["eps.training"]})])
    got = messages(catalog)
    assert len(got) == 1 and "tags.shen2025" in got[0] and "outside" in got[0]


def test_placed_and_outside_at_once_or_too_short_a_reason_is_refused(tmp_path):
    both = paper("p-2023", "Placed and outside", outside={"shen2025": REASON})
    short = paper("q-2023", "A short reason", tags={"ulhaq2022": ["eps.training"]}, outside={"shen2025": "no fit"})
    catalog = load(tmp_path, [both, short])
    got = "\n".join(messages(catalog))
    assert "both placed in shen2025" in got and "q-2023.yaml" in got and "at least 20 characters" in got


# -- controlled keywords ------------------------------------------------------------------
VOCABULARY = """keywords:
- term: ode solver
  description: Numerical solvers of the probability-flow ODE.
- term: quantization
  description: Fewer bits for weights or activations.
"""


def test_keywords_come_from_the_vocabulary(tmp_path):
    catalog = load(tmp_path, [paper("a-2022", "Solver paper title", keywords=["ode solver"]),
                              paper("b-2022", "Other paper title", keywords=["ode-solvers", "quantization"])],
                   keywords=VOCABULARY)
    got = messages(catalog)
    assert len(got) == 1 and "b-2022.yaml" in got[0] and "keywords[0]" in got[0] and "did you mean ode solver" in got[0]
    assert catalog.keywords["quantization"].startswith("Fewer bits")
    found = explore.filter_papers(catalog, explore.Filters(keywords=["ode solver"]))
    assert [p.id for p in found] == ["a-2022"]


def test_a_broken_vocabulary_file_is_a_problem_not_a_crash(tmp_path):
    catalog = load(tmp_path, [paper("a-2022", "Solver paper title")], keywords="keywords:\n- term: X Bad\n")
    got = "\n".join(messages(catalog))
    assert "keywords.yaml" in got and "term" in got


# -- citation completeness: warned, never failed ----------------------------------------------
def test_missing_authors_is_a_warning_that_validate_counts_and_lists(tmp_path):
    root = make_catalog(tmp_path, [paper("a-2022", "A paper with no authors")])
    res = CliRunner().invoke(main, ["validate", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert res.exit_code == 0, res.output
    assert "1 warning(s) in 1 file(s)" in res.output and "OK: catalog is valid" in res.output
    res = CliRunner().invoke(main, ["validate", "--warnings", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert "a-2022.yaml: warning: field 'authors'" in res.output
    frame = explore.papers_frame(load_catalog(root, TAXONOMY).papers.values())
    assert frame["incomplete"].tolist() == ["no authors"]


def test_stats_reports_field_coverage(tmp_path):
    root = make_catalog(tmp_path, [paper("a-2022", "First paper title", authors=["Ada Lovelace"], name="AdaNet"),
                                   paper("b-2022", "Second paper title")])
    res = CliRunner().invoke(main, ["stats", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert res.exit_code == 0, res.output
    assert "authors      1/2   50.0%" in res.output and "name         1/2   50.0%" in res.output
    assert "reported     0/2    0.0%" in res.output


def test_demo_papers_without_figures_are_named_with_the_reason(tmp_path):
    catalog = load(tmp_path, [paper("a-2022", "A paper with figures", reported=[
        {"metric": "FID", "value": 3.1, "steps": 10, "baseline": "DDIM: 9.0", "speedup": 2, "source": "paper",
         "where": "abstract"}]),
        paper("b-2022", "A theory paper", no_reported="A theory paper: it states no benchmark figure."),
        paper("c-2022", "Not curated yet")])
    rows = explore.reported_figures(catalog, ["a-2022", "b-2022", "c-2022", "zz"])
    assert len(rows) == 1 and rows[0]["baseline"] == "DDIM: 9.0" and rows[0]["speed-up"] == "2x"
    assert explore.papers_without_reported(catalog, ["a-2022", "b-2022", "c-2022", "zz"]) == [
        ("b-2022", "A theory paper: it states no benchmark figure."),
        ("c-2022", "no figure recorded yet; none was curated"), ("zz", "not in this catalog")]


def test_ulhaq_tables_rows_carry_the_method_name():
    catalog = load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY)
    frame = explore.survey_table_rows(catalog, "ulhaq2022", prefix="EPS")
    assert "ddim-2021" in set(frame["id"])
    assert list(frame.columns) == ["table", "group", "ref", "method", "as named", "title", "year", "id", "figures"]


def test_map_labels_use_the_method_name(tmp_path):
    from diffatlas import maps

    papers = [paper(f"p{i}-2022", f"Fast sampling of diffusion models with solver number {i}",
                    name=f"Solver{i}", summary="Fast ODE solver sampling for diffusion models with few steps and high quality.")
              for i in range(4)]
    catalog = load(tmp_path, papers)
    graph = maps.build_paper_network(catalog.papers.values(), k=2, min_similarity=0.0).graph
    html = maps.render_html(graph, {n: 0 for n in graph}, {n: (0.0, 0.0) for n in graph})
    assert '"label": "Solver1"' in html
