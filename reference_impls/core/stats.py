"""Paired statistics: every technique is compared with its baseline on shared noise seeds.

Why paired. All methods of a run start from the same noise (seed s gives the
same n noises to every method), so their per-seed scores share a large
common part ("which n noises"): the seed-to-seed spread of one method mostly
measures that, not the uncertainty of a difference between two methods. A
difference is therefore estimated from the per-seed differences
d_s = score(technique, s) - score(reference, s).

Which interval, and why: a paired Student t-interval over the seeds,
mean(d) +- t_{0.975, S-1} * sd(d) / sqrt(S). Each seed is an independent
draw of n noises shared by both methods, so the d_s are independent and the
t-interval is exact for normal d_s and robust for a handful of seeds; a
bootstrap of samples within a seed was tried and rejected: resampling with
replacement distorts a covariance estimated from a few hundred samples in 78
dimensions, and the FD intervals it gave were several times wider than the
seed-to-seed scatter of the differences. With one seed there is no interval.

Verdict (lower is better for FD and KID):
* "better" / "worse": the 95% interval excludes zero;
* "no detectable difference": it includes zero and lies within +-margin,
  where margin is a tenth of the reference's value (`EQUIVALENCE`) or, for a
  reference near zero (KID), the metric's own floor spread, whichever is
  larger: a difference the run could have seen and a paper would call one;
* "inconclusive": it includes zero but is wider than that (too few samples
  or seeds at this size), or there is only one seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

EQUIVALENCE = 0.10
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    difference: float
    low: float
    high: float
    verdict: str
    margin: float
    seeds: int


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, df))


def paired(technique: Sequence[float], reference: Sequence[float], margin: float) -> Interval:
    """Paired difference technique - reference over seeds, its 95% t-interval and the verdict."""
    t, r = np.asarray(technique, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if t.shape != r.shape or t.ndim != 1:
        raise ValueError(f"paired values need one value per seed for both methods, got {t.shape} and {r.shape}")
    d = t - r
    diff = float(d.mean())
    if len(d) < 2:
        return Interval(diff, float("nan"), float("nan"), "inconclusive", margin, len(d))
    half = t_quantile(len(d) - 1) * float(d.std(ddof=1)) / np.sqrt(len(d))
    lo, hi = diff - half, diff + half
    return Interval(diff, lo, hi, decide(lo, hi, margin), margin, len(d))


def decide(lo: float, hi: float, margin: float) -> str:
    if lo > 0:
        return "worse"
    if hi < 0:
        return "better"
    if max(abs(lo), abs(hi)) <= margin:
        return "no detectable difference"
    return "inconclusive"


def margin_for(reference_value: float, floor_sd: float = 0.0) -> float:
    return max(EQUIVALENCE * abs(reference_value), floor_sd)


def standard_error(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
