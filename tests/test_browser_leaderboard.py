"""The Leaderboard page in a real browser: chart and table of every demo's committed runs.

Starts `diffatlas app` on an empty results store in a temporary folder, imports the committed CPU runs
(benchmarks/results/*.json) with the page's own button, and finds the plotly chart (drawn, with one
panel per sample size and the Pareto front in its legend) and the table holding every demo. Screenshots
go to test-artifacts/browser/. No request leaves this machine (the chart is drawn offline).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ARTIFACTS, REPO, _require_browser, private_store_env, run_app, wait_for_streamlit
from tests.test_browser_offline import is_external

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "browser"
COMMITTED = sorted((REPO / "benchmarks" / "results").glob("*.json"))


@pytest.fixture(scope="module")
def leaderboard_server(tmp_path_factory):
    _require_browser()
    folder = tmp_path_factory.mktemp("leaderboard-app")
    with run_app(log_name="leaderboard-app", env=private_store_env(folder)) as server:
        yield server


def no_exception(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, \
        tab.locator("[data-testid='stException']").first.inner_text()[:800]
    assert not tab.page_errors, tab.page_errors


def test_import_then_chart_and_table_of_every_demo(leaderboard_server, page):
    demos = {json.loads(p.read_text())["demo"] for p in COMMITTED}
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{leaderboard_server.url}/leaderboard")
    wait_for_streamlit(page)
    no_exception(page)
    main = page.locator("[data-testid='stMain']")
    assert "diffatlas results import benchmarks/results/" in main.inner_text()
    page.get_by_role("button", name=re.compile(rf"Import the {len(COMMITTED)} committed CPU runs")).click()
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=90_000)
    wait_for_streamlit(page)
    no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "leaderboard.png"), full_page=True)

    chart = page.locator("[data-testid='stPlotlyChart']")
    assert chart.count() == 1 and chart.locator(".main-svg").count() >= 1
    legend = chart.locator(".legend").first.text_content()
    assert "Pareto front" in legend and all(d in legend for d in demos)
    titles = chart.first.text_content()
    assert "500 samples" in titles and "1000 samples" in titles  # one panel per sample size
    assert chart.locator(".scatterlayer path.point").count() > 50  # every entry with a speed-up and a change is drawn

    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for(timeout=30_000)
    # the grid draws on a canvas; its accessible copy holds every cell, scrolled or not (and may come a moment later)
    table.locator("[role='gridcell']").first.wait_for(state="attached", timeout=30_000)
    cells = table.locator("[role='gridcell']").all_inner_texts()
    assert cells and any(d in " ".join(cells) for d in demos), "the entries table shows no demo's row"
    csv = page.get_by_role("button", name=re.compile("CSV of this table"))
    with page.expect_download() as download:
        csv.click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert {line.split(",")[1] for line in text.splitlines()[1:]} == demos  # the table holds every demo's runs
    assert "One run in full" in main.inner_text()
    external = [url for url in requests if is_external(url)]
    assert requests and not external, f"the page asked other hosts (it must work offline): {external}"
