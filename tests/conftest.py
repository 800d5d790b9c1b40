"""Shared fixtures: the small test catalog, a catalog with planted bad entries,
AppTest runs of the Streamlit app, and a real `diffatlas app` server for the
browser tests (reusable by any page's browser test: `app_server.url`)."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_CATALOG = FIXTURES / "catalog"
FIXTURE_TAXONOMY = FIXTURES / "taxonomy"
BAD_PAPERS = FIXTURES / "bad_papers"
APP_MAIN = REPO / "app" / "main.py"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


# -- catalogs ------------------------------------------------------------------
@pytest.fixture(scope="session")
def fixture_catalog():
    from diffatlas.catalog import load_catalog

    return load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY)


@pytest.fixture(scope="session")
def bad_catalog_dir(tmp_path_factory) -> Path:
    """The fixture catalog plus planted bad files (<script> title, javascript: links,
    malformed YAML, a stub without summary, an unknown taxonomy node)."""
    folder = tmp_path_factory.mktemp("bad_catalog") / "papers"
    folder.mkdir()
    for source in list(FIXTURE_CATALOG.glob("papers/*.yaml")) + list(BAD_PAPERS.glob("*.yaml")):
        shutil.copy(source, folder / source.name)
    return folder.parent


# -- AppTest ---------------------------------------------------------------------
@pytest.fixture
def make_app(monkeypatch):
    """make_app(catalog_dir=..., taxonomy_dir=...) -> an AppTest of app/main.py (not yet run)."""
    from streamlit.testing.v1 import AppTest

    def factory(catalog_dir: Path = FIXTURE_CATALOG, taxonomy_dir: Path = FIXTURE_TAXONOMY, timeout: float = 90):
        monkeypatch.setenv("DIFFATLAS_CATALOG", str(catalog_dir))
        monkeypatch.setenv("DIFFATLAS_TAXONOMY", str(taxonomy_dir))
        return AppTest.from_file(str(APP_MAIN), default_timeout=timeout)

    return factory


# -- a real server for browser tests ------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen
    log: Path


@contextmanager
def run_app(catalog_dir: Path | None = None, taxonomy_dir: Path | None = None, log_name: str = "app",
            env: dict | None = None):
    """Start `diffatlas app --no-browser` on a free port; stop it (by its pid) afterwards. `env` adds to its environment."""
    port = free_port()
    command = [sys.executable, "-c", "from diffatlas.cli import main; main()",
               "app", "--no-browser", "--port", str(port), "--host", "127.0.0.1"]
    if catalog_dir:
        command += ["--catalog", str(catalog_dir)]
    if taxonomy_dir:
        command += ["--taxonomy", str(taxonomy_dir)]
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{log_name}-server.log"
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
               **(env or {}))
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"diffatlas app exited early; see {log}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"diffatlas app did not come up in 60 s; see {log}")
            time.sleep(0.3)
        yield AppServer(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def private_store_env(folder: Path) -> dict:
    """An app server's own results database and cache in `folder`: a browser test never touches the user's."""
    return {"DIFFATLAS_RESULTS": str(folder / "results.sqlite"), "DIFFATLAS_CACHE": str(folder / "cache")}


@functools.lru_cache(maxsize=1)
def chromium_path() -> str | None:
    """$DIFFATLAS_CHROMIUM, else Debian's /usr/bin/chromium (.ci/run), else the Chromium Playwright's own
    installer put in its cache (`python -m playwright install chromium`, as the hosted pull-request workflow does)."""
    for candidate in (os.environ.get("DIFFATLAS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return _playwright_chromium()


def _playwright_chromium() -> str | None:
    """Where Playwright's installed Chromium is, if it was installed (nothing is downloaded here)."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            path = pw.chromium.executable_path
    except Exception:  # noqa: BLE001 (no playwright, or no driver: no browser)
        return None
    return path if path and Path(path).is_file() else None


def _require_browser():
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("DIFFATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium or Playwright is missing but DIFFATLAS_REQUIRE_BROWSER=1")
        pytest.skip("needs playwright and a Chromium (Debian's /usr/bin/chromium, or `python -m playwright install chromium`)")
    return path


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright: Debian's, or the one Playwright's installer put there (never downloaded here)."""
    path = _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def app_server():
    """`diffatlas app` on the repository's real catalog."""
    _require_browser()
    with run_app(log_name="app") as server:
        yield server


@pytest.fixture(scope="session")
def bad_app_server(bad_catalog_dir):
    """`diffatlas app` on the fixture catalog with planted bad entries."""
    _require_browser()
    with run_app(bad_catalog_dir, FIXTURE_TAXONOMY, log_name="bad-app") as server:
        yield server


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.page_errors = errors  # type: ignore[attr-defined]
    yield tab
    context.close()


def wait_for_streamlit(tab, timeout_ms: int = 90_000) -> None:
    """Until the page has a title, the script run has finished and every plotly chart is drawn."""
    tab.wait_for_selector("[data-testid='stApp'] h1", timeout=timeout_ms)
    tab.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)
    # plotly is lazy-loaded: a skeleton stands in until the chart is drawn
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]') && "
        "[...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))",
        timeout=timeout_ms)


def metric_value(tab, label: str) -> str:
    """The displayed value of the st.metric with this label."""
    card = tab.locator("[data-testid='stMetric']", has=tab.locator("[data-testid='stMetricLabel']", has_text=label))
    return card.locator("[data-testid='stMetricValue']").first.inner_text().strip()
