"""`diffatlas sweep`: a grid of demo runs, checked first, resumable, on this machine or a Ray cluster.

The grid comes from the command line (demo ids, --param, --grid, --seeds, --devices) or a YAML file
(--file; see docs/sweeps.md); the work is `diffatlas.sweep`. A bad file, demo, parameter or option is
one line on standard error and exit status 2, before any run starts. Exit status 1 when a run failed.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from .common import needs_demos, parse_key_values


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        _usage(f"{option} {text!r}: give comma-separated integers, e.g. {option} 0,1")


@click.command("sweep")
@click.argument("demo_ids", nargs=-1)
@click.option("--file", "-f", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A sweep file (YAML: runs, mode, seeds, devices, dtype, compile, model); replaces DEMO_IDS.")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="A fixed override for every demo (repeatable).")
@click.option("--grid", "-g", "grids", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a parameter over values (repeatable; a cartesian product). 'a,b|c' sweeps lists a,b and c.")
@click.option("--seeds", default="0", show_default=True, help="Base noise seeds, comma-separated (0 = the demos' own).")
@click.option("--devices", default="auto", show_default=True, help="Devices, comma-separated: auto, cpu, cuda, cuda:N, mps.")
@click.option("--quick", "mode", flag_value="quick", default=True, help="Quick configurations (default).")
@click.option("--full", "mode", flag_value="full", help="Full configurations.")
@click.option("--smoke", is_flag=True, help="Start from each demo's smoke overrides (seconds; for tests).")
@click.option("--dtype", default="fp32", show_default=True, help="fp32, bf16 or fp16.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile every model first.")
@click.option("--model", type=click.Path(file_okay=False, path_type=Path), help="Your own diffusers model folder.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="local: processes at once (they share the cores through $DIFFATLAS_THREADS).")
@click.option("--address", help="ray: the cluster's HEAD:6379 (default: $RAY_ADDRESS, else Ray embedded here).")
@click.option("--num-cpus", type=click.IntRange(1, 4096), help="ray, embedded: CPUs Ray may use (default: all).")
@click.option("--cpus-per-run", type=click.IntRange(1, 256), default=1, show_default=True, help="ray: CPUs per task.")
@click.option("--gpus-per-run", type=click.FloatRange(0, 64), help="ray: GPUs per task (default 1 for a cuda device, else 0).")
@click.option("--max-retries", type=click.IntRange(0, 100), default=3, show_default=True,
              help="ray: times a task lost with its worker is retried.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Results database (default: $DIFFATLAS_RESULTS, else the default catalog's own one).")
@click.option("--dry-run", is_flag=True, help="List the runs and which are already in the store; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on standard output.")
@needs_demos
def sweep(demo_ids, spec_file, params, grids, seeds, devices, mode, smoke, dtype, compile_, model, backend, workers,
          address, num_cpus, cpus_per_run, gpus_per_run, max_retries, db, dry_run, as_json):
    """Run a grid of demos x parameter values x seeds x devices; record every run; skip runs already recorded.

    \b
    diffatlas sweep solvers pruning --smoke --grid n_samples=50,64 --seeds 0,1
    diffatlas sweep --file benchmarks/sweeps/all-quick.yaml --backend ray --address HEAD:6379
    """
    from .. import sweep as sw
    from ..results import ResultsStore, ResultsStoreError

    spec = _spec(sw, demo_ids, spec_file, params, grids, seeds, devices, mode, smoke, dtype, compile_, model)
    if backend == "ray" and (note := sw.ray_missing()):
        _usage(note)
    try:
        runs = sw.plan(spec, check_device=backend == "local", source=spec_file)
    except sw.SweepError as exc:
        _usage(str(exc))
    try:
        store = ResultsStore(db)
        done = store.keys()
    except ResultsStoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if dry_run:
        _dry_run(sw.status_of(runs, done), store.path, as_json)
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Ray's own notices ("a worker died") print to stdout
            outcome = sw.run_sweep(runs, store, backend=backend, workers=workers, address=address,
                                   gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, max_retries=max_retries,
                                   num_cpus=num_cpus)
    except sw.SweepError as exc:  # the Ray cluster cannot be reached
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    _report(outcome, as_json)
    if outcome.interrupted:
        sys.exit(130)
    if outcome.failed:
        sys.exit(1)


def _spec(sw, demo_ids, spec_file, params, grids, seeds, devices, mode, smoke, dtype, compile_, model):
    """The sweep from --file, or from the demo ids and options; a bad one is one line, exit 2."""
    if spec_file is not None:
        if demo_ids or params or grids:
            _usage("--file replaces DEMO_IDS, --param and --grid; give the file alone (its runs say what to sweep)")
        try:
            return sw.load_spec(spec_file)
        except sw.SweepError as exc:
            _usage(str(exc))
    if not demo_ids:
        _usage("name at least one demo (e.g. diffatlas sweep solvers --grid n_samples=50,64) or give --file FILE")
    try:
        fixed = parse_key_values(params)
        grid = {k: sw.grid_values(v) for k, v in parse_key_values(grids, "--grid").items()}
    except click.BadParameter as exc:
        _usage(f"{exc.param_hint}: {exc.message}")
    if empty := [k for k, v in grid.items() if not v]:
        _usage(f"--grid {empty[0]}=: give at least one value")
    data = {"runs": [{"demo": d, "smoke": smoke, "params": fixed, "grid": grid} for d in demo_ids],
            "mode": mode, "seeds": _int_list(seeds, "--seeds"), "devices": [d for d in devices.split(",") if d.strip()],
            "dtype": dtype, "compile": compile_, "model": str(model) if model else None}
    try:
        return sw.SweepSpec.model_validate(data)
    except sw.ValidationError as exc:
        _usage("--" + sw._first_error(exc, fixes=False).removeprefix("runs[0]."))


def _dry_run(rows: list[dict], db_path, as_json: bool) -> None:
    done = sum(r["done"] for r in rows)
    if as_json:
        click.echo(json.dumps({"runs": rows, "planned": len(rows), "done": done, "db": str(db_path)}, indent=2))
        return
    for r in rows:
        click.echo(f"{'done' if r['done'] else 'todo'}  {r['key']}  {r['run']}")
    click.echo(f"{len(rows)} runs: {done} already in {db_path}, {len(rows) - done} to run")


def _report(outcome, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.summary(), indent=2))
        return
    for f in outcome.failed:
        click.echo(f"failed: {f['run']}: {f['error']}", err=True)
    stopped = " (interrupted: rerun the same sweep to do the rest)" if outcome.interrupted else ""
    click.echo(f"sweep: {outcome.recorded} recorded, {outcome.skipped} skipped (already in the store), "
               f"{len(outcome.failed)} failed, of {outcome.planned} runs in {outcome.wall_s:.0f}s "
               f"on {outcome.backend}{stopped}; results in {outcome.db}")
