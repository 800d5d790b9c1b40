"""The app works offline: no page asks any host but the app's own for anything.

Starts `diffatlas app` on the small fixture catalog, opens every page in
Debian's headless Chromium and records every request the browser makes (page,
iframes such as the map, favicons, fonts, scripts). Any request to a host other
than 127.0.0.1/localhost fails the test, naming the page and the URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.conftest import FIXTURE_CATALOG, FIXTURE_TAXONOMY, REPO, _require_browser, run_app, wait_for_streamlit

pytestmark = pytest.mark.browser
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension", "file"}
SECOND_VIEWS = {"": ["Treemap"], "map": ["Term co-occurrence map"]}  # url path -> labels to click there


def app_pages() -> list[str]:
    """Every page's url path, the optional ones only when their script is in this checkout."""
    paths = ["", "taxonomy", "papers", "map", "surveys", "validation"]
    views = REPO / "app" / "views"
    paths += [name for name in ("demos", "contribute") if (views / f"{name}.py").is_file()]
    return paths


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return (parts.hostname or "") not in LOCAL_HOSTS


@pytest.fixture(scope="module")
def offline_server():
    _require_browser()
    with run_app(FIXTURE_CATALOG, FIXTURE_TAXONOMY, log_name="offline-app") as server:
        yield server


def test_is_external_tells_local_from_remote():
    assert not is_external("http://127.0.0.1:8501/_stcore/health")
    assert not is_external("http://localhost:8501/static/js/main.js")
    assert not is_external("data:image/png;base64,AAAA")
    assert is_external("https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/hub/default/24px.svg")
    assert is_external("https://cdn.jsdelivr.net/npm/vis-network/standalone/umd/vis-network.min.js")


def test_no_page_requests_another_host(offline_server, page):
    seen: list[tuple[str, str]] = []
    current = {"page": ""}
    page.on("request", lambda request: seen.append((current["page"], request.url)))
    for path in app_pages():
        current["page"] = path or "overview"
        page.goto(f"{offline_server.url}/{path}")
        wait_for_streamlit(page, timeout_ms=180_000)
        page.wait_for_timeout(1500)  # late requests: favicon, lazily loaded fonts and iframes
        for label in SECOND_VIEWS.get(path, ()):  # the page's other view: another chart, another iframe
            page.get_by_text(label, exact=True).click()
            wait_for_streamlit(page, timeout_ms=180_000)
            page.wait_for_timeout(1500)
    assert len(seen) > 10, "the browser recorded almost no request: the listener is not working"
    external = [(where, url) for where, url in seen if is_external(url)]
    assert not external, "requests to other hosts:\n" + "\n".join(f"{where}: {url}" for where, url in external)
