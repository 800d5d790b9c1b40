"""The one schema every demo returns and every reader reads (torch-free).

A demo's `run()` returns a `DemoResult`: measured `Row`s (one per method), the
paired `Comparison`s of techniques with their baselines, the metric anchors,
and notes. The command line, the app, the benchmark report and the results
store all read this type, so a column or a verdict is defined once.
Verdict sentences are generated from the `Comparison` items (`finding`),
never written by hand in a demo.

Roles: "full-cost" (the expensive baseline the technique wants to match),
"equal-cost" (the baseline given the technique's budget), "technique", and
"reference" (a control or an extra point that is neither).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Literal, Optional

HARNESS_VERSION = 2

Role = Literal["full-cost", "equal-cost", "technique", "reference"]
ROLES: tuple[str, ...] = ("full-cost", "equal-cost", "technique", "reference")
Verdict = Literal["better", "worse", "no detectable difference", "inconclusive"]
METRIC_LABELS = {"fd": "FD", "kid": "KID (x1000)", "psnr": "PSNR (dB)", "ssim": "SSIM"}
HIGHER_IS_BETTER = ("psnr", "ssim")  # agreement with the full-cost output (a user's model); FD and KID: lower is better

# Columns a reader shows by default, in order (the CLI, the app and the benchmark report).
RESULT_COLUMNS = ("method", "role", "nfe", "spacing", "schedule", "ms_per_sample", "time_spread", "speedup",
                  "flops_per_sample", "latency_ms", "fd", "fd_se", "kid", "kid_se", "psnr", "psnr_se", "ssim", "ssim_se",
                  "confidence", "coverage",
                  "peak_mem_mb")


@dataclass
class Row:
    """One method, measured over every seed of the run."""

    method: str
    role: str
    nfe: float
    nfe_expected: Optional[float]
    n_samples: int
    seeds: int
    fd: float                      # mean over seeds
    fd_se: float                   # standard error of that mean over seeds
    fd_seeds: list[float]
    kid: float                     # KID x 1000, mean over seeds
    kid_se: float
    kid_seeds: list[float]
    confidence: float              # mean max-softmax of the digits classifier
    coverage: int                  # classes with at least a fifth of their fair share
    class_entropy: float
    ms_per_sample: float           # median over repeats of wall time / samples
    ms_per_sample_all: list[float]
    net_ms_per_sample: float       # median over repeats of time inside the network / samples
    time_spread: float             # (max - min) / median of ms_per_sample over repeats
    timing_unreliable: bool
    overhead_share: float          # share of wall time outside the network
    latency_ms: Optional[float]    # one sample alone (batch 1), end to end
    flops_per_sample: Optional[float]
    parameters: int
    weight_bytes: int
    peak_mem_mb: float
    peak_mem_kind: str
    speedup: Optional[float] = None      # full-cost ms_per_sample / this
    nfe_ratio: Optional[float] = None
    flops_ratio: Optional[float] = None
    precision: Optional[float] = None
    recall: Optional[float] = None
    grid: Optional[str] = None
    # fidelity (a user's model, no classifier): agreement with the full-cost row's output from the same noise,
    # mean and standard error over seeds; None on the full-cost row itself (the reference) and in classifier runs
    psnr: Optional[float] = None
    psnr_se: Optional[float] = None
    psnr_seeds: list = field(default_factory=list)
    ssim: Optional[float] = None
    ssim_se: Optional[float] = None
    ssim_seeds: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def flat(self) -> dict:
        """Every field and every extra at one level (for tables)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def get(self, key: str, default=None):
        if key in self.extra:
            return self.extra[key]
        return getattr(self, key, default) if key != "extra" else default


@dataclass
class Comparison:
    """A technique against a reference on one metric, paired over shared noise seeds."""

    technique: str
    reference: str
    reference_role: str
    metric: str                    # "fd" or "kid" (lower is better), "psnr" or "ssim" (higher is better)
    technique_value: float
    reference_value: float
    difference: float              # technique - reference
    ci_low: float
    ci_high: float
    verdict: str
    margin: float                  # "no detectable difference" needs the interval within +-margin
    seeds: int
    n_samples: int
    interval: str = "95% paired t-interval over seeds"
    context: str = ""


