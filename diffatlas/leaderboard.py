"""The measured leaderboard: every technique in the results store against its own full-cost baseline.

One entry per technique row (and per equal-cost row, marked as such) of every stored run:

* **speed-up**: the run's own full-cost row's median wall time per sample over this row's, both measured
  in the same run on the same machine (so machine load inflates both; the ratio is what is comparable);
* **cost ratio**: what the demo counts besides time, full-cost over this row: NFE (solvers, schedules,
  distillation), FLOPs (caching, pruning, backbones), weight bytes (quantization), or "time only" when
  none of them changes (runtimes);
* **quality change** against that full-cost row: the paired FD difference with its 95% interval over the
  shared noise seeds (the run's stored comparison; for a row the demo did not compare, the same paired
  interval computed here from the stored per-seed FD, `reference_impls.core.stats.paired`); for a run on
  a user's own model (a fidelity run), the row's PSNR against the full-cost output from the same noise
  (higher is closer), which already is a comparison with that row;
* the **equal-cost verdict**: the run's comparison of the technique with its equal-cost baseline.

An FD change depends on the substrate model and on the sample size, and a wall-time ratio on the device,
so entries are only ranked against entries of the same *group* (quality metric, model, sample size,
device): the Pareto front (most speed-up, least quality loss) is computed within each group, and readers
show groups apart. Nothing here imports torch or Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Iterable, Optional

from reference_impls.core import stats
from reference_impls.core.result import DemoResult, Row

from .results import run_from

# Metrics a leaderboard entry can rank by: lower is better for the distances, higher for the fidelities.
LOWER_IS_BETTER = {"fd": True, "kid": True, "psnr": False, "ssim": False}
METRIC_NAMES = {"fd": "FD", "kid": "KID x1000", "psnr": "PSNR dB", "ssim": "SSIM"}
# The costs a demo counts, in the order a tie is broken: (row field, name).
COSTS = (("nfe", "NFE"), ("flops_per_sample", "FLOPs"), ("weight_bytes", "weight bytes"))
TIME_ONLY = "time only"
UNCHANGED = 0.05  # a count within 5% of the baseline's is not what the technique saves (quanto W8: FLOPs x1.03)
RANKED_ROLES = ("technique", "equal-cost")
HOW_TO_FILL = ("no runs in the results store yet; fill it with `diffatlas demo run <demo>`, a grid with "
               "`diffatlas sweep ...`, or the committed CPU runs with `diffatlas results import benchmarks/results/`")


@dataclass
class Entry:
    """One measured row against its run's full-cost baseline (None where the run does not tell)."""

    demo: str
    method: str
    role: str                          # "technique" or "equal-cost"
    run_id: Optional[int]
    uid: Optional[str]
    created: str
    device: str
    device_type: str
    host: str                          # the machine it ran on, else who recorded or imported it (results.run_from)
    model: str                         # "substrate:<key>" or "user:<class>:<key>"
    mode: str
    seed: int
    nodes: tuple[str, ...]
    papers: tuple[str, ...]
    reference: str                     # the full-cost row compared against
    speedup: Optional[float]           # reference ms/sample over this row's
    timing_unreliable: bool            # this row's or the reference's repeats spread more than the harness allows
    cost: str                          # which count the technique saves: NFE, FLOPs, weight bytes, or time only
    cost_ratio: Optional[float]        # reference count over this row's, for `cost`
    nfe_ratio: Optional[float]
    flops_ratio: Optional[float]
    weight_ratio: Optional[float]
    metric: Optional[str]              # the quality metric: fd, or psnr/ssim for a user's model
    change: Optional[float]            # quality difference, technique - reference (psnr/ssim: the row's own score)
    ci_low: Optional[float]
    ci_high: Optional[float]
    verdict: str
    value: Optional[float]
    reference_value: Optional[float]
    n_samples: Optional[int]
    seeds: Optional[int]
    paired: str                        # "stored" (the run's comparison), "computed" (here, from per-seed values),
                                       # "agreement" (psnr/ssim against the full-cost output), or ""
    equal_cost: str                    # the equal-cost row compared against ("" for an equal-cost row itself)
    equal_cost_verdict: str
    equal_cost_change: Optional[float]
    pareto: bool = False

    @property
    def loss(self) -> Optional[float]:
        """Quality lost against the full-cost row (positive is worse), whichever way the metric points."""
        if self.change is None or self.metric is None:
            return None
        return self.change if LOWER_IS_BETTER.get(self.metric, True) else -self.change

    @property
    def group(self) -> str:
        """The entries this one may be ranked against: same quality metric, model, sample size and device."""
        return group_label(self.metric, self.n_samples, self.model, self.device)

    def to_json(self) -> dict:
        return dict(asdict(self), nodes=list(self.nodes), papers=list(self.papers), group=self.group)


