"""Labels beside scattered points that avoid each other, the points and their error bars (the compute figure's)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from pipeline.report.figures.style import REFERENCE_COLOR

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels

# Offsets of a label from its point, in points, tried in order; a far label gets a leader line to its point.
NEAR = ((7, 5), (7, -5), (-7, 5), (-7, -5), (7, 16), (7, -16), (-7, 16), (-7, -16))
FAR = ((22, 10), (22, -10), (-22, 10), (-22, -10), (0, 26), (0, -26), (22, 28), (22, -28), (-22, 28), (-22, -28))
POINT_RADIUS = 6.0  # pixels around a point that a label should not cover
BAR_HALF_WIDTH = 4  # pixels either side of an error bar


@dataclass
class _Taken:
    """What a new label should keep clear of, in display pixels."""

    marks: list[Box]  # the points and their error bars
    axes: Bbox  # a label is charged 50 per pixel it sticks out of the axes
    labels: list[Box] = field(default_factory=list)  # the labels placed so far

    def cost(self, box: Box) -> float:
        cost = sum(_overlap(box, b) for b in self.labels) + sum(_overlap(box, b) for b in self.marks)
        outside = max(0.0, self.axes.x0 - box[0]) + max(0.0, box[2] - self.axes.x1)
        outside += max(0.0, self.axes.y0 - box[1]) + max(0.0, box[3] - self.axes.y1)
        cost += 50 * outside
        return cost


def place_labels(
    fig: Figure,
    ax,
    xy: list[tuple[float, float]],
    labels: list[tuple[str, bool]],
    bars: list[tuple[float, float, float]] = (),
) -> None:
    """Annotate each point, trying a few offsets and keeping the first that overlaps no placed label, no point
    and no vertical error bar ``(x, low, high)``; failing that, the one that overlaps least."""
    renderer = fig.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # freeze the limits so data -> pixels is fixed while placing
    ax.set_ylim(ax.get_ylim())
    taken = _Taken(_mark_boxes(ax, xy, bars), ax.get_window_extent(renderer))
    for (x, y), (text, is_ref) in sorted(zip(xy, labels, strict=True), key=lambda item: item[0][0]):
        ann, box, (dx, dy) = _best_offset(ax, renderer, text, x, y, is_ref, taken)
        if (dx, dy) in FAR:
            ann.remove()
            _annotate(ax, text, x, y, dx, dy, is_ref, leader=True)
        taken.labels.append(box)


def _mark_boxes(ax, xy: list[tuple[float, float]], bars: list[tuple[float, float, float]]) -> list[Box]:
    """A square around every point and a thin box around every vertical error bar ``(x, low, high)``."""
    pix = ax.transData.transform(np.asarray(xy, dtype=float))
    r = POINT_RADIUS
    boxes = [(x - r, y - r, x + r, y + r) for x, y in pix]
    for x, low, high in bars:
        (bx, by0), (_, by1) = ax.transData.transform([(x, low), (x, high)])
        boxes.append((bx - BAR_HALF_WIDTH, min(by0, by1), bx + BAR_HALF_WIDTH, max(by0, by1)))
    return boxes


def _best_offset(ax, renderer, text: str, x: float, y: float, is_ref: bool, taken: _Taken):
    """Draw the label at each offset in turn, keep the cheapest (the first that costs nothing ends the search) and
    return it with its box and offset."""
    best = None
    for dx, dy in NEAR + FAR:
        ann = _annotate(ax, text, x, y, dx, dy, is_ref)
        e = ann.get_window_extent(renderer)
        box = (e.x0 - 1, e.y0 - 1, e.x1 + 1, e.y1 + 1)
        cost = taken.cost(box)
        if best is None or cost < best[0]:
            if best is not None:
                best[1].remove()
            best = (cost, ann, box, (dx, dy))
        else:
            ann.remove()
        if cost == 0:
            break
    _, ann, box, offset = best
    return ann, box, offset


def _annotate(ax, text: str, x: float, y: float, dx: float, dy: float, is_ref: bool, leader: bool = False):
    return ax.annotate(
        text,
        (x, y),
        xytext=(dx, dy),
        textcoords="offset points",
        ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
        va="bottom" if dy > 0 else "top",
        fontsize=8.5,
        fontweight="bold" if is_ref else "normal",
        color=REFERENCE_COLOR if is_ref else "0.15",
        zorder=5,
        arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.7, "shrinkA": 1, "shrinkB": 4} if leader else None,
    )


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0
