"""No YAML tag in a catalog file can construct a Python object."""

from __future__ import annotations

import pytest

from diffatlas.catalog import load_catalog
from diffatlas.yamlio import YamlError, load_yaml_text

from .helpers import TAXONOMY

DANGEROUS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/object/new:builtins.list [[1]]",
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("payload", DANGEROUS)
def test_python_tags_are_refused(payload, tmp_path):
    with pytest.raises(YamlError):
        load_yaml_text(f"id: evil\ntitle: {payload}\n")
    folder = tmp_path / "catalog" / "papers"
    folder.mkdir(parents=True)
    (folder / "evil.yaml").write_text(f"id: evil\ntitle: {payload}\n")
    catalog = load_catalog(tmp_path / "catalog", TAXONOMY)
    assert len(catalog) == 0
    assert "malformed YAML" in catalog.problems[0].message


def test_plain_yaml_still_loads():
    assert load_yaml_text("a: 1\nb: [x, y]\n") == {"a": 1, "b": ["x", "y"]}
