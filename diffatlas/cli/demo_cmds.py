"""`diffatlas demo list|run|train` and `diffatlas results list|show|export`.

Everything goes through `diffatlas.demos` (the one door to the reference
implementations); torch is imported only when a demo is listed or runs, so
the rest of the command line stays fast. A bad parameter, option or device is
one line on standard error and exit status 2, before anything loads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import catalog_option, needs_demos, open_catalog, parse_key_values


@click.group()
def demo():
    """List and run the reference implementations (measured demos)."""


@click.group(invoke_without_command=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Results database (default: $DIFFATLAS_RESULTS, else the default catalog's own one in the user cache).")
@click.pass_context
def results(ctx, db):
    """What the demos measured: list runs, show one, export CSV/JSON."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        ctx.invoke(results_list)


def open_store(ctx):
    """The results store named by --db (or the default); a damaged or unreadable one is one line, exit 1."""
    from ..results import ResultsStore, ResultsStoreError

    try:
        return ResultsStore((ctx.obj or {}).get("db"))
    except ResultsStoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def usage_error(message: str) -> None:
    """One line on standard error, exit status 2 (a usage error, as click's own)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@demo.command("list")
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@needs_demos
def demo_list(catalog_dir, taxonomy_dir, as_json):
    """Every demo: id, title, taxonomy nodes, papers, estimated quick runtime."""
    from .. import demos

    registered = demos.registry()
    if as_json:
        click.echo(json.dumps([
            {"id": d.id, "title": d.title, "nodes": list(d.nodes), "papers": list(d.papers),
             "quick_seconds": d.quick_seconds, "full_seconds": d.full_seconds, "accepts_model": d.accepts_model,
             "params": [{"name": p.name, "kind": p.kind, "quick": p.quick, "full": p.full, "bounds": p.bounds(),
                         "help": p.help} for p in d.params]}
            for d in registered.values()], indent=2))
        return
    from ..runtime_estimate import busy_note, stored_estimate, this_device

    catalog = open_catalog(catalog_dir, taxonomy_dir)
    device = this_device("auto")
    if note := busy_note():
        click.echo(note)
    for d in registered.values():
        click.echo(f"{d.id:<14} {d.title}")
        click.echo(f"{'':<14} quick {stored_estimate(d, device).text()}; full ~{d.full_seconds / 60:.0f} min (declared)")
        click.echo(f"{'':<14} nodes: {', '.join(d.nodes)}")
        missing = [p for p in d.papers if p not in catalog.papers]
        click.echo(f"{'':<14} papers: {', '.join(d.papers)}" + (f"  (not in this catalog: {', '.join(missing)})" if missing else ""))
        click.echo(f"{'':<14} params: " + ", ".join(f"{p.name}={_show(p.quick)}" for p in d.params))
        if d.accepts_model:
            click.echo(f"{'':<14} your own model: --model DIR (a diffusers save_pretrained folder; same-noise PSNR/SSIM)")


class _Bar:
    """click's progress bar fed with fractions of a run."""

    def __init__(self, label: str):
        self.bar = click.progressbar(length=1000, label=label, file=sys.stderr, show_percent=True, show_eta=True)
        self.last = 0

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, fraction: float, message: str) -> None:
        target = int(1000 * fraction)
        if target > self.last:
            self.bar.update(target - self.last)
            self.last = target


@demo.command("run")
@catalog_option
@click.argument("demo_id")
@click.option("--quick", "mode", flag_value="quick", default=True, help="Quick configuration (default; under a minute on a CPU).")
@click.option("--full", "mode", flag_value="full", help="Full configuration (better statistics; meant for a GPU).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda, cuda:1, mps.")
@click.option("--dtype", default="fp32", show_default=True, help="Precision of every network call (autocast): fp32, bf16 or fp16.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile every model first (compile time is not timed).")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--seed", default="0", show_default=True, metavar="N", help="Base noise seed in [0, 1000000]: the run's noise seeds are 1000*N + k (0 = the committed runs' seeds).")
@click.option("--model", "model_dir", metavar="DIR", help="Your own diffusers model: a folder saved with save_pretrained (a UNet2DModel, UNet2DConditionModel or DiTTransformer2DModel with its scheduler config). Quality is then same-noise PSNR/SSIM against the full-cost baseline.")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result instead of tables.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the result and sample grids (default: user cache).")
@click.option("--no-record", is_flag=True, help="Do not record the run in the results store.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Results database (default: $DIFFATLAS_RESULTS, else the default catalog's own one in the user cache).")
@needs_demos
def demo_run(catalog_dir, taxonomy_dir, demo_id, mode, device, dtype, compile_, params, seed, model_dir, as_json, out,
             no_record, db):
    """Run one demo: measure the technique against its baselines in the same run."""
    from .. import demos
    from ..explore import papers_without_reported, reported_figures
    from ..report import format_result

    try:
        overrides = parse_key_values(params)
    except click.BadParameter as exc:
        usage_error(f"--param: {exc.message}")
    try:
        seed = demos.check_seed(seed)
        demos.check(demo_id, mode, overrides, device, dtype, seed, model_dir)
    except demos.ParamError as exc:
        usage_error(str(exc))
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".diffatlas-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            usage_error(f"--out {out}: cannot write there ({exc.strerror or exc}); give a writable folder")
    if db is None and catalog_dir is not None:  # a run against another catalog is recorded with that catalog's runs
        from ..results import default_path

        db = default_path(catalog_dir)
    try:
        if as_json:
            result = demos.run_and_record(demo_id, mode, overrides, device=device, dtype=dtype, compile=compile_,
                                          out_dir=out, record=not no_record, db_path=db, seed=seed, model=model_dir)
        else:
            with _Bar(f"{demo_id} ({mode})") as bar:
                result = demos.run_and_record(demo_id, mode, overrides, device=device, dtype=dtype, compile=compile_,
                                              progress=bar, out_dir=out, record=not no_record, db_path=db,
                                              seed=seed, model=model_dir)
    except demos.ParamError as exc:
        usage_error(str(exc))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    click.echo(format_result(result, reported_figures(catalog, result.papers),
                             papers_without_reported(catalog, result.papers)))


