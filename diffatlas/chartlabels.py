"""Where to put each point's text label on a small scatter chart so that labels do not cover each other.

Plotly draws a point's text at one of nine positions around it and never moves
it out of the way, so neighbouring methods (3.2 and 3.3 ms per sample at the
same FD) print on top of each other. `label_positions` picks, point by point, the
position whose estimated text box overlaps least with the labels already placed,
the markers and their error bars: a greedy placement, enough for the ten or so
points of a demo result.
"""

from __future__ import annotations

import math

CANDIDATES = ("top center", "bottom center", "middle right", "middle left", "top right", "top left",
              "bottom right", "bottom left")
CHAR_PX, LINE_PX, GAP_PX, MARKER_PX = 6.5, 14.0, 7.0, 6.0  # 12 px text, 11 px markers


def _scale(values: list[float], log: bool, size: float, extent: list[float] = ()) -> tuple[list[float], float]:
    """Data values to pixels along an axis of `size` pixels whose range also covers `extent` (error bars, lines
    drawn on the chart), with Plotly's few per cent of padding; and the pixels per data unit (linear axes)."""
    def axis(v):
        return math.log10(v) if log else v
    everything = [axis(v) for v in [*values, *extent] if not log or v > 0]
    lo, hi = min(everything), max(everything)
    pad = (hi - lo) * 0.06 or 1.0
    per_unit = size / (hi - lo + 2 * pad)
    return [(axis(v) - lo + pad) * per_unit for v in values], per_unit


def _box(position: str, x: float, y: float, width: float) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a label of `width` pixels at `position` around the point (x, y)."""
    vertical, horizontal = position.split()
    if horizontal == "center":
        left = x - width / 2
    elif horizontal == "right":
        left = x + (GAP_PX if vertical == "middle" else 0)
    else:
        left = x - width - (GAP_PX if vertical == "middle" else 0)
    bottom = {"top": y + GAP_PX, "bottom": y - GAP_PX - LINE_PX, "middle": y - LINE_PX / 2}[vertical]
    return left, bottom, left + width, bottom + LINE_PX


def _overlap(a: tuple, b: tuple) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def label_positions(xs: list[float], ys: list[float], texts: list[str], errors: list[float] | None = None,
                    log_x: bool = False, log_y: bool = False, extent_y: list[float] = (), width: float = 620,
                    height: float = 330) -> list[str]:
    """One Plotly textposition per point, chosen so labels overlap labels, markers and error bars as little as can be.

    `errors` are the points' y error bars; `extent_y` other y values the chart shows (a reference line), so the
    estimated pixel positions match the axis Plotly draws.
    """
    if not xs:
        return []
    errors = [e if e is not None and e == e else 0.0 for e in (errors or [0.0] * len(ys))]
    bars = [y + sign * e for y, e in zip(ys, errors) for sign in (-1, 1) if e]
    px, _ = _scale(list(xs), log_x, width)
    py, per_unit = _scale(list(ys), log_y, height, [*bars, *extent_y])
    obstacles = [(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in zip(px, py)]
    if not log_y:
        obstacles += [(x - 2, y - e * per_unit, x + 2, y + e * per_unit) for x, y, e in zip(px, py, errors) if e]
    chosen: dict[int, str] = {}
    placed: list[tuple] = []
    for i in sorted(range(len(px)), key=lambda k: (-py[k], px[k])):  # top of the chart first
        label_width = CHAR_PX * len(str(texts[i]))

        def cost(position: str) -> float:
            box = _box(position, px[i], py[i], label_width)
            outside = max(0.0, -box[0]) + max(0.0, box[2] - width) + max(0.0, box[3] - height) + max(0.0, -box[1])
            return (sum(_overlap(box, other) for other in placed) * 3 + sum(_overlap(box, o) for o in obstacles)
                    + outside * LINE_PX)

        best = min(CANDIDATES, key=cost)  # ties keep the earlier, plainer position
        chosen[i] = best
        placed.append(_box(best, px[i], py[i], label_width))
    return [chosen[i] for i in range(len(px))]