@dataclass
class DemoResult:
    rows: list[Row]
    comparisons: list[Comparison]
    anchors: dict
    baseline: str                  # the full-cost row's label
    equal_cost: str                # what the equal-cost baseline is
    model: dict
    notes: list[str] = field(default_factory=list)      # prose that is not a verdict
    tables: dict = field(default_factory=dict)          # extra tables: name -> list of plain rows
    checks: dict = field(default_factory=dict)
    # stamped by the registry after run():
    demo: str = ""
    title: str = ""
    mode: str = ""
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)         # device, dtype, compile, threads as requested
    nodes: list = field(default_factory=list)
    papers: list = field(default_factory=list)
    device: str = ""
    device_type: str = ""
    threads: int = 0
    dtype: str = "fp32"
    compiled: bool = False
    versions: dict = field(default_factory=dict)
    git: Optional[str] = None
    created: str = ""
    duration_s: float = 0.0
    out_dir: str = ""
    classifier: dict = field(default_factory=dict)
    seed: int = 0                                       # base noise seed (noise seeds 1000 * seed + k)
    machine: dict = field(default_factory=dict)         # where it executed: environment.machine_info()
    run_id: Optional[int] = None
    harness: int = HARNESS_VERSION

    @classmethod
    def of(cls, rows: list[Row], comparisons: list[Comparison], anchors: dict, *, equal_cost: str, model: dict,
           notes: Optional[list[str]] = None, tables: Optional[dict] = None) -> "DemoResult":
        baseline = next((r.method for r in rows if r.role == "full-cost"), rows[0].method if rows else "")
        checks = {"nfe_counted_equals_expected": all(r.nfe_expected is None or r.nfe == r.nfe_expected for r in rows),
                  "timing_unreliable_rows": [r.method for r in rows if r.timing_unreliable]}
        return cls(rows=rows, comparisons=comparisons, anchors=anchors, baseline=baseline, equal_cost=equal_cost,
                   model=model, notes=list(notes or []), tables=dict(tables or {}), checks=checks)

    def row(self, method: str) -> Row:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(method)

    def findings(self) -> list[str]:
        """One sentence per (technique, reference) pair, generated from the comparisons."""
        pairs: dict[tuple[str, str], dict[str, Comparison]] = {}
        for c in self.comparisons:
            pairs.setdefault((c.technique, c.reference), {})[c.metric] = c
        by = {r.method: r for r in self.rows}
        return [finding(list(m.values()), by.get(t), by.get(ref)) for (t, ref), m in pairs.items()]

    def to_json(self) -> dict:
        return json_safe(asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> "DemoResult":
        if not isinstance(data, dict) or data.get("harness") != HARNESS_VERSION:
            raise ValueError("this run was recorded by an older version of the harness (no paired comparisons); "
                             "run the demo again to see it in the current form")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["rows"] = [Row(**{k: v for k, v in r.items() if k in {f.name for f in fields(Row)}})
                          for r in data.get("rows", [])]
        kwargs["comparisons"] = [Comparison(**c) for c in data.get("comparisons", [])]
        return cls(**kwargs)


ROLE_WORDS = {"full-cost": "full-cost baseline", "equal-cost": "equal-cost baseline", "reference": "control"}


DECIMALS = {"fd": 1, "psnr": 2, "ssim": 3}  # others: 2


def _v(metric: str, x: float) -> str:
    return f"{x:.{DECIMALS.get(metric, 2)}f}"


def describe(c: Comparison) -> str:
    """The verdict of one comparison in words, with its numbers."""
    name, v = METRIC_LABELS.get(c.metric, c.metric), (lambda x: _v(c.metric, x))
    d = DECIMALS.get(c.metric, 2)
    values = f"{v(c.technique_value)} vs {v(c.reference_value)}"
    ci = f"95% CI {c.ci_low:+.{d}f} to {c.ci_high:+.{d}f}"
    if c.verdict in ("better", "worse"):
        small = "; smaller than the \u00b1" + v(c.margin) + " tolerance" if abs(c.difference) < c.margin else ""
        return f"{name} {c.verdict} ({values}; difference {c.difference:+.{d}f}, {ci}{small})"
    if c.verdict == "no detectable difference":
        return f"{name} no detectable difference ({values}; difference within \u00b1{v(max(abs(c.ci_low), abs(c.ci_high)))})"
    if c.seeds < 2:
        return f"{name} inconclusive: one noise seed gives no interval ({values})"
    return (f"{name} inconclusive at this size ({values}; {ci} is wider than \u00b1{v(c.margin)}: "
            "more samples or seeds would resolve it)")


def finding(comparisons: list[Comparison], tech: Optional[Row] = None, ref: Optional[Row] = None) -> str:
    """'A vs B [role; speed]: FD ...; KID ...', from the comparisons of one pair."""
    first = comparisons[0]
    bits = [ROLE_WORDS.get(first.reference_role, first.reference_role)]
    if tech is not None and ref is not None and tech.ms_per_sample > 0:
        speed = ref.ms_per_sample / tech.ms_per_sample
        flag = " (timing unreliable)" if tech.timing_unreliable or ref.timing_unreliable else ""
        bits.append(f"{speed:.1f}x {'faster' if speed >= 1 else 'the time'}{flag}" if speed >= 1
                    else f"{1 / speed:.1f}x slower{flag}")
    if first.context:
        bits.append(first.context)
    order = {"fd": 0, "kid": 1, "psnr": 2, "ssim": 3}
    parts = [describe(c) for c in sorted(comparisons, key=lambda c: order.get(c.metric, 9))]
    return f"{first.technique} vs {first.reference} [{'; '.join(bits)}]: " + "; ".join(parts)


def json_safe(value):
    """JSON-safe: NaN/inf become None, paths and numpy scalars become plain values."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)