def group_label(metric: Optional[str], n_samples: Optional[int], model: str, device: str) -> str:
    name = METRIC_NAMES.get(metric or "", metric or "no quality metric")
    return f"{name}, {n_samples or '?'} samples, {model}, {device}"


# -- from stored results to entries ------------------------------------------------------
@dataclass
class Board:
    """The leaderboard of one store: its entries, and the runs it could not read (old harness) with why."""

    entries: list[Entry]
    runs: int
    skipped: list[tuple[Optional[int], str]] = field(default_factory=list)


def collect(results: Iterable[dict]) -> Board:
    """The entries of every result (`ResultsStore.results()`); a run the current harness cannot read is skipped and named."""
    entries, skipped, runs = [], [], 0
    for data in results:
        runs += 1
        try:
            result = DemoResult.from_json(data)
        except (ValueError, TypeError, KeyError) as exc:
            skipped.append((data.get("run_id") if isinstance(data, dict) else None, str(exc)))
            continue
        entries += entries_of(result, data)
    mark_pareto(entries)
    return Board(entries, runs, skipped)


def entries_of(result: DemoResult, data: dict) -> list[Entry]:
    """One entry per technique and equal-cost row of one run."""
    rows = {r.method: r for r in result.rows}
    metric = quality_metric(result)
    out = []
    for row in result.rows:
        if row.role not in RANKED_ROLES:
            continue
        ref = rows.get(full_cost_of(result, row.method))
        if ref is None:
            continue
        out.append(_entry(result, data, row, ref, metric))
    return out


def quality_metric(result: DemoResult) -> str:
    """fd when the run scored FD against the data set; psnr for a fidelity run (a user's model, no data set)."""
    if result.anchors.get("fidelity") or (result.model.get("source") == "user"
                                          and not any(_finite(r.fd) for r in result.rows)):
        return "psnr"
    return "fd"


def full_cost_of(result: DemoResult, method: str, seen: frozenset = frozenset()) -> Optional[str]:
    """The full-cost row `method` is measured against.

    The run's own full-cost comparison of it; else (an equal-cost row) the full-cost reference of the technique
    whose equal-cost baseline it is; else the run's baseline (its first full-cost row).
    """
    for c in result.comparisons:
        if c.technique == method and c.reference_role == "full-cost":
            return c.reference
    for c in result.comparisons:
        if c.reference == method and c.reference_role == "equal-cost" and c.technique not in seen | {method}:
            return full_cost_of(result, c.technique, seen | {method})
    return result.baseline or None


def _entry(result: DemoResult, data: dict, row: Row, ref: Row, metric: str) -> Entry:
    quality = _quality(result, row, ref, metric)
    equal = _comparison(result, row.method, "equal-cost", metric)
    cost, cost_ratio, ratios = cost_of(row, ref)
    return Entry(
        demo=result.demo, method=row.method, role=row.role, run_id=data.get("run_id", result.run_id),
        uid=data.get("uid"), created=result.created, device=result.device, device_type=result.device_type,
        host=run_from(data),
        model=model_label(result.model), mode=result.mode, seed=int(data.get("seed") or 0),
        nodes=tuple(result.nodes), papers=tuple(result.papers), reference=ref.method,
        speedup=_ratio(ref.ms_per_sample, row.ms_per_sample),
        timing_unreliable=bool(row.timing_unreliable or ref.timing_unreliable),
        cost=cost, cost_ratio=cost_ratio, nfe_ratio=ratios["nfe"], flops_ratio=ratios["flops_per_sample"],
        weight_ratio=ratios["weight_bytes"], metric=metric, **quality,
        equal_cost="" if row.role == "equal-cost" else (equal.reference if equal else ""),
        equal_cost_verdict="is the equal-cost baseline" if row.role == "equal-cost" else (equal.verdict if equal else ""),
        equal_cost_change=equal.difference if equal else None)


