"""Labels beside scattered points that avoid each other, the points and their error bars (the compute figure's)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pipeline.report.figures.style import REFERENCE_COLOR


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
    pix = ax.transData.transform(np.asarray(xy, dtype=float))
    radius = 6.0
    point_boxes = [(x - radius, y - radius, x + radius, y + radius) for x, y in pix]
    for x, low, high in bars:
        (bx, by0), (_, by1) = ax.transData.transform([(x, low), (x, high)])
        point_boxes.append((bx - 4, min(by0, by1), bx + 4, max(by0, by1)))
    near = [(7, 5), (7, -5), (-7, 5), (-7, -5), (7, 16), (7, -16), (-7, 16), (-7, -16)]
    far = [(22, 10), (22, -10), (-22, 10), (-22, -10), (0, 26), (0, -26), (22, 28), (22, -28), (-22, 28), (-22, -28)]
    offsets = near + far  # a far label gets a leader line to its point
    placed: list[tuple[float, float, float, float]] = []
    axes_box = ax.get_window_extent(renderer)

    def annotate(text: str, x: float, y: float, dx: float, dy: float, is_ref: bool, leader: bool = False):
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

    def overlap(a, b) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    for (x, y), (text, is_ref) in sorted(zip(xy, labels, strict=True), key=lambda item: item[0][0]):
        best = None
        for dx, dy in offsets:
            ann = annotate(text, x, y, dx, dy, is_ref)
            e = ann.get_window_extent(renderer)
            box = (e.x0 - 1, e.y0 - 1, e.x1 + 1, e.y1 + 1)
            cost = sum(overlap(box, b) for b in placed) + sum(overlap(box, b) for b in point_boxes)
            outside = max(0.0, axes_box.x0 - box[0]) + max(0.0, box[2] - axes_box.x1)
            outside += max(0.0, axes_box.y0 - box[1]) + max(0.0, box[3] - axes_box.y1)
            cost += 50 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box, (dx, dy))
            else:
                ann.remove()
            if cost == 0:
                break
        _, ann, box, (dx, dy) = best
        if (dx, dy) in far:
            ann.remove()
            annotate(text, x, y, dx, dy, is_ref, leader=True)
        placed.append(box)