@demo.command("train")
@click.argument("what", type=click.Choice(["teacher", "classifier", "students", "all"]), default="all")
@click.option("--force", is_flag=True, help="Retrain even if an intact checkpoint exists.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Where to write weights (default: reference_impls/weights).")
@needs_demos
def demo_train(what, force, out):
    """Retrain the substrate's committed weights (same as python -m reference_impls.train)."""
    from reference_impls import train

    argv = [what] + (["--force"] if force else []) + (["--out", str(out)] if out else [])
    train.main(argv)


def _read(method, *args):
    from ..results import ResultsStoreError

    try:
        return method(*args)
    except ResultsStoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@results.command("list")
@click.option("--demo", "demo_id", help="Only runs of this demo.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def results_list(ctx, demo_id=None, limit=50):
    """Past runs, newest first."""
    from ..report import table
    from ..results import run_from, whose

    store = open_store(ctx)
    runs = _read(store.runs, demo_id, limit)
    if not runs:
        click.echo(f"no runs recorded in {store.path} ({whose(store.path)})")
        return
    for r in runs:
        r["params"] = ", ".join(f"{k}={_show(v)}" for k, v in r["params"].items())[:70]
        r["from"] = run_from(r)
    click.echo(table(runs, ["id", "demo", "mode", "created", "duration_s", "device", "from", "params"]))
    click.echo(f"({len(runs)} runs in {store.path}: {whose(store.path)})")
    sources = _read(store.sources)
    if len(sources) > 1:
        click.echo("runs by where they came from: " + "; ".join(f"{name} ({n})" for name, n in sources))


@results.command("show")
@click.argument("run_id", type=int)
@catalog_option
@click.pass_context
def results_show(ctx, run_id, catalog_dir, taxonomy_dir):
    """The full result table of one recorded run."""
    from ..demos import load_result
    from ..explore import papers_without_reported, reported_figures
    from ..report import format_result

    stored = _read(open_store(ctx).get, run_id)
    if stored is None:
        usage_error(f"no run {run_id} in the results store (diffatlas results list shows the runs)")
    try:
        result = load_result(stored)
    except ValueError as exc:
        click.echo(f"run {run_id}: {exc}", err=True)
        sys.exit(1)
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    click.echo(format_result(result, reported_figures(catalog, result.papers),
                             papers_without_reported(catalog, result.papers)))


@results.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv: one row per run/method/metric; json: every run whole, for `diffatlas results import` elsewhere.")
@click.option("--demo", "demo_id", help="Only runs of this demo.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of standard output.")
@click.pass_context
def results_export(ctx, fmt, demo_id, output):
    """Every measured metric as CSV (run, method, metric, value) or every run as JSON (importable)."""
    text = _read(open_store(ctx).export, fmt, demo_id)
    if output:
        from ..yamlio import atomic_write  # temp file in the same folder, then rename: no half-written export

        atomic_write(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@results.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def results_import(ctx, files):
    """Add runs from another machine: `results export --format json` files, result.json files, folders of
    them (e.g. benchmarks/results/, the project's committed CPU runs) or another results .sqlite file.
    A run already in this store (same uid) is skipped, so importing twice adds nothing."""
    store = open_store(ctx)
    report = _read(store.import_files, files)
    for reason in report["refused"]:
        click.echo(f"refused: {reason}", err=True)
    click.echo(f"{report.text()} ({store.path})")
    if report["refused"] and not report["added"] and not report["skipped"]:
        sys.exit(1)
