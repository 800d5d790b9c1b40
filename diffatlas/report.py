"""A demo result as text: the command line's tables and the benchmark's Markdown.

Both read the one typed result (`reference_impls.core.result.DemoResult`);
the columns are `RESULT_COLUMNS`, the verdict sentences come from its
comparisons (`DemoResult.findings`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from reference_impls.core.result import RESULT_COLUMNS, DemoResult

# Integer-valued columns print without decimals; the rest by magnitude. Columns of counts not listed here are
# recognised by name (`_count_column`) or because every value in the table is a whole number (`whole_columns`).
INTEGER_COLUMNS = {"nfe", "nfe_expected", "coverage", "seeds", "n_samples", "parameters", "weight_bytes", "steps",
                   "id", "run_id", "distinct_neighbours", "nfe_budget", "nfe_to_target", "start_t", "key_step",
                   "value_step", "break_even_samples", "train_steps", "threads"}
HEADERS = {"ms_per_sample": "ms/sample", "time_spread": "spread", "speedup": "speed-up", "flops_per_sample": "GFLOP/sample",
           "latency_ms": "b1 latency ms", "fd": "FD", "fd_se": "FD se", "kid": "KIDx1e3", "kid_se": "KID se",
           "confidence": "conf", "coverage": "classes", "peak_mem_mb": "peak MB", "nfe": "NFE",
           "duration_s": "seconds", "run_id": "run", "n_samples": "samples", "nfe_expected": "expected NFE",
           "nfe_ratio": "NFE ratio", "flops_ratio": "FLOP ratio", "break_even_samples": "break-even samples",
           "psnr_to_teacher_db": "PSNR to teacher dB", "psnr": "PSNR dB", "psnr_se": "PSNR se", "ssim": "SSIM",
           "ssim_se": "SSIM se", "macs_share": "MACs share", "net_ms_per_sample": "net ms/sample",
           "timing_unreliable": "timing unreliable"}
_ACRONYMS = {"nfe": "NFE", "fd": "FD", "kid": "KID", "psnr": "PSNR", "ssim": "SSIM", "ms": "ms", "mb": "MB", "db": "dB",
             "fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "rms": "RMS", "macs": "MACs", "flops": "FLOP", "gpu": "GPU",
             "cpu": "CPU"}


def header(column: str) -> str:
    """A column's name for readers: HEADERS, else snake_case spelled as words ('max_abs_err' -> 'max abs err')."""
    if column in HEADERS:
        return HEADERS[column]
    if "_" not in column:
        return column
    return " ".join(_ACRONYMS.get(word, word) for word in column.split("_"))


def _count_column(column: str) -> bool:
    return column in INTEGER_COLUMNS or column.startswith("n_") or column.endswith(("_count", "_steps", "_bytes"))


def whole_columns(rows: list[dict], columns: list[str]) -> set[str]:
    """Columns whose numbers are all whole (10.0, 250.0): counts stored as floats, printed without '.00'."""
    whole = set()
    for column in columns:
        numbers = [r.get(column) for r in rows if isinstance(r.get(column), (int, float)) and not isinstance(r.get(column), bool)]
        if numbers and all(math.isfinite(v) and float(v).is_integer() for v in numbers) and column not in ("speedup",):
            whole.add(column)
    return whole


