"""The Streamlit app, run headless with AppTest: every page, real content checks.

Content checks use the small fixture catalog (tests/fixtures/catalog) so they
do not depend on the curated catalog; one smoke test runs every page on the
repository's real catalog without assuming what it holds.
"""

from __future__ import annotations

import subprocess
import sys

import bibtexparser
import pytest

from tests.conftest import APP_MAIN, BAD_PAPERS, FIXTURE_TAXONOMY, REPO

PAGES = ["views/overview.py", "views/taxonomy.py", "views/papers.py", "views/map.py", "views/surveys.py",
         "views/validation.py"]


def walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from walk(child)


def elements(at, kind: str):
    return [e for e in walk(at._tree) if getattr(e, "type", None) == kind]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def page_text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.value for h in at.header]
    parts += [h.value for h in at.subheader] + [t.value for t in at.title]
    return "\n".join(parts)


def no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def open_page(make_app, page: str, **kwargs):
    at = make_app(**kwargs)
    at.run()
    if page != "views/overview.py":
        at.switch_page(page).run()
    return at


# -- every page ---------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_fixture_catalog(make_app, page):
    at = open_page(make_app, page)
    no_exceptions(at)
    assert at.title, f"{page} shows no title"


def test_every_page_runs_on_the_real_catalog(make_app):
    """Smoke test: the committed catalog, whatever it holds today."""
    at = make_app(REPO / "catalog", REPO / "taxonomy", timeout=180)
    at.run()
    no_exceptions(at)
    assert int(metrics(at)["Papers"]) >= 0
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exceptions(at)
        assert at.title


# -- overview -----------------------------------------------------------------------
def test_overview_counts(make_app):
    at = open_page(make_app, "views/overview.py")
    got = metrics(at)
    # 12 fixture entries: 10 papers + 1 survey count as papers; 1 background is not counted
    assert got["Papers"] == "11"
    assert got["Venues"] == "7"
    assert got["Years"] == "2021\u201325"
    assert got["Surveys"] == "3"
    assert got["Taxonomy nodes"] == "70"
    assert got["Demos"] == "1"  # the fixture taxonomy links algorithm.sampling.solver to demo 'solvers'
    assert len(elements(at, "plotly_chart")) == 3  # tree, survey overlap, timeline
    assert not at.warning  # a valid catalog shows no problem banner


# -- taxonomy explorer ----------------------------------------------------------------
def test_taxonomy_node_from_url_shows_papers_crosswalk_and_demo(make_app):
    at = make_app()
    at.query_params["tax"] = "shen2025"
    at.query_params["node"] = "algorithm.sampling.solver"
    at.run()
    at.switch_page("views/taxonomy.py").run()
    no_exceptions(at)
    assert [h.value for h in at.header] == ["Solver"]
    papers = at.dataframe[0].value
    assert set(papers["id"]) == {"ddim-2021", "dpm-solver-2022", "dpm-solver-pp-2022"}
    assert papers["paper"].str.startswith("https://").all()
    cross = at.dataframe[1].value
    ma = cross[cross["taxonomy"] == "Ma 2024"].set_index("node")["papers"].to_dict()
    assert ma == {"part5.ode_solvers": 3}
    # the leaf's demo: a page link with ?demo=solvers when the Demos page exists, else a note naming it
    links = [e for e in elements(at, "page_link") if "demo" in e.proto.query_string or "solvers" in e.proto.label]
    assert links or "demo `solvers`" in page_text(at)
    if links:
        assert "demo=solvers" in links[0].proto.query_string


def test_taxonomy_selection_goes_into_the_url_and_no_demo_reason_shows(make_app):
    at = open_page(make_app, "views/taxonomy.py")
    at.segmented_control(key="explorer_tax").set_value("shen2025").run()
    at.selectbox(key="explorer_node_shen2025").set_value("system.parallel").run()
    no_exceptions(at)
    assert at.query_params["tax"] == "shen2025" and at.query_params["node"] == "system.parallel"
    assert "Needs several GPUs to show a speed\\-up\\." in page_text(at)
    assert set(at.dataframe[0].value["id"]) == {"distrifusion-2024"}
    # a node without demo or reason says so
    at.selectbox(key="explorer_node_shen2025").set_value("algorithm.compression.pruning").run()
    assert "no reference implementation yet" in page_text(at)


