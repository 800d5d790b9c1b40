"""`diffatlas results leaderboard`: every technique in the results store, ranked against its own full-cost baseline.

A thin layout over `diffatlas.leaderboard`: one table per comparable group (quality metric, model, sample
size, device), the Pareto front marked, one line per filter saying how many entries it left. A bad option
is one line on standard error and exit status 2.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import click

from .common import catalog_option, open_catalog
from .demo_cmds import _read, open_store, results, usage_error

TABLE_COLUMNS = ["front", "demo", "method", "role", "run_id", "seed", "cost", "cost_ratio", "speedup", "change",
                 "interval", "verdict", "vs_equal_cost", "flags"]
LEGEND = ("* = on the Pareto front of its group (no entry is both faster and closer to its full-cost quality). "
          "speed-up: the run's full-cost row's wall time per sample over this row's, both measured in the same run "
          "(machine load inflates both); cost: what the demo counts besides time (full-cost over this row); change: "
          "quality minus the full-cost row's, paired over the run's noise seeds with its 95% interval (lower FD is "
          "better; 'computed' = the interval computed here from the stored per-seed values; on a user's model the "
          "row's PSNR against the full-cost output, higher is closer); vs equal cost: the "
          "verdict against the baseline given the same budget.")


@results.command("leaderboard")
@click.option("--device", help="Only runs on this device: a type (cpu, cuda) or part of its name.")
@click.option("--model", help="Only runs of this model: part of its label (substrate:<key>, user:<class>:<key>).")
@click.option("--node", help="Only demos filed under this taxonomy node or its subtree: tree:node, or node in any tree.")
@click.option("--demo", "demo_id", help="Only runs of this demo.")
@click.option("--mode", type=click.Choice(["quick", "full"]), help="Only quick or full configurations.")
@click.option("--pareto", "pareto_only", is_flag=True, help="Only the entries on the Pareto front of their group.")
@click.option("--reported", is_flag=True, help="Also list what the catalog's papers report, beside the measured rows.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the table as CSV to FILE (a new file; never replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON instead of tables.")
@catalog_option
@click.pass_context
def results_leaderboard(ctx, device, model, node, demo_id, mode, pareto_only, reported, csv_file, as_json,
                        catalog_dir, taxonomy_dir):
    """Speed-up against quality change of every measured technique, with the Pareto front."""
    from .. import leaderboard as lb
    from ..results import whose

    if csv_file is not None and csv_file.exists():
        usage_error(f"--csv {csv_file}: the file exists; give a new file name (it is never replaced)")
    store = open_store(ctx)
    board = lb.collect(_read(store.results))
    if not board.entries:
        click.echo(lb.HOW_TO_FILL + f" (store: {store.path})" if not board.runs else
                   f"none of the {board.runs} runs in {store.path} has a technique row the leaderboard can read")
        for run_id, why in board.skipped:
            click.echo(f"  run {run_id}: {why}")
        return
    stored_demos = sorted({e.demo for e in board.entries})
    if demo_id and demo_id not in stored_demos:
        usage_error(f"--demo {demo_id}: no runs of it in the store; stored demos: {', '.join(stored_demos)}")
    entries, counts = lb.apply(board.entries, lb.Filters(device=device, model=model, node=node, demo=demo_id, mode=mode))
    if pareto_only:
        entries = [e for e in entries if e.pareto]
        counts.append(("pareto", "front", len(entries)))
    if csv_file is not None:
        _write_csv(csv_file, lb.to_csv(entries))
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2, sort_keys=True))
        return
    click.echo(f"Measured leaderboard: {len(board.entries)} entries from {board.runs} runs in {store.path} "
               f"({whose(store.path)})")
    for name, value, left in counts:
        click.echo(f"--{name} {value}: {left} of {len(board.entries)} entries")
    for run_id, why in board.skipped:
        click.echo(f"skipped run {run_id}: {why}")
    _print_groups(entries)
    if reported and entries:
        _print_reported(open_catalog(catalog_dir, taxonomy_dir), entries)


def _write_csv(path: Path, text: str) -> None:
    from ..yamlio import write_new_file

    try:
        write_new_file(path, text)
    except FileExistsError:
        usage_error(f"--csv {path}: the file exists; give a new file name (it is never replaced)")
    except OSError as exc:
        usage_error(f"--csv {path}: cannot write there ({exc.strerror or exc}); give a writable path")
    click.echo(f"wrote {path}", err=True)


def _print_groups(entries) -> None:
    """One table per comparable group, fastest first, then the legend."""
    from .. import leaderboard as lb
    from ..report import table

    groups: dict[str, list] = {}
    for e in sorted(entries, key=lambda e: -(e.speedup or 0)):
        groups.setdefault(e.group, []).append(e)
    for group, members in sorted(groups.items(), key=lambda g: (g[1][0].metric or "", g[1][0].n_samples or 0, g[0])):
        front = sum(e.pareto for e in members)
        click.echo(f"\n{group}: {_count(len(members), 'entry', 'entries')}, {front} on the Pareto front, from "
                   f"{_count(len({e.run_id for e in members}), 'run')} of {_count(len({e.demo for e in members}), 'demo')}")
        # a fidelity group's score is the row's own agreement with the full-cost output, not a difference
        quality = "change" if lb.LOWER_IS_BETTER.get(members[0].metric or "fd", True) else \
            f"{members[0].metric}_vs_full_cost_output"
        cells = [dict(_cells(e), **{quality: e.change}) for e in members]
        click.echo(table(cells, [quality if c == "change" else c for c in TABLE_COLUMNS]))
    click.echo("\n" + textwrap.fill(LEGEND, 110))


def _cells(e) -> dict:
    interval = f"[{e.ci_low:+.2f}, {e.ci_high:+.2f}]" if _number(e.ci_low) and _number(e.ci_high) else ""
    flags = [flag for flag, on in (("timing unreliable", e.timing_unreliable), ("computed", e.paired == "computed"))
             if on]
    vs_equal = e.equal_cost_verdict if e.role != "equal-cost" else "(is one)"
    return {"front": "*" if e.pareto else "", "demo": e.demo, "method": e.method, "role": e.role,
            "run_id": e.run_id, "seed": e.seed, "cost": e.cost, "cost_ratio": e.cost_ratio, "speedup": e.speedup,
            "change": e.change, "interval": interval, "verdict": e.verdict, "vs_equal_cost": vs_equal,
            "flags": ", ".join(flags)}


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _print_reported(catalog, entries) -> None:
    from .. import leaderboard as lb
    from ..report import reported_line

    rows = lb.reported_beside(catalog, entries)
    click.echo("\nWhat the catalog says the papers report (their own data sets and hardware; for orientation):")
    if not rows:
        click.echo("  (no reported figure for these demos' papers in the catalog)")
    for r in rows:
        click.echo(f"  - [{r['demo']}] {reported_line(r)}")
