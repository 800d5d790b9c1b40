"""The pull-request workflow checks what the README promises, on the Python versions pyproject.toml claims."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["check"]


def runs(step_words: str) -> str:
    return "\n".join(s.get("run", "") for s in job()["steps"] if step_words in s.get("name", ""))


def test_the_matrix_starts_at_the_oldest_claimed_python():
    claimed = re.search(r'requires-python\s*=\s*">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text()).group(1)
    versions = job()["strategy"]["matrix"]["python-version"]
    assert versions[0] == claimed and "3.11" in versions and len(versions) >= 3
    assert all(isinstance(v, str) for v in versions)  # 3.10 as a YAML number would be 3.1
    assert "matrix.python-version" in str(job()["steps"])


def test_browser_and_bibtex_tests_are_required_and_chromium_comes_from_playwright():
    assert "python -m playwright install --with-deps chromium" in runs("Chromium")
    test_step = next(s for s in job()["steps"] if s.get("name") == "Tests")
    assert test_step["run"].strip() == "python -m pytest"
    assert test_step["env"] == {"DIFFATLAS_REQUIRE_BROWSER": "1", "DIFFATLAS_REQUIRE_BIBTEX": "1"}
    assert 'pip install -e ".[dev]"' in runs("Install (")


def test_the_tests_find_an_explicit_chromium_first(tmp_path, monkeypatch):
    from tests import conftest

    fake = tmp_path / "chrome"
    fake.write_text("")
    monkeypatch.setenv("DIFFATLAS_CHROMIUM", str(fake))
    assert conftest.chromium_path.__wrapped__() == str(fake)
    found = conftest._playwright_chromium()  # Playwright's cache: a real file or nothing, never a download
    assert found is None or Path(found).is_file()