def test_taxonomy_child_button_drills_down(make_app):
    at = make_app()
    at.query_params["tax"] = "shen2025"
    at.query_params["node"] = "algorithm.sampling"
    at.run()
    at.switch_page("views/taxonomy.py").run()
    at.button(key="child_shen2025_algorithm.sampling.distillation").click().run()
    no_exceptions(at)
    assert [h.value for h in at.header] == ["Knowledge distillation"]
    assert at.query_params["node"] == "algorithm.sampling.distillation"
    assert set(at.dataframe[0].value["id"]) == {"progressive-distillation-2022", "consistency-models-2023"}


# -- papers ---------------------------------------------------------------------------
def test_search_finds_a_known_paper(make_app):
    at = open_page(make_app, "views/papers.py")
    at.text_input(key="papers_query").set_value("implicit").run()
    no_exceptions(at)
    assert list(at.dataframe[0].value["id"]) == ["ddim-2021"]
    assert at.selectbox(key="papers_detail").value == "ddim-2021"
    text = page_text(at)
    assert "Denoising Diffusion Implicit Models" in text
    assert "Jiaming Song, Chenlin Meng, Stefano Ermon" in text
    # provenance and reported figures of the detail view
    frames = [df.value for df in at.dataframe]
    assert any("FID" in set(f.get("metric", [])) for f in frames)
    assert any("EPS > Scheduling" in set(f.get("section", [])) for f in frames)
    record = at.json[0].value  # every field of the catalog entry
    assert '"arxiv": "2010.02502"' in record and '"ma2024"' in record


def test_bibtex_of_a_filtered_selection_parses_back(make_app):
    at = open_page(make_app, "views/papers.py")
    at.multiselect(key="papers_nodes").set_value(["shen2025:algorithm.sampling"]).run()
    at.slider(key="papers_years").set_value((2022, 2023)).run()
    at.toggle(key="papers_show_bib").set_value(True).run()
    no_exceptions(at)
    expected = {"dpm-solver-2022", "dpm-solver-pp-2022", "progressive-distillation-2022", "consistency-models-2023"}
    assert set(at.dataframe[0].value["id"]) == expected
    bib = [c.value for c in at.code if c.value.lstrip().startswith("@")][0]
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks
    assert {e.key for e in library.entries} == expected
    titles = {e.key: e.fields_dict["title"].value for e in library.entries}
    assert "Consistency Models" in titles["consistency-models-2023"]
    assert at.download_button(key="papers_bib").label.startswith("BibTeX")
    # the selection is handed to the map page
    assert set(at.session_state["papers_selection"]["ids"]) == expected


def test_background_hidden_by_default_and_filters(make_app):
    at = open_page(make_app, "views/papers.py")
    assert "bert-2019" not in set(at.dataframe[0].value["id"])
    at.multiselect(key="papers_kinds").set_value(["background"]).run()
    assert list(at.dataframe[0].value["id"]) == ["bert-2019"]
    at.multiselect(key="papers_kinds").set_value(["paper", "framework", "survey"]).run()
    at.checkbox(key="papers_code").check().run()
    at.multiselect(key="papers_surveys").set_value(["ulhaq2022"]).run()
    assert set(at.dataframe[0].value["id"]) == {"ddim-2021", "latent-diffusion-2022"}
    at.multiselect(key="papers_venues").set_value(["CVPR"]).run()
    assert list(at.dataframe[0].value["id"]) == ["latent-diffusion-2022"]
    no_exceptions(at)


# -- map ----------------------------------------------------------------------------------
def test_map_cluster_count_changes_with_resolution(make_app):
    at = open_page(make_app, "views/map.py")
    at.slider(key="map_min_sim").set_value(0.02).run()
    counts = {}
    for resolution in (0.2, 1.0, 2.0):
        at.slider(key="map_resolution").set_value(resolution).run()
        no_exceptions(at)
        counts[resolution] = int(metrics(at)["Clusters"])
    assert counts[0.2] < counts[2.0], counts
    assert metrics(at)["Papers"] == "11"
    iframes = elements(at, "iframe")
    assert len(iframes) == 1  # one view at a time
    html = iframes[0].proto.srcdoc
    assert "new vis.Network" in html
    assert "<script src" not in html and "<link" not in html  # everything inline: works offline
    clusters = at.dataframe[0].value
    assert clusters["papers"].sum() == 11
    agreement = at.dataframe[1].value
    assert set(agreement["taxonomy"]) == {"Ulhaq 2022", "Shen 2025", "Ma 2024"}
    assert agreement["NMI"].between(0, 1).all()


def test_term_map_view(make_app):
    at = open_page(make_app, "views/map.py")
    at.segmented_control(key="map_view").set_value("terms").run()
    no_exceptions(at)
    assert len(elements(at, "iframe")) == 1
    terms = at.dataframe[0].value
    assert terms["terms"].sum() > 0
    assert "ode" in " ".join(terms["top terms"])
    assert at.download_button(key="terms_vos").label.startswith("VOSviewer")


