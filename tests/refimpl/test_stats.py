"""The paired verdict: a known shift is detected, no shift is not flagged more often than the nominal 5%."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference_impls.core import stats


def synthetic(rng, seeds: int, shift: float, common_sd: float = 20.0, diff_sd: float = 1.0):
    """Per-seed scores with a large common offset per seed ("which noises") and a small paired difference."""
    common = 100 + common_sd * rng.standard_normal(seeds)
    reference = common + diff_sd * rng.standard_normal(seeds) / math.sqrt(2)
    technique = common + shift + diff_sd * rng.standard_normal(seeds) / math.sqrt(2)
    return technique, reference


def test_a_known_shift_is_detected_despite_a_large_common_offset():
    rng = np.random.default_rng(0)
    found = [stats.paired(*synthetic(rng, 5, shift=-4.0), margin=10.0).verdict for _ in range(200)]
    # the seed-to-seed spread (20) dwarfs the shift (4); only pairing sees it
    assert found.count("better") / len(found) > 0.95
    worse = [stats.paired(*synthetic(rng, 5, shift=+4.0), margin=10.0).verdict for _ in range(200)]
    assert worse.count("worse") / len(worse) > 0.95


def test_no_shift_is_not_flagged_more_often_than_the_nominal_rate():
    rng = np.random.default_rng(1)
    trials = 4000
    for seeds in (3, 5):
        flagged = sum(stats.paired(*synthetic(rng, seeds, shift=0.0), margin=10.0).verdict in ("better", "worse")
                      for _ in range(trials))
        # nominal 5%; the binomial sd at 4000 trials is 0.34%
        assert flagged / trials < 0.065, (seeds, flagged / trials)
        assert flagged / trials > 0.035, (seeds, flagged / trials)  # and the interval is not needlessly wide


def test_interval_covers_the_true_shift_at_the_nominal_rate():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(2000):
        iv = stats.paired(*synthetic(rng, 4, shift=2.5), margin=10.0)
        hits += iv.low <= 2.5 <= iv.high
    assert 0.93 < hits / 2000 < 0.97


def test_no_shift_within_the_margin_reads_no_detectable_difference():
    rng = np.random.default_rng(3)
    iv = stats.paired(*synthetic(rng, 5, shift=0.0, diff_sd=0.5), margin=5.0)
    assert iv.verdict == "no detectable difference" and iv.low < 0 < iv.high


def test_wide_intervals_and_single_seeds_are_inconclusive():
    rng = np.random.default_rng(4)
    iv = stats.paired(*synthetic(rng, 3, shift=0.0, diff_sd=30.0), margin=1.0)
    assert iv.verdict in ("inconclusive", "better", "worse")
    wide = [stats.paired(*synthetic(rng, 3, shift=0.0, diff_sd=30.0), margin=1.0).verdict for _ in range(100)]
    assert wide.count("inconclusive") > 80  # never a confident "no difference" from a wide interval
    one = stats.paired([1.0], [2.0], margin=10.0)
    assert one.verdict == "inconclusive" and math.isnan(one.low) and one.seeds == 1


def test_decide_and_shape_checks():
    assert stats.decide(0.1, 2.0, 5.0) == "worse"
    assert stats.decide(-2.0, -0.1, 5.0) == "better"
    assert stats.decide(-1.0, 1.0, 5.0) == "no detectable difference"
    assert stats.decide(-6.0, 1.0, 5.0) == "inconclusive"
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired([1.0, 2.0], [1.0], margin=1.0)
    assert stats.margin_for(80.0) == pytest.approx(8.0) and stats.margin_for(0.5, floor_sd=3.0) == 3.0
