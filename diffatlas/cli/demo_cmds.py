"""`diffatlas demo list|run|train` and `diffatlas results list|show|export`.

torch and the reference implementations are imported only when a demo runs,
so the rest of the CLI stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..results import reported_figures  # noqa: F401  (re-exported)
from .common import catalog_option, open_catalog, parse_key_values


@click.group()
def demo():
    """List and run the reference implementations (measured demos)."""


@click.group(invoke_without_command=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Results database (default: $DIFFATLAS_RESULTS or the user cache).")
@click.pass_context
def results(ctx, db):
    """What the demos measured: list runs, show one, export CSV/JSON."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        ctx.invoke(results_list)


def _registry():
    from reference_impls import registry

    return registry


@demo.command("list")
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def demo_list(catalog_dir, taxonomy_dir, as_json):
    """Every demo: id, title, taxonomy nodes, papers, estimated quick runtime."""
    reg = _registry()
    demos = reg.registry()
    if as_json:
        click.echo(json.dumps([
            {"id": d.id, "title": d.title, "nodes": list(d.nodes), "papers": list(d.papers),
             "quick_seconds": d.quick_seconds, "full_seconds": d.full_seconds,
             "params": [{"name": p.name, "kind": p.kind, "quick": p.quick, "full": p.full, "bounds": p.bounds(),
                         "help": p.help} for p in d.params]}
            for d in demos.values()], indent=2))
        return
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    for d in demos.values():
        click.echo(f"{d.id:<14} {d.title}")
        click.echo(f"{'':<14} quick ~{d.quick_seconds:.0f}s on a 2-core CPU (warm start); full ~{d.full_seconds / 60:.0f} min")
        click.echo(f"{'':<14} nodes: {', '.join(d.nodes)}")
        missing = [p for p in d.papers if p not in catalog.papers]
        click.echo(f"{'':<14} papers: {', '.join(d.papers)}" + (f"  (not in this catalog: {', '.join(missing)})" if missing else ""))
        click.echo(f"{'':<14} params: " + ", ".join(f"{p.name}={_show(p.quick)}" for p in d.params))


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@demo.command("run")
@catalog_option
@click.argument("demo_id")
@click.option("--quick", "mode", flag_value="quick", default=True, help="Quick configuration (default; under a minute on a CPU).")
@click.option("--full", "mode", flag_value="full", help="Full configuration (better statistics; meant for a GPU).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result instead of tables.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for sample grids (default: user cache).")
@click.option("--no-record", is_flag=True, help="Do not record the run in the results store.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Results database (default: $DIFFATLAS_RESULTS or the user cache).")
def demo_run(catalog_dir, taxonomy_dir, demo_id, mode, device, params, as_json, out, no_record, db):
    """Run one demo: measure the technique against its baselines in the same run."""
    reg = _registry()
    try:
        demo_obj = reg.get_demo(demo_id)
        demo_obj.resolve(mode, parse_key_values(params))
    except reg.ParamError as exc:
        raise click.BadParameter(str(exc), param_hint="DEMO_ID/--param") from None
    state = {"last": 0}
    bar = None if as_json else click.progressbar(length=1000, label=f"{demo_id} ({mode})", file=sys.stderr,
                                                 show_percent=True, show_eta=True)

    def progress(fraction: float, message: str) -> None:
        if bar is None:
            return
        target = int(1000 * fraction)
        if target > state["last"]:
            bar.update(target - state["last"])
            state["last"] = target

    try:
        if bar is not None:
            bar.__enter__()
        result = reg.run_demo(demo_id, mode, parse_key_values(params), device=device, progress=progress,
                              out_dir=out, record=not no_record, db_path=db)
    except reg.ParamError as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        from ..results import _clean

        click.echo(json.dumps(_clean(result), indent=2, sort_keys=True))
        return
    click.echo(format_result(result, open_catalog(catalog_dir, taxonomy_dir)))


