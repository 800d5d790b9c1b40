"""The Demos page in a real browser: from a taxonomy node to a measured result.

Starts `diffatlas app` (results store and cache in a temporary folder), opens
the efficient-sampling > knowledge-distillation node of the shen2025 tree,
follows its demo link, runs the demo's quick configuration with the live
progress bar, and reads the result table, chart and findings. A second test
starts a run and cancels it. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTIFACTS, _require_browser, private_store_env, run_app, wait_for_streamlit

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "browser"
RUN = re.compile(r"^(play_arrow\s*)?Run$")  # Streamlit may expose the icon's ligature in the name
CANCEL = re.compile(r"^(stop\s*)?Cancel$")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    _require_browser()
    folder = tmp_path_factory.mktemp("demo-app")
    with run_app(log_name="demos-app", env=private_store_env(folder)) as server:
        yield server


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_exception(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, \
        tab.locator("[data-testid='stException']").first.inner_text()[:800]
    assert not tab.page_errors, tab.page_errors


def test_taxonomy_node_to_demo_result(demo_server, page):
    page.goto(f"{demo_server.url}/taxonomy?tax=shen2025&node=algorithm.sampling.distillation")
    wait_for_streamlit(page)
    link = page.get_by_role("link", name="Run the Knowledge distillation demo")
    link.wait_for(timeout=30_000)
    link.click()
    page.wait_for_url("**/demos?demo=distillation*", timeout=60_000)
    wait_for_streamlit(page)
    no_exception(page)
    assert "Each round trains a student" in page.locator("[data-testid='stMain']").inner_text()  # preselected
    page.get_by_role("button", name=RUN).click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=60_000)
    shot(page, "demos-running")
    page.get_by_role("heading", name="Result: Progressive distillation").wait_for(timeout=240_000)
    wait_for_streamlit(page)
    no_exception(page)
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "FD floor (real vs real)" in body and "Findings" in body
    assert "student 1" in body or page.locator("[data-testid='stDataFrame']").count() >= 1
    assert "equal-cost baseline" in body
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 1
    assert page.locator("[data-testid='stImage']").count() >= 4  # sample grids
    shot(page, "demos-result")
    # the run is in the results store and listed under past runs
    page.reload()
    wait_for_streamlit(page)
    assert "Past runs" in page.locator("[data-testid='stMain']").inner_text()
    assert page.get_by_text("No runs of this demo recorded yet.").count() == 0


def test_run_can_be_cancelled(demo_server, page):
    page.goto(f"{demo_server.url}/demos?demo=solvers")
    wait_for_streamlit(page)
    page.get_by_role("button", name=RUN).click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=60_000)
    page.get_by_role("button", name=CANCEL).click()
    page.get_by_text("cancelled after").wait_for(timeout=90_000)
    no_exception(page)
    shot(page, "demos-cancelled")
