"""Panel grids for demo pages: rows of panels separated by white gutters."""

from __future__ import annotations

import numpy as np

__all__ = ["panel_grid"]

#: Smallest panel side in pixels, so every panel fits a face and a balloon.
MIN_PANEL_SIDE = 220


def _split(total: int, parts: int, gutter: int, rng: np.random.Generator, minimum: int) -> list[tuple[int, int]]:
    """Split ``total`` pixels into ``parts`` random lengths separated by gutters.

    Returns ``(start, stop)`` pairs. Lengths vary by up to about a third and
    never drop below ``minimum``; when they cannot all fit, they are equal.
    """
    usable = total - gutter * (parts - 1)
    weights = rng.uniform(0.75, 1.35, size=parts)
    lengths = np.floor(usable * weights / weights.sum()).astype(int)
    if lengths.min() < minimum:
        lengths = np.full(parts, usable // parts)
    lengths[-1] += usable - lengths.sum()

    spans = []
    start = 0
    for length in lengths:
        spans.append((start, start + int(length)))
        start += int(length) + gutter
    return spans


def panel_grid(
    width: int,
    height: int,
    rng: np.random.Generator,
    margin: int = 40,
    gutter: int = 20,
) -> list[tuple[int, int, int, int]]:
    """Draw a random grid of panel boxes for one page.

    A page has 2 to 4 rows and each row 1 to 3 panels, as many as the page
    size allows with panels of at least :data:`MIN_PANEL_SIDE` pixels.

    Returns
    -------
    list of tuple
        Panel boxes ``(x0, y0, x1, y1)`` in reading order (rows top to bottom,
        panels left to right), ``x1, y1`` exclusive.
    """
    inner_w = width - 2 * margin
    inner_h = height - 2 * margin
    max_rows = max(1, min(4, (inner_h + gutter) // (MIN_PANEL_SIDE + gutter)))
    max_cols = max(1, min(3, (inner_w + gutter) // (MIN_PANEL_SIDE + gutter)))

    rows = int(rng.integers(min(2, max_rows), max_rows + 1))
    panels = []
    for y0, y1 in _split(inner_h, rows, gutter, rng, MIN_PANEL_SIDE):
        columns = int(rng.integers(1, max_cols + 1))
        for x0, x1 in _split(inner_w, columns, gutter, rng, MIN_PANEL_SIDE):
            panels.append((margin + x0, margin + y0, margin + x1, margin + y1))
    return panels