def format_result(result: dict, catalog=None) -> str:
    from ..results import table

    lines = [f"{result['title']}", f"mode {result['mode']}; device {result['device']}; torch {result['versions']['torch']}, "
             f"diffusers {result['versions']['diffusers']}; git {result.get('git') or '?'}; "
             f"{result['duration_s']:.1f}s"]
    a = result["anchors"]
    lines.append(f"FD-digits anchors at {result['params'].get('n_samples')} samples: real-vs-real floor {a['fd_floor']:.1f}, "
                 f"noise ceiling {a['fd_ceiling']:.0f}; classifier held-out accuracy {a['classifier_accuracy']:.3f}")
    lines.append(f"model: {result['model']['parameters']:,} parameters ({result['model']['source']}); "
                 f"full-cost baseline: {result['baseline']}; equal-cost baseline: {result['equal_cost']}")
    cols = ["method", "role", "nfe", "spacing", "wall_s", "speedup", "overhead_share", "fd", "fd_std", "fd_ratio",
            "confidence", "coverage", "peak_mem_mb"]
    present = [c for c in cols if any(c in r for r in result["rows"])]
    lines += ["", table(result["rows"], present), ""]
    for name, rows in (result.get("tables") or {}).items():
        lines += [name + ":", table(rows, list(rows[0].keys())) if rows else "(none)", ""]
    lines += ["Findings (differences within the seed-to-seed spread are reported as no difference):"]
    lines += [f"  - {n}" for n in result["notes"]]
    grids = sorted({r["grid"] for r in result["rows"] if r.get("grid")})
    if grids:
        lines.append(f"sample grids: {Path(grids[0]).parent}")
    if catalog is not None:
        reported = reported_figures(catalog, result["papers"])
        if reported:
            lines += ["", "What the catalog says the papers report (other datasets and hardware; for orientation):"]
            lines += [f"  - {r['paper']}: {r['metric']} {r['value']}{(' ' + r['unit']) if r['unit'] else ''}"
                      f"{' on ' + r['dataset'] if r['dataset'] else ''}{' at ' + str(r['steps']) + ' steps' if r['steps'] else ''}"
                      f"{' (' + r['hardware'] + ')' if r['hardware'] else ''} [{r['source']}]" for r in reported]
    if "run_id" in result:
        lines.append(f"recorded as run {result['run_id']} (diffatlas results show {result['run_id']})")
    return "\n".join(lines)


@demo.command("train")
@click.argument("what", type=click.Choice(["teacher", "classifier", "students", "all"]), default="all")
@click.option("--force", is_flag=True, help="Retrain even if an intact checkpoint exists.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Where to write weights (default: reference_impls/weights).")
def demo_train(what, force, out):
    """Retrain the substrate's committed weights (same as python -m reference_impls.train)."""
    from reference_impls import train

    argv = [what] + (["--force"] if force else []) + (["--out", str(out)] if out else [])
    train.main(argv)


@results.command("list")
@click.option("--demo", "demo_id", help="Only runs of this demo.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def results_list(ctx, demo_id=None, limit=50):
    """Past runs, newest first."""
    from ..results import ResultsStore, table

    store = ResultsStore((ctx.obj or {}).get("db"))
    runs = store.runs(demo_id, limit)
    if not runs:
        click.echo(f"no runs recorded in {store.path}")
        return
    for r in runs:
        r["params"] = ", ".join(f"{k}={_show(v)}" for k, v in r["params"].items())[:70]
    click.echo(table(runs, ["id", "demo", "mode", "created", "duration_s", "device", "params"]))
    click.echo(f"({len(runs)} runs in {store.path})")


@results.command("show")
@click.argument("run_id", type=int)
@catalog_option
@click.pass_context
def results_show(ctx, run_id, catalog_dir, taxonomy_dir):
    """The full result table of one recorded run."""
    from ..results import ResultsStore

    result = ResultsStore((ctx.obj or {}).get("db")).get(run_id)
    if result is None:
        raise click.BadParameter(f"no run {run_id}", param_hint="RUN_ID")
    click.echo(format_result(result, open_catalog(catalog_dir, taxonomy_dir)))


@results.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--demo", "demo_id", help="Only runs of this demo.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of standard output.")
@click.pass_context
def results_export(ctx, fmt, demo_id, output):
    """Every measured metric as CSV (run, method, metric, value) or every run as JSON."""
    from ..results import ResultsStore

    text = ResultsStore((ctx.obj or {}).get("db")).export(fmt, demo_id)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
