"""The app in a real browser: Debian's headless Chromium driven by Playwright.

Starts `diffatlas app` on a free port, opens every page, checks that no page
shows an exception, that the map's canvas actually draws, that a taxonomy
view can be shared by URL, and that planted hostile catalog text stays inert.
Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, metric_value, wait_for_streamlit

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "browser"
PAGES = [("overview", ""), ("taxonomy", "taxonomy"), ("papers", "papers"), ("map", "map"),
         ("surveys", "surveys"), ("validation", "validation")]

# Non-white pixels drawn on the first canvas of a document (the vis-network map).
CANVAS_INK = """() => {
  const canvas = document.querySelector('canvas');
  if (!canvas || !canvas.width) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235)) ink++;
  }
  return ink;
}"""


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def assert_no_exception(tab, where: str) -> None:
    count = tab.locator("[data-testid='stException']").count()
    assert count == 0, f"{where}: {tab.locator('[data-testid=stException]').first.inner_text()[:800]}"
    assert not tab.page_errors, f"{where}: JavaScript errors {tab.page_errors}"


def map_frame(tab, title: str = "Paper similarity map"):
    """The iframe holding the map, once vis-network has drawn it."""
    tab.frame_locator(f"iframe[title='{title}']").locator("body[data-rendered='1']").wait_for(timeout=60_000)
    for frame in tab.frames:
        if frame != tab.main_frame and frame.frame_element().get_attribute("title") == title:
            return frame
    raise AssertionError(f"no iframe titled {title!r}")


def test_every_page_renders_without_exceptions(app_server, page):
    for name, path in PAGES:
        page.goto(f"{app_server.url}/{path}")
        wait_for_streamlit(page)
        assert_no_exception(page, name)
        if name == "map":
            frame = map_frame(page)
            assert frame.evaluate("() => document.querySelector('canvas').width") > 100
            assert frame.evaluate(CANVAS_INK) > 2000, "the map canvas is blank"
            assert frame.evaluate("() => network.body.data.nodes.length") > 0
        page.wait_for_timeout(500)  # let charts finish their entry animation before the screenshot
        shot(page, name)
        if name == "map":
            page.get_by_text("Term co-occurrence map", exact=True).click()
            wait_for_streamlit(page)
            terms = map_frame(page, "Term co-occurrence map")
            assert terms.evaluate(CANVAS_INK) > 2000, "the term map canvas is blank"
            assert_no_exception(page, "term map")
            shot(page, "map-terms")


def test_taxonomy_view_is_shareable_by_url(app_server, page):
    page.goto(f"{app_server.url}/taxonomy?tax=shen2025&node=algorithm.sampling")
    wait_for_streamlit(page)
    assert_no_exception(page, "taxonomy")
    assert page.locator("h2", has_text="Efficient sampling").count() == 1
    page.get_by_role("button", name="Knowledge distillation").click()
    page.wait_for_url("**node=algorithm.sampling.distillation**", timeout=30_000)
    wait_for_streamlit(page)
    assert page.locator("h2", has_text="Knowledge distillation").count() == 1
    shot(page, "taxonomy-shared-url")


def test_map_controls_recluster_in_the_browser(app_server, page):
    page.goto(f"{app_server.url}/map")
    wait_for_streamlit(page)
    map_frame(page)
    before = int(metric_value(page, "Clusters"))
    slider = page.get_by_role("slider").first  # the cluster resolution slider
    slider.focus()
    for _ in range(15):  # 1.0 -> 2.5 in steps of 0.1
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stSliderThumbValue\"]')].some(e => e.innerText.trim() === '2.50')",
        timeout=30_000)
    page.wait_for_timeout(500)
    wait_for_streamlit(page)
    frame = map_frame(page)
    after = int(metric_value(page, "Clusters"))
    assert_no_exception(page, "map after moving the resolution slider")
    assert frame.evaluate(CANVAS_INK) > 2000
    # higher resolution never merges clusters on a real-sized catalog; tiny catalogs may keep the count
    assert after >= before
    shot(page, "map-resolution-2.5")
    # the exports download and parse back
    import io
    import json

    import networkx as nx

    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="GraphML").click()
    graph = nx.read_graphml(io.BytesIO(open(download.value.path(), "rb").read()))
    assert graph.number_of_nodes() == int(metric_value(page, "Papers"))
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="VOSviewer JSON").click()
    items = json.loads(open(download.value.path(), encoding="utf-8").read())["network"]["items"]
    assert len(items) == graph.number_of_nodes()
    assert len({item["cluster"] for item in items}) >= after


def test_planted_entries_stay_inert_in_the_app(bad_app_server, page):
    for name, path in PAGES:
        page.goto(f"{bad_app_server.url}/{path}")
        wait_for_streamlit(page)
        assert_no_exception(page, f"bad catalog, {name}")
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator("a[href^='javascript:' i]").count() == 0
        if name == "overview":
            assert page.get_by_text("6 validation problem(s) in 5 file(s)").count() == 1
            shot(page, "bad-catalog-overview")
        if name == "validation":
            shot(page, "bad-catalog-validation")


def test_map_tooltip_shows_a_hostile_title_as_text(browser, fixture_catalog):
    """vis-network shows string titles with innerText; pyvis's innerHTML popup is never used."""
    from diffatlas import explore, maps
    from tests.test_maps import HOSTILE_TITLE, planted

    papers = explore.research_papers(fixture_catalog) + [planted()]
    net = maps.build_paper_network(papers, k=4, min_similarity=0.02)
    clusters = maps.louvain_clusters(net.graph, 1.0)
    html = maps.render_html(net.graph, clusters, maps.layout(net.graph))
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "hostile-map.html"
    path.write_text(html, encoding="utf-8")

    context = browser.new_context(viewport={"width": 1000, "height": 760})
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    tab.wait_for_selector("body[data-rendered='1']", timeout=30_000)
    point = tab.evaluate("""() => {
        const p = network.canvasToDOM(network.getPosition('planted-2023'));
        const r = document.querySelector('#mynetwork canvas').getBoundingClientRect();
        return {x: r.left + p.x, y: r.top + p.y};
    }""")
    tab.mouse.move(point["x"], point["y"])
    tooltip = tab.locator("div.vis-tooltip")
    tooltip.wait_for(state="visible", timeout=10_000)
    text = tooltip.inner_text()
    assert "<script>window.__pwned = 1</script>" in text  # shown literally
    # innerText turns the line breaks into <br>; nothing else may become an element
    assert tooltip.evaluate("el => [...el.querySelectorAll('*')].map(c => c.tagName)") == ["BR", "BR"]
    tab.mouse.click(point["x"], point["y"])
    info = tab.locator("#info")
    assert HOSTILE_TITLE.split(" href")[0] in info.inner_text()
    assert info.evaluate("el => el.querySelectorAll('*').length") == 0  # textContent: no elements at all
    assert tab.evaluate("() => window.__pwned") is None
    assert tab.locator("img").count() == 0
    # a paper with an http(s) link gets an "open the paper" link, built with DOM calls
    point = tab.evaluate("""() => {
        const p = network.canvasToDOM(network.getPosition('ddim-2021'));
        const r = document.querySelector('#mynetwork canvas').getBoundingClientRect();
        return {x: r.left + p.x, y: r.top + p.y};
    }""")
    tab.mouse.click(point["x"], point["y"])
    assert "Denoising Diffusion Implicit Models" in info.inner_text()
    assert info.locator("a").get_attribute("href") == "https://arxiv.org/abs/2010.02502"
    assert tab.locator("a[href^='javascript:' i]").count() == 0
    assert not errors, errors
    tab.screenshot(path=str(SHOTS / "hostile-tooltip.png"))
    context.close()