def fmt(value, column: str = "", whole: bool = False) -> str:
    """One cell: counts as integers (never 10.00), the rest by magnitude; `whole` when the column holds only whole numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if column == "flops_per_sample" and isinstance(value, (int, float)):
        return f"{value / 1e9:.3f}"
    if column == "speedup" and isinstance(value, (int, float)):
        return f"{value:.1f}x"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan"
        if value.is_integer() and (whole or _count_column(column)):
            return f"{value:.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _cells(rows: list[dict], columns: list[str]) -> list[list[str]]:
    whole = whole_columns(rows, columns)
    return [[fmt(r.get(c), c, c in whole) for c in columns] for r in rows]


def table(rows: Iterable[dict], columns: list[str]) -> str:
    """A plain-text table with readable headers."""
    rows = list(rows)
    heads = [header(c) for c in columns]
    cells = _cells(rows, columns)
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def md_table(rows: Iterable[dict], columns: list[str]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(header(c) for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in _cells(rows, columns)]
    return "\n".join(lines)


def row_dicts(result: DemoResult) -> list[dict]:
    return [r.flat() for r in result.rows]


def columns_of(result: DemoResult) -> list[str]:
    rows = row_dicts(result)
    return [c for c in RESULT_COLUMNS if any(r.get(c) not in (None, "") for r in rows)]


def anchors_line(result: DemoResult) -> str:
    a = result.anchors
    if a.get("fidelity"):  # a user's model: no classifier, no floor or ceiling
        return (f"your model: quality is agreement with {a.get('reference')}'s output from the same noise, "
                f"{a.get('samples')} samples per seed of shape {'x'.join(map(str, a.get('sample_shape', [])))}: "
                f"PSNR (dB, data range {a.get('data_range')}, capped at {a.get('psnr_cap'):.0f}) and SSIM, higher is "
                "better; no FD or KID")
    if "fd_floor" not in a:
        return "no anchors recorded"
    return (f"anchors at {a['samples']} real samples, {a['draws']} draws: FD floor {a['fd_floor']:.1f} \u00b1 "
            f"{a['fd_floor_sd']:.1f}, ceiling {a['fd_ceiling']:.0f} \u00b1 {a['fd_ceiling_sd']:.0f}; KID x1000 floor "
            f"{a['kid_floor']:.1f} \u00b1 {a['kid_floor_sd']:.1f}, ceiling {a['kid_ceiling']:.0f}; "
            f"{a['live_features']} of {a['features']} classifier features live; classifier held-out accuracy "
            f"{a['classifier_accuracy']:.3f}")


def header_lines(result: DemoResult) -> list[str]:
    flagged = result.checks.get("timing_unreliable_rows") or []
    return [
        f"mode {result.mode}; device {result.device}; {result.threads} torch threads; dtype {result.dtype}"
        f"{'; compiled' if result.compiled else ''}; torch {result.versions.get('torch')}, diffusers "
        f"{result.versions.get('diffusers')}; git {result.git or '?'}; {result.duration_s:.1f}s",
        anchors_line(result),
        f"model: {result.model['parameters']:,} parameters ({result.model['source']}); full-cost baseline: "
        f"{result.baseline}; equal-cost baseline: {result.equal_cost}",
        ("timing unreliable (machine busy; repeats spread more than 50%): " + ", ".join(flagged)) if flagged
        else "timing: every row's repeats within 50% of each other",
    ]


VERDICT_RULE = ("Verdicts: paired over the shared noise seeds, 95% t-interval of the per-seed differences; 'better'/"
                "'worse' when it excludes zero, 'no detectable difference' when it lies within \u00b110% of the "
                "reference (or the metric's floor sd at this size, if larger; on your own model \u00b10.5 dB PSNR, "
                "\u00b10.01 SSIM), otherwise 'inconclusive at this size'.")


def format_result(result: DemoResult, reported: list[dict] | None = None,
                  unreported: list[tuple[str, str]] | None = None) -> str:
    """The command line's view of a result."""
    lines = [result.title] + header_lines(result) + ["", table(row_dicts(result), columns_of(result)), ""]
    for name, rows in result.tables.items():
        lines += [name + ":", table(rows, list(rows[0].keys())) if rows else "(none)", ""]
    lines += ["Findings. " + VERDICT_RULE]
    lines += [f"  - {f}" for f in result.findings()]
    lines += [f"  * {n}" for n in result.notes]
    grids = sorted({r.grid for r in result.rows if r.grid})
    if grids:
        lines.append(f"sample grids: {Path(grids[0]).parent}")
    if reported:
        lines += ["", "What the catalog says the papers report (other datasets and hardware; for orientation):"]
        lines += [f"  - {reported_line(r)}" for r in reported]
    if unreported:
        lines += ["Papers of this demo with no reported figure in the catalog:"]
        lines += [f"  - {paper}: {why}" for paper, why in unreported]
    if result.run_id is not None:
        lines.append(f"recorded as run {result.run_id} (diffatlas results show {result.run_id})")
    return "\n".join(lines)


def reported_line(r: dict) -> str:
    """One reported figure as a sentence: value, where it was measured, against what, and where it is stated."""
    where = r["source"] + (f", {r['where']}" if r.get("where") else "")
    return (f"{r['paper']}: {r['metric']} {r['value']}{(' ' + r['unit']) if r['unit'] else ''}"
            f"{' on ' + r['dataset'] if r['dataset'] else ''}{' at ' + str(r['steps']) + ' steps' if r['steps'] else ''}"
            f"{' (' + r['hardware'] + ')' if r['hardware'] else ''}"
            f"{'; vs ' + r['baseline'] if r.get('baseline') else ''}"
            f"{'; ' + r['speed-up'] + ' faster' if r.get('speed-up') else ''} [{where}]")


def markdown_section(result: DemoResult, reported: list[dict] | None = None,
                     unreported: list[tuple[str, str]] | None = None) -> str:
    """One demo's section of a benchmark report."""
    params = ", ".join(f"`{k}={str(v).lower() if isinstance(v, bool) else fmt(v)}`" for k, v in result.params.items())
    out = [f"## {result.title}", "",
           f"Demo `{result.demo}`, run {result.created} at git `{result.git or '?'}`, {result.duration_s / 60:.1f} min, "
           f"{result.threads} torch threads, {result.dtype}. Parameters: {params}", ""]
    out += [f"- {line}" for line in header_lines(result)[1:]] + [""]
    out += [md_table(row_dicts(result), columns_of(result)), ""]
    for name, rows in result.tables.items():
        out += [f"**{name}**", "", md_table(rows, list(rows[0].keys())) if rows else "(none)", ""]
    out += ["Findings (" + VERDICT_RULE + "):", ""] + [f"- {f}" for f in result.findings()]
    out += [f"- {n}" for n in result.notes] + [""]
    if reported:
        out += ["What the catalog says the papers report:", ""] + [f"- {reported_line(r)}" for r in reported] + [""]
    else:
        out += ["(The catalog records no reported figures for these papers yet.)", ""]
    if unreported:
        out += ["Papers of this demo with no reported figure in the catalog:", ""]
        out += [f"- {paper}: {why}" for paper, why in unreported] + [""]
    return "\n".join(out)