def test_map_restricted_to_the_papers_selection(make_app):
    at = open_page(make_app, "views/papers.py")
    at.text_input(key="papers_query").set_value("solver").run()
    selected = set(at.dataframe[0].value["id"])
    assert selected == {"dpm-solver-2022", "dpm-solver-pp-2022"}
    at.switch_page("views/map.py").run()
    at.toggle(key="map_restrict").set_value(True).run()
    no_exceptions(at)
    assert metrics(at)["Papers"] == "2"


# -- an invalid catalog ---------------------------------------------------------------------
def test_invalid_catalog_shows_problems_and_the_valid_part(make_app, bad_catalog_dir):
    at = make_app(bad_catalog_dir, FIXTURE_TAXONOMY)
    at.run()
    no_exceptions(at)
    assert "6 validation problem(s) in 5 file(s)" in at.warning[0].value
    assert metrics(at)["Papers"] == "12"  # 11 valid fixture papers + the one with an unknown node
    at.switch_page("views/validation.py").run()
    no_exceptions(at)
    problems = at.dataframe[0].value
    assert len(problems) == 6
    assert set(problems["file"]) == {"script-title-2023.yaml", "javascript-url-2023.yaml", "malformed-2023.yaml",
                                     "missing-summary-2023.yaml", "unknown-node-2023.yaml"}
    assert "javascript:alert(1)" in " ".join(problems["problem"])  # shown as text in a table
    for page in PAGES:
        at.switch_page(page).run()
        no_exceptions(at)
        # nothing from the planted entries reaches Markdown unescaped
        assert "<script" not in page_text(at).lower()
        assert "](javascript:" not in page_text(at).lower()


@pytest.mark.parametrize("layout", ["empty folder", "missing folder", "only bad files"])
def test_a_catalog_with_nothing_valid_still_renders(make_app, tmp_path, layout):
    import shutil

    catalog = tmp_path / "catalog"
    if layout != "missing folder":
        (catalog / "papers").mkdir(parents=True)
    if layout == "only bad files":
        for path in BAD_PAPERS.glob("*.yaml"):
            if path.stem != "unknown-node-2023":
                shutil.copy(path, catalog / "papers" / path.name)
    at = make_app(catalog, FIXTURE_TAXONOMY)
    at.run()
    no_exceptions(at)
    assert metrics(at)["Papers"] == "0"
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exceptions(at)
    if layout != "empty folder":
        assert at.dataframe[0].value.shape[0] >= 1  # the catalog check lists what is wrong


def test_unknown_node_paper_is_browsable(make_app, bad_catalog_dir):
    at = open_page(make_app, "views/papers.py", catalog_dir=bad_catalog_dir, taxonomy_dir=FIXTURE_TAXONOMY)
    at.text_input(key="papers_query").set_value("does not exist").run()
    no_exceptions(at)
    assert list(at.dataframe[0].value["id"]) == ["unknown-node-2023"]
    assert "(unknown node)" in set(at.dataframe[1].value["name"])


# -- the cache follows the catalog's content -----------------------------------------------------
def test_an_edited_catalog_shows_up_on_the_next_run(make_app, tmp_path):
    import shutil

    from tests.conftest import FIXTURE_CATALOG

    catalog = tmp_path / "catalog"
    shutil.copytree(FIXTURE_CATALOG, catalog)
    at = make_app(catalog, FIXTURE_TAXONOMY)
    at.run()
    assert metrics(at)["Papers"] == "11"
    ddim = (catalog / "papers" / "ddim-2021.yaml").read_text()
    (catalog / "papers" / "ddim-copy-2021.yaml").write_text(
        ddim.replace("id: ddim-2021", "id: ddim-copy-2021").replace("Denoising Diffusion Implicit Models", "A Copy")
        .replace("arxiv: '2010.02502'", "arxiv: '2010.02503'"))
    at.run()
    no_exceptions(at)
    assert metrics(at)["Papers"] == "12"


def test_app_command_line():
    from click.testing import CliRunner

    from diffatlas.cli import main
    from diffatlas.cli.app_cmd import APP_MAIN, streamlit_command

    result = CliRunner().invoke(main, ["app", "--help"])
    assert result.exit_code == 0 and "--catalog" in result.output and "--port" in result.output
    command = streamlit_command(8765, "127.0.0.1", open_browser=False)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == str(APP_MAIN)
    assert ["--server.port", "8765"] == command[5:7] and "--server.headless" in command