def model_label(model: dict) -> str:
    """'substrate:<key>' for the project's model, 'user:<class>:<key>' for a user's own diffusers model."""
    if model.get("source") == "user":
        return f"user:{model.get('class', '?')}:{model.get('key', '?')}"
    return f"substrate:{model.get('key', '?')}"


def cost_of(row: Row, ref: Row) -> tuple[str, Optional[float], dict]:
    """Which count the row saves against the reference (the one that changes most), its ratio, and every ratio."""
    ratios = {name: _ratio(getattr(ref, name), getattr(row, name)) for name, _ in COSTS}
    changed = [(abs(math.log(ratios[name])), label, ratios[name]) for name, label in COSTS
               if ratios[name] and abs(math.log(ratios[name])) > math.log(1 + UNCHANGED)]
    if not changed:
        return TIME_ONLY, None, ratios
    best = max(changed, key=lambda c: c[0])  # max keeps the first of a tie: NFE before FLOPs before bytes
    return best[1], best[2], ratios


def _quality(result: DemoResult, row: Row, ref: Row, metric: str) -> dict:
    """The quality change of `row` against `ref`: the stored paired comparison, else the same interval from per-seed values."""
    if not LOWER_IS_BETTER.get(metric, True):
        return _agreement(row, metric)
    c = _comparison(result, row.method, "full-cost", metric, reference=ref.method)
    if c is not None:
        return dict(change=c.difference, ci_low=c.ci_low, ci_high=c.ci_high, verdict=c.verdict,
                    value=c.technique_value, reference_value=c.reference_value, n_samples=c.n_samples,
                    seeds=c.seeds, paired="stored")
    tech_seeds, ref_seeds = row.get(f"{metric}_seeds"), ref.get(f"{metric}_seeds")
    if tech_seeds and ref_seeds and len(tech_seeds) == len(ref_seeds) and all(map(_finite, tech_seeds + ref_seeds)):
        margin = stats.margin_for(ref.get(metric), result.anchors.get(f"{metric}_floor_sd", 0.0))
        iv = stats.paired(tech_seeds, ref_seeds, margin)
        return dict(change=iv.difference, ci_low=iv.low, ci_high=iv.high, verdict=iv.verdict, value=row.get(metric),
                    reference_value=ref.get(metric), n_samples=row.n_samples, seeds=iv.seeds, paired="computed")
    return dict(change=None, ci_low=None, ci_high=None, verdict="", value=row.get(metric),
                reference_value=ref.get(metric), n_samples=row.n_samples, seeds=row.seeds, paired="")


def _agreement(row: Row, metric: str) -> dict:
    """A fidelity row's PSNR/SSIM: already its agreement with the full-cost output from the same noise, so the
    'change' is the score itself (higher is closer), with the 95% t-interval of its mean over the seeds."""
    seeds = [v for v in (row.get(f"{metric}_seeds") or []) if _finite(v)]
    value = row.get(metric)
    if not _finite(value):
        return dict(change=None, ci_low=None, ci_high=None, verdict="", value=None, reference_value=None,
                    n_samples=row.n_samples, seeds=len(seeds), paired="")
    half = stats.t_quantile(len(seeds) - 1) * stats.standard_error(seeds) if len(seeds) > 1 else None
    return dict(change=value, ci_low=value - half if half is not None else None,
                ci_high=value + half if half is not None else None, verdict="", value=value, reference_value=None,
                n_samples=row.n_samples, seeds=len(seeds), paired="agreement")


def _comparison(result: DemoResult, method: str, role: str, metric: str, reference: Optional[str] = None):
    for c in result.comparisons:
        if (c.technique == method and c.reference_role == role and c.metric == metric
                and (reference is None or c.reference == reference)):
            return c
    return None


def _ratio(numerator, denominator) -> Optional[float]:
    if not (_finite(numerator) and _finite(denominator)) or numerator <= 0 or denominator <= 0:
        return None
    return float(numerator) / float(denominator)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- the Pareto front ------------------------------------------------------------------------
