"""Write a synthetic catalog of N papers, for measuring the app at scale.

    python benchmarks/generate_catalog.py OUT_DIR [--papers 10000] [--seed 0]

Every generated paper is a valid catalog entry built from the real catalog's
material, so the maps see realistic text: a topic is one real paper's
placement (its tags in every taxonomy), the title mixes the title words of
real papers of that topic, the summary joins clauses of their summaries and
the keywords come from theirs (so they stay in catalog/keywords.yaml's
vocabulary, which is copied next to the papers). Same seed, same catalog.

Then: `python app/bench.py --catalog OUT_DIR`.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diffatlas.catalog import load_catalog  # noqa: E402

SYLLABLES = ["dif", "fu", "sol", "ver", "ca", "che", "quan", "ti", "za", "flow", "dis", "til", "lat", "ent",
             "spar", "tok", "mer", "ge", "step", "prune", "con", "sis", "ten", "cy", "fast", "lite"]

FIRST = ["Ada", "Bo", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kira", "Lev"]
LAST = ["Synthetic", "Generated", "Example", "Sample", "Placeholder", "Fixture"]


def topics(papers, taxonomies) -> dict[str, list]:
    """Real research papers placed in (or outside) every taxonomy, grouped by
    their first Shen 2025 node (else their first tag)."""
    groups: dict[str, list] = defaultdict(list)
    for p in papers:
        placed = all(p.tags.get(t) or t in p.outside for t in taxonomies)
        if p.kind == "background" or not p.tags or p.unresolved or not placed:
            continue
        tags = p.tags.get("shen2025") or next(iter(p.tags.values()))
        groups[tags[0]].append(p)
    return dict(groups)


def clauses(text: str) -> list[str]:
    """A summary cut at sentence and clause boundaries."""
    return [c.strip() for c in re.split(r"(?<=[.;:])\s+", text) if len(c.strip()) > 15]


def method_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "".join(rng.sample(SYLLABLES, rng.randint(2, 3))).capitalize()
        if rng.random() < 0.3:
            name += rng.choice(["-XL", "++", "-Lite", "-2", "Net"])
        if name not in taken:
            taken.add(name)
            return name


def synthetic_paper(i: int, group: list, rng: random.Random, taken: set[str]) -> dict:
    """One valid entry mixing two or three real papers of one topic."""
    sources = rng.sample(group, min(len(group), rng.randint(2, 3)))
    template = sources[0]
    name = method_name(rng, taken)
    words = [w for s in sources for w in re.findall(r"[A-Za-z][A-Za-z\-]+", s.title) if len(w) > 3]
    title = f"{name}: " + " ".join(rng.sample(words, min(len(words), rng.randint(4, 8)))).capitalize()
    pieces = [c for s in sources for c in clauses(s.summary)]
    summary = " ".join(rng.sample(pieces, min(len(pieces), rng.randint(2, 4))))
    if len(summary) < 40:
        summary = f"{summary} {template.summary}".strip()
    keywords = sorted({k for s in sources for k in s.keywords})[:6]
    year = rng.randint(2020, 2026)
    return {
        "id": f"synthetic-{i:05d}-{year}", "title": title[:280], "name": name, "year": year,
        "authors": [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(2, 5))],
        "venue": rng.choice(["arXiv", "CVPR", "ICLR", "NeurIPS", "ICML", "ECCV", "AAAI"]),
        "url": f"https://example.org/synthetic/{i:05d}", "kind": "paper",
        "summary": summary[:1900], "keywords": keywords, "tags": {t: list(v) for t, v in template.tags.items()},
        **({"outside": dict(template.outside)} if template.outside else {}),
        "no_reported": "A generated entry for benchmarks: it reports no figure.",
    }


def generate(out: Path, n: int = 10_000, seed: int = 0, catalog_dir: Path = REPO / "catalog",
             taxonomy_dir: Path = REPO / "taxonomy") -> Path:
    """Write n papers into out/papers (replacing any earlier ones) and return out."""
    real = load_catalog(catalog_dir, taxonomy_dir)
    groups = topics(real.papers.values(), real.taxonomies)
    usable = sorted(k for k, v in groups.items() if len(v) >= 2)
    rng = random.Random(seed)
    papers_dir = Path(out) / "papers"
    if papers_dir.exists():
        shutil.rmtree(papers_dir)
    papers_dir.mkdir(parents=True)
    shutil.copy(catalog_dir / "keywords.yaml", Path(out) / "keywords.yaml")
    taken: set[str] = set()
    for i in range(n):
        entry = synthetic_paper(i, groups[rng.choice(usable)], rng, taken)
        text = yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=100)
        (papers_dir / f"{entry['id']}.yaml").write_text(text, encoding="utf-8")
    return Path(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (its papers/ is replaced)")
    parser.add_argument("--papers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(args.out, args.papers, args.seed)
    print(f"wrote {args.papers} papers to {args.out / 'papers'}")


if __name__ == "__main__":
    main()