def test_clicking_a_row_opens_that_papers_record(bad_app_server, page):
    page.goto(f"{bad_app_server.url}/papers")
    wait_for_streamlit(page)
    headings = page.locator("[data-testid='stMarkdownContainer'] h3")
    assert headings.all_inner_texts()[-1] == "Efficient Diffusion Models: A Survey"  # newest first
    grid = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    # rows: survey 2025, DeepCache 2024, DistriFusion 2024, then the 2023 papers by title
    page.mouse.click(grid["x"] + 12, grid["y"] + 35 + 35 * 3 + 17)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMarkdownContainer\"] h3')]"
        ".some(h => h.innerText.startsWith('A Paper Filed Under'))", timeout=30_000)
    wait_for_streamlit(page)
    assert_no_exception(page, "papers after a row click")
    shot(page, "papers-row-click")


def test_taxonomy_leaf_links_to_its_demo(app_server, page):
    """The explorer's demo link opens the Demos page with ?demo=<id> (when that page exists)."""
    from diffatlas.catalog import load_taxonomies
    from tests.conftest import REPO

    if not (REPO / "app" / "views" / "demos.py").is_file():
        pytest.skip("the Demos page is not in this checkout")
    node = load_taxonomies(REPO / "taxonomy")[0]["shen2025"].index().get("algorithm.sampling.solver")
    if node is None or not node.demo:
        pytest.skip("shen2025:algorithm.sampling.solver has no demo in this checkout")
    page.goto(f"{app_server.url}/taxonomy?tax=shen2025&node=algorithm.sampling.solver")
    wait_for_streamlit(page)
    link = page.locator(f"a[href*='demo={node.demo}']")
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"**/demos?demo={node.demo}", timeout=30_000)
    wait_for_streamlit(page, timeout_ms=180_000)
    assert_no_exception(page, "demos page opened from the taxonomy explorer")
    shot(page, "taxonomy-to-demo")