# -- no torch outside the Demos page ----------------------------------------------------------
def test_pages_do_not_import_torch():
    script = f"""
import os, sys
os.environ["DIFFATLAS_CATALOG"] = {str(REPO / 'tests' / 'fixtures' / 'catalog')!r}
os.environ["DIFFATLAS_TAXONOMY"] = {str(FIXTURE_TAXONOMY)!r}
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP_MAIN)!r}, default_timeout=120)
at.run()
for page in {PAGES[1:]!r}:
    at.switch_page(page).run()
    assert not at.exception, page
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_taxonomy_node_name_is_escaped_not_rendered_as_markdown(make_app, tmp_path):
    """A node name is catalog text: Markdown in it shows literally (issue 13, item 13)."""
    import shutil

    tax_dir = tmp_path / "taxonomy"
    shutil.copytree(FIXTURE_TAXONOMY, tax_dir)
    path = tax_dir / "shen2025.yaml"
    payload = "Solver **bold** [link](https://evil.example) _x_"
    path.write_text(path.read_text().replace("name: Solver", f"name: '{payload}'"))
    at = make_app(taxonomy_dir=tax_dir)
    at.query_params["tax"] = "shen2025"
    at.query_params["node"] = "algorithm.sampling.solver"
    at.run()
    at.switch_page("views/taxonomy.py").run()
    no_exceptions(at)
    header = at.header[0].value
    assert "\\*\\*bold\\*\\*" in header and "\\[link\\]" in header, header


# -- issue 12: ranked search, shareable filters, colours, URL checks -------------------------------
def _variant(paper, **update):
    return paper.model_copy(update=update)


def test_search_ranks_whole_words_in_name_and_title_first(fixture_catalog):
    from diffatlas import explore

    base = fixture_catalog.papers["q-diffusion-2023"]
    qdiff = _variant(base, id="q", name="Q-Diffusion", title="Q-Diffusion: Quantizing Diffusion Models",
                     keywords=["quantization"], summary="Post-training quantization of the noise estimation network.")
    ptqd = _variant(base, id="ptqd", name="PTQD", title="PTQD: Accurate Post-Training Quantization for Diffusion Models",
                    keywords=["quantization"], summary="Corrects the quantization noise.", year=2023)
    deq = _variant(base, id="deq", name=None, title="A Dequantization Trick for Discrete Data", keywords=["discrete"],
                   summary="Dequantization turns discrete pixels into continuous ones.", year=2024)
    vq = _variant(base, id="vq", name=None, title="Taming Transformers for High-Resolution Image Synthesis",
                  keywords=["vector quantization"], summary="A codebook learned by vector quantization.", year=2024)
    words = explore.query_words("quantization")
    scores = {p.id: explore.relevance(p, words) for p in (qdiff, ptqd, deq, vq)}
    assert min(scores["q"], scores["ptqd"]) > max(scores["deq"], scores["vq"]) > 0, scores
    assert explore.relevance(deq, explore.query_words("quantization nowhere-to-be-found")) == 0
    # every word must match; ties go newest first
    ranked = explore.search_papers(fixture_catalog, explore.Filters(query="solver"))
    assert [p.id for p, _ in ranked] == ["dpm-solver-pp-2022", "dpm-solver-2022"]  # same score and year: by title


def test_quantization_ranks_the_quantization_papers_first_in_the_committed_catalog():
    """The issue's example on the real catalog: Q-Diffusion and PTQD above the vector quantization papers."""
    from diffatlas import explore
    from diffatlas.catalog import load_catalog

    catalog = load_catalog(REPO / "catalog", REPO / "taxonomy")
    wanted = ["q-diffusion-2023", "ptqd-2023", "vector-quantized-diffusion-model-2022"]
    if not all(w in catalog.papers for w in wanted):
        pytest.skip("the committed catalog no longer holds these papers")
    ranked = [p.id for p in explore.filter_papers(catalog, explore.Filters(query="quantization", kinds=[]))]
    vector = [p.id for p in catalog.papers.values() if "vector quantization" in p.keywords and p.id in ranked]
    assert max(ranked.index("q-diffusion-2023"), ranked.index("ptqd-2023")) < min(ranked.index(v) for v in vector)


def test_highlight_marks_matches_and_escapes_everything():
    from diffatlas import explore

    spans = explore.highlight_spans("Q-Diffusion: Quantizing <b>models</b> & dequantization", ["quantization"])
    assert [piece for piece, hit in spans if hit] == ["Quantizing", "quantization"]
    assert "".join(piece for piece, _ in spans) == "Q-Diffusion: Quantizing <b>models</b> & dequantization"
    html = explore.highlight_html("Q-Diffusion: Quantizing <b>models</b> & dequantization", ["quantization"])
    assert "<b>" not in html and "&lt;b&gt;models&lt;/b&gt; &amp; de<mark>quantization</mark>" in html