def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the points (speed-up, loss) no other point beats on both (at least as fast and as good, better on one).

    Sorted by speed-up, fastest first (best quality first among equals), a point is on the front when its
    loss is below every faster point's; an exact duplicate of a front point is on it too.
    """
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    front, best, last = set(), math.inf, None
    for i in order:
        if points[i][1] < best or points[i] == last:
            front.add(i)
            best, last = points[i][1], points[i]
    return front


def mark_pareto(entries: list[Entry]) -> None:
    """Set `pareto` on each entry on its group's front; entries without a speed-up or a quality change are never on it."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        e.pareto = False
        if e.speedup is not None and e.loss is not None:
            groups.setdefault(e.group, []).append(e)
    for members in groups.values():
        for i in pareto_front([(e.speedup, e.loss) for e in members]):
            members[i].pareto = True


# -- filters -----------------------------------------------------------------------------------
@dataclass
class Filters:
    """What a reader narrows the board to; None keeps everything."""

    device: Optional[str] = None       # a device type (cpu, cuda) or part of the device's name
    model: Optional[str] = None        # part of the model label (substrate:<key>, user:<class>:<key>)
    node: Optional[str] = None         # a taxonomy node, "tree:node" or "node" in any tree; its subtree counts
    demo: Optional[str] = None
    mode: Optional[str] = None

    def active(self) -> list[tuple[str, str]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]


def node_matches(nodes: Iterable[str], wanted: str) -> bool:
    """Whether a demo filed under `nodes` belongs to `wanted` or its subtree (node ids are dotted paths)."""
    for node in nodes:
        candidate = node if ":" in wanted else node.partition(":")[2]
        if candidate == wanted or candidate.startswith(wanted + "."):
            return True
    return False


def _keeps(name: str, wanted: str, e: Entry) -> bool:
    wanted_low = wanted.lower()
    if name == "device":
        return wanted_low == e.device_type.lower() or wanted_low in e.device.lower()
    if name == "model":
        return wanted_low in e.model.lower()
    if name == "node":
        return node_matches(e.nodes, wanted)
    return getattr(e, name) == wanted


def apply(entries: list[Entry], filters: Filters) -> tuple[list[Entry], list[tuple[str, str, int]]]:
    """The entries every filter keeps, the Pareto front recomputed among them, and (filter, value, entries left) per filter."""
    kept, counts = [e for e in entries], []
    for name, wanted in filters.active():
        kept = [e for e in kept if _keeps(name, wanted, e)]
        counts.append((name, wanted, len(kept)))
    kept = [Entry(**{f.name: getattr(e, f.name) for f in fields(Entry)}) for e in kept]  # copies: the board keeps its marks
    mark_pareto(kept)
    return kept, counts


def choices(entries: list[Entry]) -> dict[str, list[str]]:
    """The values each filter can take on these entries (for the app's widgets)."""
    return {"device": sorted({e.device_type for e in entries} | {e.device for e in entries}),
            "model": sorted({e.model for e in entries}), "demo": sorted({e.demo for e in entries}),
            "mode": sorted({e.mode for e in entries}), "node": sorted({n for e in entries for n in e.nodes})}


# -- tables ----------------------------------------------------------------------------------
COLUMNS = ["pareto", "demo", "method", "role", "run_id", "created", "device", "device_type", "host", "model", "mode",
           "seed", "reference", "speedup", "timing_unreliable", "cost", "cost_ratio", "nfe_ratio", "flops_ratio",
           "weight_ratio", "metric", "change", "ci_low", "ci_high", "verdict", "value", "reference_value", "n_samples",
           "seeds", "paired", "equal_cost", "equal_cost_verdict", "equal_cost_change", "group", "nodes", "papers", "uid"]


def frame(entries: list[Entry]):
    """The entries as a pandas DataFrame (COLUMNS; nodes and papers joined by '; '), best speed-up first per group."""
    import pandas as pd

    rows = [dict(e.to_json(), nodes="; ".join(e.nodes), papers="; ".join(e.papers)) for e in entries]
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["group", "speedup"], ascending=[True, False], na_position="last", kind="stable",
                          ignore_index=True)


def to_csv(entries: list[Entry]) -> str:
    return frame(entries).to_csv(index=False)


def reported_beside(catalog, entries: list[Entry]) -> list[dict]:
    """The catalog's reported figures of the papers behind these entries' demos, one row per figure, with the demo."""
    from .explore import reported_figures

    seen, rows = set(), []
    for e in entries:
        for pid in e.papers:
            if (e.demo, pid) in seen:
                continue
            seen.add((e.demo, pid))
            rows += [dict(figure, demo=e.demo, paper_id=pid) for figure in reported_figures(catalog, [pid])]
    return rows
