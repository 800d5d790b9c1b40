"""Small builders shared by the catalog tests."""

from __future__ import annotations

from pathlib import Path

from diffatlas.yamlio import dump_yaml, ordered_paper_dict

REPO = Path(__file__).resolve().parent.parent
TAXONOMY = REPO / "taxonomy"


def paper(pid: str, title: str, **extra) -> dict:
    data = {
        "id": pid,
        "title": title,
        "year": 2022,
        "venue": "ICLR",
        "url": f"https://example.org/{pid}",
        "summary": "A test paper whose summary is long enough to pass validation.",
        "tags": {"ulhaq2022": ["eps.scheduling"], "shen2025": ["algorithm.sampling.solver"]},
    }
    data.update(extra)
    return data


def write_paper(folder: Path, data: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or data['id']}.yaml"
    path.write_text(dump_yaml(ordered_paper_dict(data)), encoding="utf-8")
    return path


def make_catalog(tmp_path: Path, papers: list[dict]) -> Path:
    root = tmp_path / "catalog"
    for item in papers:
        write_paper(root / "papers", item)
    (root / "papers").mkdir(parents=True, exist_ok=True)
    return root
