"""Drawing for the dashboard: boxes over pages and crop galleries, as RGB arrays.

Nothing here imports Streamlit, so these functions are tested like any other
image code. Boxes follow :mod:`comicfaces.boxes`: ``(x0, y0, x1, y1)`` in
pixels, ``x1`` and ``y1`` exclusive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from comicfaces.imageio import ImageLoadError, load_image

logger = logging.getLogger(__name__)

#: Colours of the overlays, as RGB.
PANEL_COLOUR = (37, 99, 235)
TEXT_COLOUR = (220, 38, 38)
BALLOON_COLOUR = (234, 179, 8)
TRUTH_COLOUR = (22, 163, 74)

#: Qualitative palette (Tableau 10) for detectors, clusters and identities.
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


def palette_colour(index: int) -> tuple[int, int, int]:
    """Return colour ``index`` of :data:`PALETTE`, cycling."""
    return PALETTE[index % len(PALETTE)]


def colour_hex(colour: tuple[int, int, int]) -> str:
    """Return ``#rrggbb`` for an RGB tuple."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def fit_image(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale ``image`` so its longer side is at most ``max_side``; return it and the scale."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)), scale


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        # Pillow before 10.1 has only the fixed bitmap font.
        return ImageFont.load_default()


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    colours: Sequence[tuple[int, int, int]] | tuple[int, int, int],
    labels: Sequence[str] | None = None,
    *,
    scale: float = 1.0,
    fill_alpha: int = 0,
    dashed: bool = False,
) -> np.ndarray:
    """Return a copy of ``image`` with outlined, optionally labelled boxes.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8
        RGB image to draw on.
    boxes : array-like of shape (n, 4)
        Boxes in the pixels of the original page; multiplied by ``scale``
        to reach ``image`` pixels.
    colours : RGB tuple or sequence of them
        One colour for every box, or one per box.
    labels : sequence of str, optional
        Text drawn in a filled tag at the top-left corner of each box.
    fill_alpha : int
        Opacity (0-255) of a fill in the box colour; 0 draws outlines only.
    dashed : bool
        Draw dashed outlines (used for ground truth).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale
    if isinstance(colours, tuple) and len(colours) == 3 and isinstance(colours[0], (int, np.integer)):
        colours = [colours] * len(boxes)
    base = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    line = max(2, round(max(base.size) / 400))
    font = _font(max(11, round(max(base.size) / 70)))

    for index, (box, colour) in enumerate(zip(boxes, colours)):
        x0, y0, x1, y1 = (float(v) for v in box)
        x1, y1 = max(x0, x1 - 1), max(y0, y1 - 1)
        if fill_alpha:
            draw.rectangle((x0, y0, x1, y1), fill=(*colour, fill_alpha))
        if dashed:
            _dashed_rectangle(draw, (x0, y0, x1, y1), colour, line)
        else:
            draw.rectangle((x0, y0, x1, y1), outline=(*colour, 255), width=line)
        if labels is not None and labels[index]:
            text = str(labels[index])
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            tag_x, tag_y = x0, max(0.0, y0 - (bottom - top) - 2 * line)
            draw.rectangle((tag_x, tag_y, tag_x + right - left + 2 * line, tag_y + bottom - top + 2 * line), fill=(*colour, 230))
            draw.text((tag_x + line - left, tag_y + line - top), text, fill=(255, 255, 255, 255), font=font)

    return np.asarray(Image.alpha_composite(base, layer).convert("RGB"))


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple, colour: tuple, width: int) -> None:
    x0, y0, x1, y1 = box
    dash = 4 * width
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = float(np.hypot(end[0] - start[0], end[1] - start[1]))
        steps = max(1, int(length // (2 * dash)))
        for step in range(steps + 1):
            t0 = min(1.0, step * 2 * dash / max(length, 1e-9))
            t1 = min(1.0, (step * 2 + 1) * dash / max(length, 1e-9))
            draw.line(
                (start[0] + (end[0] - start[0]) * t0, start[1] + (end[1] - start[1]) * t0,
                 start[0] + (end[0] - start[0]) * t1, start[1] + (end[1] - start[1]) * t1),
                fill=(*colour, 255), width=width,
            )


def draw_panels(image: np.ndarray, panels: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Draw panels with their reading-order number (the row order of ``panels``, from 1)."""
    labels = [str(index + 1) for index in range(len(panels))]
    return draw_boxes(image, panels, PANEL_COLOUR, labels, scale=scale, fill_alpha=40)


def draw_text(image: np.ndarray, text_boxes: np.ndarray, balloon_boxes: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Draw speech-balloon boxes (filled, yellow) under text-line boxes (red)."""
    image = draw_boxes(image, balloon_boxes, BALLOON_COLOUR, scale=scale, fill_alpha=60)
    return draw_boxes(image, text_boxes, TEXT_COLOUR, scale=scale)


def draw_faces(
    image: np.ndarray,
    boxes: np.ndarray,
    detectors: Sequence[str],
    scores: Sequence[float],
    detector_colours: dict[str, tuple[int, int, int]],
    *,
    scale: float = 1.0,
    truth_boxes: np.ndarray | None = None,
) -> np.ndarray:
    """Draw face boxes coloured by detector with their score, over dashed ground truth."""
    if truth_boxes is not None and len(truth_boxes):
        image = draw_boxes(image, truth_boxes, TRUTH_COLOUR, scale=scale, dashed=True)
    colours = [detector_colours.get(str(name), PALETTE[7]) for name in detectors]
    labels = [f"{score:.2f}" for score in scores]
    return draw_boxes(image, boxes, colours, labels, scale=scale)


def detector_colours(names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """Return a fixed colour per detector name, in the order given."""
    return {name: palette_colour(index) for index, name in enumerate(names)}


def thumbnail(image: np.ndarray, size: int, background: int = 255) -> np.ndarray:
    """Fit ``image`` into a ``size`` x ``size`` square, centred on a plain background."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = Image.fromarray(image).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
    )
    square = Image.new("RGB", (size, size), (background,) * 3)
    square.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return np.asarray(square)


def montage(paths: Sequence[str | Path], thumb: int = 80, columns: int = 10, pad: int = 4) -> np.ndarray:
    """Tile crop images into one RGB image, row by row.

    A crop that cannot be read is drawn as a grey square with a red cross and
    logged, so one bad file does not hide the others.
    """
    if not paths:
        raise ValueError("montage needs at least one image path")
    columns = max(1, min(columns, len(paths)))
    rows = -(-len(paths) // columns)
    canvas = np.full((rows * (thumb + pad) + pad, columns * (thumb + pad) + pad, 3), 245, dtype=np.uint8)
    for index, path in enumerate(paths):
        try:
            tile = thumbnail(load_image(path, max_side=512), thumb)
        except (ImageLoadError, FileNotFoundError) as error:
            logger.warning("crop not shown: %s", error)
            tile = _broken_tile(thumb)
        row, column = divmod(index, columns)
        y, x = pad + row * (thumb + pad), pad + column * (thumb + pad)
        canvas[y : y + thumb, x : x + thumb] = tile
    return canvas


def _broken_tile(size: int) -> np.ndarray:
    tile = Image.new("RGB", (size, size), (200, 200, 200))
    draw = ImageDraw.Draw(tile)
    draw.line((0, 0, size, size), fill=TEXT_COLOUR, width=3)
    draw.line((0, size, size, 0), fill=TEXT_COLOUR, width=3)
    return np.asarray(tile)
