"""Run every demo (full configuration by default) as a sweep preset, and write a Markdown report.

    python benchmarks/run_all.py                       # benchmarks/sweeps/all-full.yaml -> benchmarks/report-<device>.md
    python benchmarks/run_all.py --demos solvers       # a subset (results of earlier runs are kept)
    python benchmarks/run_all.py --report-only         # rebuild the report from benchmarks/results/*.json
    python benchmarks/run_all.py --quick               # all-quick.yaml (a smoke test of the script)
    python benchmarks/run_all.py --quick --device cuda --out DIR   # results and report in DIR (gpu_check.sh)
    python benchmarks/run_all.py --quick --smoke       # all-smoke.yaml: each demo's smoke configuration (seconds)
    python benchmarks/run_all.py --summary --out DIR   # one short table of every result in DIR -> DIR/summary.md
    python benchmarks/run_all.py --backend ray --address HEAD:6379  # the same sweep on a Ray cluster (docs/sweeps.md)
    python benchmarks/run_all.py --preset FILE         # any sweep file; its runs feed the report

The runs are a sweep (`diffatlas.sweep`, the same as `diffatlas sweep --file benchmarks/sweeps/all-full.yaml`):
checked before anything runs, recorded in the results store as each finishes, and skipped when the store
already holds the same run (same demo, parameters, seed, device, dtype), so an interrupted benchmark resumes
where it stopped (--fresh reruns everything). Each demo's result is also written to
<results>/<device>-<mode>-<demo>.json, and the report assembles whatever is there; each section names
the git revision its run came from. --no-record uses a throwaway store (so nothing is skipped either).
This is a script, not a test: on a 2-core CPU the full set takes about an hour and a half.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
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
    parser.add_argument("--preset", type=Path, help="a sweep file (default: sweeps/all-full.yaml, all-quick, all-smoke)")
    parser.add_argument("--fresh", action="store_true", help="rerun runs the results store already holds")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="ray: the cluster's HEAD:6379 (default: $RAY_ADDRESS, else embedded)")
    parser.add_argument("--workers", type=int, default=1, help="local: processes at once")
    parser.add_argument("--db", type=Path, help="results database (default: $DIFFATLAS_RESULTS, else the catalog's)")
    args = parser.parse_args(argv)

    from reference_impls import registry
    from reference_impls.core.device import pick_device

    label = pick_device(args.device).type
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
    if not args.report_only:
        run_preset(args, label, tag, out_root, results_dir)
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


def preset_runs(args, label: str, tag: str, out_root: Path) -> list:
    """The preset's runs on --device/--dtype, restricted to --demos, each writing its grids to <out>/grids/."""
    from dataclasses import replace

    from diffatlas import sweep

    name = "all-smoke" if args.smoke else "all-quick" if args.quick else "all-full"
    spec = sweep.load_spec(args.preset or HERE / "sweeps" / f"{name}.yaml")
    spec = spec.model_copy(update={"devices": [args.device], "dtype": args.dtype})
    wanted = {d for d in args.demos.split(",") if d}
    runs = [r for r in sweep.plan(spec) if not wanted or r.demo in wanted]
    if unknown := wanted - {r.demo for r in runs}:
        raise SystemExit(f"error: --demos: {', '.join(sorted(unknown))} not in the preset's demos")
    return [replace(r, out_dir=str(out_root / "grids" / f"{label}-{tag}-{r.demo}")) for r in runs]


def run_preset(args, label: str, tag: str, out_root: Path, results_dir: Path) -> None:
    """Run the preset as a sweep and write each demo's result JSON where the report reads it.

    A run the store already held is not repeated: its stored result is written out instead. With
    several runs of one demo (a preset with seeds or a grid), the last one is the demo's file.
    """
    import tempfile

    from diffatlas import sweep
    from diffatlas.results import ResultsStore

    try:
        runs = preset_runs(args, label, tag, out_root)
    except sweep.SweepError as exc:
        raise SystemExit(f"error: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="diffatlas-bench-") as scratch:
        throwaway = args.no_record or args.fresh
        store = ResultsStore(Path(scratch) / "runs.sqlite" if throwaway else args.db)
        outcome = sweep.run_sweep(runs, store, backend=args.backend, workers=args.workers, address=args.address)
        if throwaway and not args.no_record:  # --fresh: the new runs still go to the real store
            real = ResultsStore(args.db)
            for key, result in outcome.results.items():
                real.record(result, key=key)
        stored = {r["key"]: r for r in store.results() if r.get("key")}
    for run in runs:
        data = outcome.results.get(run.key) or stored.get(run.key)
        if data is None:
            continue
        data = {k: v for k, v in data.items() if k not in ("run_id", "uid", "key", "origin")}
        (results_dir / f"{label}-{tag}-{run.demo}.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    for failed in outcome.failed:
        print(f"[bench] failed: {failed['run']}: {failed['error']}", file=sys.stderr)
    print(f"[bench] {outcome.recorded} runs done, {outcome.skipped} already in {outcome.db}, "
          f"{len(outcome.failed)} failed, in {outcome.wall_s:.0f}s", flush=True)
    if outcome.interrupted:
        raise SystemExit(130)


if __name__ == "__main__":
    main()
