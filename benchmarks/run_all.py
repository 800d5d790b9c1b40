"""Run every demo (full configuration by default) and write a Markdown report.

    python benchmarks/run_all.py                       # every demo, full config -> benchmarks/report-<device>.md
    python benchmarks/run_all.py --demos solvers       # a subset (results of earlier runs are kept)
    python benchmarks/run_all.py --report-only         # rebuild the report from benchmarks/results/*.json
    python benchmarks/run_all.py --quick               # quick configs (a smoke test of the script)
    python benchmarks/run_all.py --quick --device cuda --out DIR   # results and report in DIR (gpu_check.sh)
    python benchmarks/run_all.py --quick --smoke       # each demo's smoke configuration (seconds; tests the script)
    python benchmarks/run_all.py --summary --out DIR   # one short table of every result in DIR -> DIR/summary.md

Each demo's result is written to <results>/<device>-<mode>-<demo>.json as it
finishes, so demos can run in separate processes and the report assembles
whatever is there; each section names the git revision its run came from.
Runs are also recorded in the results store (--no-record to skip). This is a
script, not a test: on a 2-core CPU the full set takes about an hour and a half.
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
HERE = Path(__file__).resolve().parent


def reported_for(papers: list[str]) -> tuple[list[dict], list[tuple[str, str]]]:
    """The catalog's reported figures for these papers, and the papers with none (empty where diffatlas is absent)."""
    try:
        from diffatlas.catalog import load_catalog
        from diffatlas.explore import papers_without_reported, reported_figures
    except ImportError:
        return [], []
    catalog = load_catalog()
    return reported_figures(catalog, papers), papers_without_reported(catalog, papers)


def render(results: list, device_label: str) -> str:
    from diffatlas.report import markdown_section

    first = results[0]
    out = [f"# diffatlas benchmark: every demo, {first.mode} configuration, {device_label}", "",
           "Produced by `python benchmarks/run_all.py` (see its docstring) with the second edition of the harness. "
           "Every method of a demo runs on the same noise seeds; repeats (one per seed) are interleaved across methods "
           "in a shuffled order, so a burst of load spreads over all of them; times are medians of per-sample wall "
           "time, speed-ups ratios within one run, and a row whose repeats spread by more than 50% is flagged "
           "'timing unreliable'. FD and KID are measured on the live features of the project's digits classifier; "
           "every comparison is paired over the seeds (95% t-interval of the per-seed differences).", "",
           "## Machine and versions", "",
           f"- device: {first.device}, {first.threads} torch threads",
           f"- {', '.join(f'{k} {v}' for k, v in first.versions.items())}",
           f"- git revision of each run: " + ", ".join(f"{r.demo} `{r.git or '?'}`" for r in results),
           f"- digits classifier held-out accuracy: {first.classifier.get('accuracy', float('nan')):.4f}",
           f"- substrate model: {first.model['parameters']:,} parameters, weights {first.model['source']} "
           f"(key {first.model['key']})", ""]
    for r in results:
        out.append(markdown_section(r, *reported_for(r.papers)))
    return "\n".join(out)


def load(path: Path):
    from reference_impls.core.result import DemoResult

    return DemoResult.from_json(json.loads(path.read_text()))


def summary(results: list) -> str:
    """One short table: per run, its size, time, and how its verdicts came out."""
    from diffatlas.report import md_table

    rows = []
    for r in results:
        fd = [c for c in r.comparisons if c.metric == "fd"]
        count = {v: sum(c.verdict == v for c in fd) for v in ("better", "worse", "no detectable difference",
                                                              "inconclusive")}
        rows.append({"demo": r.demo, "mode": r.mode + (" (smoke)" if r.params.get("n_samples", 0) < 100 else ""),
                     "device": r.device, "dtype": r.dtype, "git": r.git, "minutes": round(r.duration_s / 60, 2),
                     "samples x seeds": f"{r.params.get('n_samples')} x {r.params.get('seeds')}",
                     "FD verdicts better/worse/same/inconclusive": "/".join(str(v) for v in count.values()),
                     "timing unreliable rows": len(r.checks.get("timing_unreliable_rows") or [])})
    cols = list(rows[0]) if rows else ["demo"]
    return "# diffatlas check: every run in this folder\n\n" + md_table(rows, cols) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", default="", help="comma-separated demo ids (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick configurations instead of full")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--out", type=Path, help="folder for results JSON, grids and the report (default: benchmarks/)")
    parser.add_argument("--report", type=Path, help="report path (default: <out>/report-<cpu|cuda>[-quick].md)")
    parser.add_argument("--no-record", action="store_true", help="do not record the runs in the results store")
    parser.add_argument("--smoke", action="store_true", help="each demo's smoke overrides (tiny; for testing)")
    parser.add_argument("--summary", action="store_true", help="only write <out>/summary.md from <out>/results")
    args = parser.parse_args(argv)

    from diffatlas import demos
    from reference_impls import registry
    from reference_impls.core.device import pick_device

    device = pick_device(args.device)
    label = device.type
    out_root = args.out or HERE
    results_dir = out_root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.summary:
        path = out_root / "summary.md"
        path.write_text(summary([load(p) for p in sorted(results_dir.glob("*.json"))]), encoding="utf-8")
        print(f"[bench] wrote {path}")
        return
    mode = "quick" if args.quick or args.smoke else "full"
    tag = f"{mode}-smoke" if args.smoke else mode
    ids = [d for d in args.demos.split(",") if d] or list(demos.registry())
    if not args.report_only:
        for demo_id in ids:
            started = time.time()
            print(f"[bench] {demo_id} ({mode}) on {device} ...", flush=True)

            def progress(fraction, message, _last=[0.0]):
                if fraction - _last[0] >= 0.05 or fraction >= 1.0:
                    _last[0] = fraction
                    print(f"[bench]   {demo_id}: {fraction:.0%} {message}", flush=True)

            overrides = demos.get_demo(demo_id).smoke if args.smoke else None
            result = demos.run_and_record(demo_id, mode, overrides, device=str(device), dtype=args.dtype,
                                          progress=progress, out_dir=out_root / "grids" / f"{label}-{tag}-{demo_id}",
                                          record=not args.no_record)
            (results_dir / f"{label}-{tag}-{demo_id}.json").write_text(json.dumps(result.to_json(), indent=1,
                                                                                  sort_keys=True))
            print(f"[bench] {demo_id} done in {time.time() - started:.0f}s", flush=True)
    found = []
    for demo_id in (d.rsplit(".", 1)[-1] for d in registry.DEMO_MODULES):
        path = results_dir / f"{label}-{tag}-{demo_id}.json"
        if path.is_file():
            try:
                found.append(load(path))
            except ValueError as exc:
                print(f"[bench] skipping {path.name}: {exc}", file=sys.stderr)
    if not found:
        print("no results to report", file=sys.stderr)
        return
    report = args.report or out_root / f"report-{label}{'' if tag == 'full' else '-' + tag}.md"
    report.write_text(render(found, f"{label.upper()} ({platform.node() or 'this machine'})"), encoding="utf-8")
    print(f"[bench] wrote {report}")


if __name__ == "__main__":
    main()