def test_papers_search_is_ranked_marked_and_goes_into_the_url(make_app):
    at = open_page(make_app, "views/papers.py")
    at.text_input(key="papers_query").set_value("solver").run()
    no_exceptions(at)
    table = at.dataframe[0].value
    assert list(table["relevance"]) == sorted(table["relevance"], reverse=True)
    assert set(table["id"]) == {"dpm-solver-2022", "dpm-solver-pp-2022"}
    assert not table.isna().any().any() and "None" not in set(table["code"])  # no 'None' in a link column
    body = at.get("html")[0].proto.body
    assert "<mark>Solver</mark>" in body and 'href="?query=solver&amp;paper=dpm-solver' in body
    at.multiselect(key="papers_venues").set_value(["arXiv"]).run()
    at.checkbox(key="papers_code").check().run()
    url = {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}
    assert url["query"] == ["solver"] and url["venues"] == ["arXiv"]
    assert url["code"] == ["1"] and "kinds" not in url and "years" not in url  # defaults stay out of the URL


def test_a_shared_papers_url_restores_filters_and_opens_the_record(make_app):
    at = make_app()
    at.query_params.update({"query": "solver", "nodes": "shen2025:algorithm.sampling", "paper": "dpm-solver-2022",
                            "years": "2020-2024"})
    at.run()
    at.switch_page("views/papers.py").run()
    no_exceptions(at)
    assert at.text_input(key="papers_query").value == "solver"
    assert at.multiselect(key="papers_nodes").value == ["shen2025:algorithm.sampling"]
    assert at.selectbox(key="papers_detail").value == "dpm-solver-2022"
    assert "Fast ODE Solver" in page_text(at)
    assert at.slider(key="papers_years").value == (2020, 2024)
    labels = at.multiselect(key="papers_nodes").options
    assert "Shen 2025 > Algorithm-level optimization > Efficient sampling > Solver" in labels
    # a background paper opens from the URL although the default kinds hide it
    at = make_app()
    at.query_params["paper"] = "bert-2019"
    at.run()
    at.switch_page("views/papers.py").run()
    assert at.selectbox(key="papers_detail").value == "bert-2019"


def test_unknown_values_and_parameters_in_the_url_are_named(make_app):
    at = make_app()
    at.query_params.update({"paper": "no-such-paper", "venues": "Nowhere", "colour": "red"})
    at.run()
    at.switch_page("views/papers.py").run()
    no_exceptions(at)
    warning = " ".join(w.value for w in at.warning)
    assert "paper=no-such-paper" in warning and "venues=Nowhere" in warning
    assert any("ignores the URL parameter `colour`" in c.value for c in at.caption)
    at = make_app()
    at.query_params.update({"tax": "shen2025", "node": "algorithm.nope"})
    at.run()
    at.switch_page("views/taxonomy.py").run()
    assert any("algorithm.nope" in w.value for w in at.warning)
    assert not any("ignores the URL" in c.value for c in at.caption)
    at = make_app()
    at.query_params["tax"] = "nosuchtree"
    at.run()
    at.switch_page("views/taxonomy.py").run()
    assert any("nosuchtree" in w.value for w in at.warning)


def test_an_inner_node_does_not_offer_a_childs_demo_as_its_own(make_app):
    at = make_app()
    at.query_params.update({"tax": "shen2025", "node": "algorithm"})
    at.run()
    at.switch_page("views/taxonomy.py").run()
    no_exceptions(at)
    labels = [e.proto.label for e in elements(at, "page_link")] + [page_text(at)]
    assert not any("Run the Solver demo" in label for label in labels)
    assert any("of the node Solver, below this one" in label for label in labels)


def test_every_chart_of_a_taxonomy_colours_a_category_alike(make_app):
    import json

    at = make_app()
    at.run()
    no_exceptions(at)
    charts = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    tree = next(s for s in charts.values() if s["data"][0]["type"] in ("sunburst", "treemap"))["data"][0]
    bars = next(s for s in charts.values() if s["data"][0]["type"] == "bar" and len(s["data"]) > 1)["data"]
    by_id = dict(zip(tree["ids"], tree["marker"]["colors"]))
    timeline = {t["name"]: t["marker"]["color"] for t in bars}
    assert timeline["Efficient Design Strategies (EDS)"] == by_id["eds"] == by_id["eds.guidance"]
    assert timeline["Efficient Process Strategies (EPS)"] == by_id["eps"] != by_id["eds"]
