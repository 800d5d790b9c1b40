"""Run every demo in its full configuration and write a Markdown report.

    python benchmarks/run_all.py                       # every demo, full config, report to benchmarks/report-<device>.md
    python benchmarks/run_all.py --demos solvers       # a subset (results of earlier runs are kept)
    python benchmarks/run_all.py --report-only         # rebuild the report from benchmarks/results/*.json
    python benchmarks/run_all.py --quick               # quick configs (a smoke test of the script)

Each demo's result is written to benchmarks/results/<device>-<demo>.json as it
finishes, so demos can run in separate processes and the report assembles
whatever is there. Runs are also recorded in the results store. This is a
script, not a test: on a 2-core CPU the full set takes about an hour.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diffatlas.results import _clean, table  # noqa: E402

HERE = Path(__file__).resolve().parent
COLUMNS = ["method", "role", "nfe", "spacing", "wall_s", "wall_s_min", "wall_s_max", "speedup", "overhead_share",
           "fd", "fd_std", "fd_ratio", "confidence", "coverage", "peak_mem_mb"]


def md_table(rows: list[dict], columns: list[str]) -> str:
    cols = [c for c in columns if any(c in r for r in rows)]
    text = table(rows, cols).splitlines()
    header, _, body = text[0], text[1], text[2:]

    def cells(line: str, widths: list[int]) -> list[str]:
        out, pos = [], 0
        for w in widths:
            out.append(line[pos:pos + w].strip())
            pos += w + 2
        return out

    widths = [len(s) for s in text[1].split("  ")]
    lines = ["| " + " | ".join(cells(header, widths)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cells(line, widths)) + " |" for line in body]
    return "\n".join(lines)


def render(results: list[dict], device_label: str) -> str:
    from diffatlas.catalog import load_catalog
    from diffatlas.results import reported_figures

    catalog = load_catalog()
    first = results[0]
    out = [f"# diffatlas benchmark: every demo, {first['mode']} configuration, {device_label}", "",
           "Produced by `python benchmarks/run_all.py` (see its docstring). Timing is the median over the noise "
           "seeds (each seed is a timing repeat); this machine is shared, so wall times are noisy (about 13 % "
           "spread between identical runs): read ratios measured within one run, not absolute times. FD-digits is "
           "the Fréchet distance in the feature space of the project's digits classifier, mean over seeds with "
           "the seed-to-seed standard deviation; differences smaller than that spread are not results.", "",
           "## Machine and versions", "",
           f"- device: {first['device']}",
           f"- {', '.join(f'{k} {v}' for k, v in first['versions'].items())}",
           f"- git revision at run time: {first.get('git') or '?'}",
           f"- digits classifier held-out accuracy: {first['classifier_accuracy']:.4f}",
           f"- substrate model: {first['model']['parameters']:,} parameters, weights {first['model']['source']} "
           f"(key {first['model']['key']})", ""]
    for r in results:
        a = r["anchors"]
        out += [f"## {r['title']}", "",
                f"Demo `{r['demo']}`, run {r['created']}, {r['duration_s'] / 60:.1f} min. Parameters: "
                + ", ".join(f"`{k}={','.join(map(str, v)) if isinstance(v, list) else v}`" for k, v in r["params"].items()),
                "",
                f"FD anchors at {a.get('floor_samples')} real samples: real-vs-real floor **{a['fd_floor']:.1f}**, "
                f"noise ceiling **{a['fd_ceiling']:.0f}**. Full-cost baseline: **{r['baseline']}**; equal-cost "
                f"baseline: {r['equal_cost']}.", "",
                md_table(r["rows"], COLUMNS), ""]
        for name, rows in (r.get("tables") or {}).items():
            out += [f"**{name}**", "", md_table(rows, list(rows[0].keys())) if rows else "(none)", ""]
        out += ["Findings:", ""] + [f"- {n}" for n in r["notes"]] + [""]
        rep = reported_figures(catalog, r["papers"])
        if rep:
            out += ["What the catalog says the papers report:", ""]
            out += [f"- {x['paper']}: {x['metric']} {x['value']} {x['unit']} {x['dataset']} {x['steps'] or ''} "
                    f"[{x['source']}]" for x in rep] + [""]
        else:
            out += ["(The catalog records no reported figures for these papers yet.)", ""]
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", default="", help="comma-separated demo ids (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick configurations instead of full")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--report", type=Path, help="report path (default: benchmarks/report-<cpu|cuda>.md)")
    args = parser.parse_args(argv)

    from reference_impls import registry, substrate

    device = substrate.pick_device(args.device)
    label = "cuda" if device.type == "cuda" else "cpu"
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    mode = "quick" if args.quick else "full"
    ids = [d for d in args.demos.split(",") if d] or list(registry.DEMO_MODULES)
    if not args.report_only:
        for demo_id in ids:
            started = time.time()
            print(f"[bench] {demo_id} ({mode}) on {device} ...", flush=True)

            def progress(fraction, message, _last=[0.0]):
                if fraction - _last[0] >= 0.05 or fraction >= 1.0:
                    _last[0] = fraction
                    print(f"[bench]   {demo_id}: {fraction:.0%} {message}", flush=True)

            result = registry.run_demo(demo_id, mode, device=str(device), progress=progress,
                                       out_dir=HERE / "grids" / f"{label}-{mode}-{demo_id}")
            (results_dir / f"{label}-{mode}-{demo_id}.json").write_text(json.dumps(_clean(result), indent=1, sort_keys=True))
            print(f"[bench] {demo_id} done in {time.time() - started:.0f}s", flush=True)
    found = []
    for demo_id in registry.DEMO_MODULES:
        path = results_dir / f"{label}-{mode}-{demo_id}.json"
        if path.is_file():
            found.append(json.loads(path.read_text()))
    if not found:
        print("no results to report", file=sys.stderr)
        return
    report = args.report or HERE / f"report-{label}{'-quick' if args.quick else ''}.md"
    report.write_text(render(found, f"{label.upper()} ({platform.node() or 'this machine'})"), encoding="utf-8")
    print(f"[bench] wrote {report}")


if __name__ == "__main__":
    main()
