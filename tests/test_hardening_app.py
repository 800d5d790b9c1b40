"""The app's cheap change check never blocks or follows a link (issue 13, item 3)."""

from __future__ import annotations

import os
import shutil
import sys
import threading

import pytest

from diffatlas.explore import catalog_fingerprint
from tests.conftest import FIXTURE_CATALOG, FIXTURE_TAXONOMY


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs on Windows")
def test_fingerprint_skips_a_fifo_and_a_symlink(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(FIXTURE_CATALOG, catalog)
    before = catalog_fingerprint(catalog, FIXTURE_TAXONOMY)
    os.mkfifo(catalog / "papers" / "pipe.yaml")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the catalog")
    (catalog / "papers" / "link.yaml").symlink_to(secret)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("value", catalog_fingerprint(catalog, FIXTURE_TAXONOMY)),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert "value" in result, "catalog_fingerprint blocked on a FIFO"
    assert result["value"] != before  # the new names still count as a change
    secret.write_text("changed outside the catalog")
    assert catalog_fingerprint(catalog, FIXTURE_TAXONOMY) == result["value"]  # the link's target is never read


def test_fingerprint_follows_the_keyword_vocabulary(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(FIXTURE_CATALOG, catalog)
    before = catalog_fingerprint(catalog, FIXTURE_TAXONOMY)
    (catalog / "keywords.yaml").write_text("keywords: []\n")
    assert catalog_fingerprint(catalog, FIXTURE_TAXONOMY) != before
