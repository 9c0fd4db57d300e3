"""Text and speech balloon detection, and blanking of the lettering.

Text lines are found with the PP-OCR text detector that ships inside the
``rapidocr`` wheel (detection only: no angle classification, no recognition).
Each text box is then grown to the speech balloon or caption around it: the
connected region of the text's background colour that encloses the text,
bounded by the balloon's outline or by art of another colour. Text boxes that
share one balloon are merged into one balloon box.

:func:`blank_text` paints the lettering over with the balloon's colour, so that
later stages (face detection, features) see no glyphs.

All boxes are ``(x0, y0, x1, y1)`` in pixels of the page passed in, as in
:mod:`comicfaces.boxes`.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from comicfaces.boxes import as_boxes, box_area, iou_matrix

logger = logging.getLogger(__name__)

__all__ = [
    "Balloons",
    "FILL_MODES",
    "TextConfig",
    "TextResult",
    "balloons_found",
    "blank_text",
    "detect_text",
    "find_balloons",
    "get_text_engine",
    "line_heights",
]

#: Allowed values of :attr:`TextConfig.fill`.
FILL_MODES = ("auto", "white", "inpaint")

#: File name of the PP-OCR detection model inside the ``rapidocr`` wheel
#: (rapidocr 3.x ships ``PP-OCRv6_det_small.onnx`` in ``rapidocr/models``).
DET_MODEL_GLOB = "*det*.onnx"

#: Lower bound, per RGB channel, of the adaptive balloon colour tolerance; JPEG
#: noise around clean white fills stays within it.
MIN_COLOR_TOLERANCE = 12.0

# The engine's box_thresh and unclip_ratio are set per call on one shared
# object, so concurrent calls (Streamlit runs scripts in threads) are serialised.
_ENGINE_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextConfig:
    """Parameters of text detection, balloon growing and blanking.

    Attributes
    ----------
    enabled : bool
        Run text detection at all. When False, :func:`detect_text` returns an
        empty result and :func:`blank_text` returns a copy of the page.
    box_thresh : float
        Minimum mean text probability inside a detected box, in (0, 1). The PP-OCR
        default is 0.5; lower values find more faint or stylised lettering and
        more false boxes on art.
    unclip_ratio : float
        How far the detector grows each text kernel into a box, in (0, 5]. The
        offset distance is ``area * unclip_ratio / perimeter`` of the kernel
        polygon; 1.6 is the rapidocr default.
    max_side : int
        The page is downscaled so that its longer side is at most this many pixels
        before detection, in [64, 8000]. Boxes are returned in page pixels.
        rapidocr 3.10 itself also caps the longer side at 2000 px (its
        ``Global.max_side_len``), so larger values change nothing.
    min_text_side : int
        Text boxes with a side shorter than this many page pixels are dropped, in
        [0, 1000].
    grow_to_balloon : bool
        Grow each text box to the balloon or caption around it. When False, the
        balloon boxes are the padded text boxes.
    color_tolerance : int
        Largest difference per RGB channel, in [1, 255], between a pixel and the
        background colour of the text for the pixel to count as balloon fill.
        The tolerance used is four standard deviations of the background pixels
        around the text, clipped to [``MIN_COLOR_TOLERANCE``, this value]: tight
        on clean digital fills, looser on grainy paper.
    min_plain_fraction : float
        Share of the pixels in and just around a text box that must be within
        ``color_tolerance`` of their dominant colour, in (0, 1], for the text to
        count as lettered on a plain background (a balloon or a caption). Text on
        art fails this test and keeps its padded box.
    search_margin : float
        How far beyond its text a balloon may reach, in text line heights, in
        (0, 50]. It bounds the region examined and so the size of a balloon box.
    max_leak_fraction : float
        Largest share of the search window's edge, in (0, 1], that the balloon
        region may touch. A region touching more has leaked into a page margin or
        a plain background, and the text falls back to its padded box.
    max_area_ratio : float
        Largest ratio, in [1, 1000], of a balloon box's area to the area of the
        box around its text. A larger region is art of the balloon's colour, and
        the text falls back to its padded box.
    padding : float
        Margin added around each text box, in text line heights, in [0, 5]. Used
        for the colour sample around the text, for fallback balloon boxes and for
        the area :func:`blank_text` may paint.
    fill : str
        How :func:`blank_text` paints text. ``"auto"`` paints the glyphs in
        balloons and captions with the balloon's colour and inpaints the strokes
        of text lettered on art. ``"white"`` fills every padded text box with
        white. ``"inpaint"`` inpaints the strokes of every text box.
    """

    enabled: bool = True
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_side: int = 2000
    min_text_side: int = 4
    grow_to_balloon: bool = True
    color_tolerance: int = 40
    min_plain_fraction: float = 0.45
    search_margin: float = 3.0
    max_leak_fraction: float = 0.25
    max_area_ratio: float = 10.0
    padding: float = 0.25
    fill: str = "auto"

    def validate(self) -> "TextConfig":
        """Check every field and return ``self``.

        Raises
        ------
        ValueError
            Naming the first invalid field, its value and the allowed range.
        """
        for name in ("enabled", "grow_to_balloon"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"TextConfig.{name} must be True or False, got {value!r}")

        _check_range("box_thresh", self.box_thresh, 0.0, 1.0, low_open=True, high_open=True)
        _check_range("unclip_ratio", self.unclip_ratio, 0.0, 5.0, low_open=True)
        _check_range("max_side", self.max_side, 64, 8000, integer=True)
        _check_range("min_text_side", self.min_text_side, 0, 1000, integer=True)
        _check_range("color_tolerance", self.color_tolerance, 1, 255, integer=True)
        _check_range("min_plain_fraction", self.min_plain_fraction, 0.0, 1.0, low_open=True)
        _check_range("search_margin", self.search_margin, 0.0, 50.0, low_open=True)
        _check_range("max_leak_fraction", self.max_leak_fraction, 0.0, 1.0, low_open=True)
        _check_range("max_area_ratio", self.max_area_ratio, 1.0, 1000.0)
        _check_range("padding", self.padding, 0.0, 5.0)

        if self.fill not in FILL_MODES:
            raise ValueError(f"TextConfig.fill must be one of {', '.join(FILL_MODES)}, got {self.fill!r}")
        return self


def _check_range(
    name: str,
    value,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a number inside the given range."""
    kind = "an integer" if integer else "a number"
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not is_number or (integer and float(value) != int(value)) or not np.isfinite(value):
        raise ValueError(f"TextConfig.{name} must be {kind} in {interval}, got {value!r}")

    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        raise ValueError(f"TextConfig.{name} must be {kind} in {interval}, got {value!r}")


@dataclass
class TextResult:
    """Text and balloon boxes found on one page.

    Attributes
    ----------
    text_boxes : np.ndarray
        ``(n, 4)`` int64 axis-aligned boxes around the detected text lines, in
        page pixels. Rotated detections are replaced by their bounding boxes.
    text_scores : np.ndarray
        ``(n,)`` float64 detector score of each text box, in [0, 1].
    text_quads : np.ndarray
        ``(n, 4, 2)`` float64 corner points of each detection as the detector
        returned them (possibly rotated), in page pixels.
    balloon_boxes : np.ndarray
        ``(m, 4)`` int64 boxes of the balloons, captions or, for text on art, the
        padded text areas that hold the text.
    balloon_colors : np.ndarray
        ``(m, 3)`` uint8 RGB fill colour of each balloon: the dominant colour
        around its text.
    balloon_grown : np.ndarray
        ``(m,)`` bool, True where the box was grown to a balloon region of plain
        colour, False where it is a padded text box (text on art, or a region
        that leaked).
    text_to_balloon : np.ndarray
        ``(n,)`` int64 index into ``balloon_boxes`` of each text box's balloon.
    image_size : tuple of int
        ``(height, width)`` of the page the boxes refer to.
    """

    text_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    text_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    text_quads: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float64))
    balloon_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    balloon_colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))
    balloon_grown: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    text_to_balloon: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    image_size: tuple[int, int] = (0, 0)


# ---------------------------------------------------------------------------
# OCR engine


def _packaged_det_model() -> Path:
    """Return the path of the detection model shipped inside the rapidocr wheel."""
    import rapidocr

    model_dir = Path(rapidocr.__file__).resolve().parent / "models"
    candidates = sorted(model_dir.glob(DET_MODEL_GLOB))
    if not candidates:
        raise FileNotFoundError(
            f"no text detection model ({DET_MODEL_GLOB}) in {model_dir}; "
            "reinstall rapidocr 3.x, whose wheel contains the PP-OCR models"
        )
    return candidates[-1]


@functools.lru_cache(maxsize=1)
def get_text_engine():
    """Load the rapidocr text detector once per process.

    The model file is the one inside the ``rapidocr`` wheel, passed to rapidocr
    as an explicit ``Det.model_path``, so rapidocr never takes its download
    path. Angle classification and recognition are switched off and their
    models are never loaded.

    Returns
    -------
    rapidocr.RapidOCR
        The engine. Call it through :func:`detect_text`, which serialises calls.

    Raises
    ------
    FileNotFoundError
        If the wheel contains no detection model.
    ImportError
        If rapidocr or onnxruntime is not installed.
    """
    from rapidocr import RapidOCR

    model_path = _packaged_det_model()
    params = {
        "Global.use_det": True,
        "Global.use_cls": False,
        "Global.use_rec": False,
        # "error" silences rapidocr's warning on every page without text.
        "Global.log_level": "error",
        "Det.model_path": str(model_path),
    }
    engine = RapidOCR(params=params)
    logger.info("loaded text detector %s", model_path)
    return engine


def _run_detector(image: np.ndarray, config: TextConfig) -> tuple[np.ndarray, np.ndarray]:
    """Run the detector on an RGB image; return ``(quads (n, 4, 2), scores (n,))``."""
    engine = get_text_engine()

    # rapidocr treats an ndarray as BGR, the channel order PP-OCR was trained on.
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    with _ENGINE_LOCK:
        output = engine(
            bgr,
            use_det=True,
            use_cls=False,
            use_rec=False,
            box_thresh=float(config.box_thresh),
            unclip_ratio=float(config.unclip_ratio),
        )

    boxes = getattr(output, "boxes", None)
    scores = getattr(output, "scores", None)
    if boxes is None or scores is None or len(boxes) == 0:
        return np.zeros((0, 4, 2), np.float64), np.zeros(0, np.float64)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4, 2), np.asarray(scores, dtype=np.float64)


# ---------------------------------------------------------------------------
# Detection


def detect_text(image: np.ndarray, config: TextConfig = TextConfig()) -> TextResult:
    """Find text lines and the balloons that hold them.

    Parameters
    ----------
    image : np.ndarray
        RGB uint8 page of shape ``(height, width, 3)``.
    config : TextConfig
        Detection, growing and padding parameters.

    Returns
    -------
    TextResult
        Text boxes with scores, balloon boxes, and the text-to-balloon mapping.
        Empty when ``config.enabled`` is False or the page contains no text.

    Raises
    ------
    ValueError
        If ``config`` is invalid or ``image`` is not an RGB uint8 array.

    Notes
    -----
    The detector runs on a copy downscaled to ``config.max_side``. On a 2-core
    CPU with onnxruntime's default threads a 992 x 1401 page takes about 0.5 s
    when the machine is otherwise idle (``benchmarks/text.py`` prints the time
    per page). Growing balloons adds a few milliseconds per block of text,
    because it only examines a window of ``search_margin`` line heights around
    each block.
    """
    config.validate()
    image = _check_image(image)
    height, width = image.shape[:2]
    empty = TextResult(image_size=(height, width))
    if not config.enabled:
        return empty

    scale = min(1.0, config.max_side / max(height, width))
    work = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    quads, scores = _run_detector(work, config)
    if len(quads) == 0:
        return empty
    quads = quads / scale

    # Axis-aligned boxes around the (possibly rotated) quads, clipped to the page.
    boxes = np.stack(
        [
            np.floor(quads[:, :, 0].min(axis=1)),
            np.floor(quads[:, :, 1].min(axis=1)),
            np.ceil(quads[:, :, 0].max(axis=1)) + 1,
            np.ceil(quads[:, :, 1].max(axis=1)) + 1,
        ],
        axis=1,
    )
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    boxes = boxes.astype(np.int64)

    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = sides >= max(1, config.min_text_side)
    boxes, scores, quads = boxes[keep], scores[keep], quads[keep]
    if len(boxes) == 0:
        return empty

    # Reading order: top to bottom, then left to right.
    order = np.lexsort((boxes[:, 0], boxes[:, 1]))
    boxes, scores, quads = boxes[order], scores[order], quads[order]

    balloons = find_balloons(image, boxes, config, quads=quads)
    return TextResult(
        text_boxes=boxes,
        text_scores=scores,
        text_quads=quads,
        balloon_boxes=balloons.boxes,
        balloon_colors=balloons.colors,
        balloon_grown=balloons.grown,
        text_to_balloon=balloons.text_to_balloon,
        image_size=(height, width),
    )


def _check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous RGB uint8 array or raise ValueError."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 image of shape (height, width, 3), got dtype {array.dtype} "
            f"and shape {array.shape}; load pages with comicfaces.imageio.load_image"
        )
    if min(array.shape[:2]) < 1:
        raise ValueError(f"image is empty (shape {array.shape})")
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------------------
# Balloons


@dataclass
class Balloons:
    """Balloon boxes grown from text boxes; see :func:`find_balloons`.

    Attributes
    ----------
    boxes : np.ndarray
        ``(m, 4)`` int64 balloon boxes in page pixels.
    colors : np.ndarray
        ``(m, 3)`` uint8 RGB fill colour of each balloon.
    grown : np.ndarray
        ``(m,)`` bool, False where the box is a padded text block (text on art).
    text_to_balloon : np.ndarray
        ``(n,)`` int64 balloon index of each text box.
    """

    boxes: np.ndarray
    colors: np.ndarray
    grown: np.ndarray
    text_to_balloon: np.ndarray


@dataclass
class _BlockRegion:
    """Region grown from one block of text lines, in page pixels."""

    box: np.ndarray  # (4,) int64 box of the grown region, or the padded block box
    color: np.ndarray  # (3,) uint8 dominant colour around the text
    grown: bool  # True when ``box`` bounds a plain-colour region around the text
    window: tuple[int, int, int, int]  # search window (x0, y0, x1, y1) in page pixels
    mask: np.ndarray | None  # region mask over the window, None when not grown


def _padded_boxes(boxes, padding: float, width: int, height: int, heights=None) -> np.ndarray:
    """Grow each box by ``padding`` line heights on every side, clipped to the page.

    ``heights`` gives the line height of each box; it defaults to the box height.
    """
    b = as_boxes(boxes).copy()
    if heights is None:
        heights = b[:, 3] - b[:, 1]
    margin = np.ceil(padding * np.asarray(heights, dtype=np.float64))
    b[:, 0] -= margin
    b[:, 1] -= margin
    b[:, 2] += margin
    b[:, 3] += margin
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b.astype(np.int64)


def line_heights(boxes, quads=None) -> np.ndarray:
    """Return the text line height of each box: the short side of its detected quad.

    The axis-aligned box of a rotated line is much taller than the line, so the
    quad's short side is used where the quad is known.
    """
    b = as_boxes(boxes)
    heights = b[:, 3] - b[:, 1]
    if quads is None or len(quads) != len(b):
        return np.maximum(heights, 1.0)
    q = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)
    side_a = np.linalg.norm(q[:, 1] - q[:, 0], axis=1)
    side_b = np.linalg.norm(q[:, 3] - q[:, 0], axis=1)
    return np.maximum(np.minimum(np.minimum(side_a, side_b), heights), 1.0)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)

    def groups(self) -> list[list[int]]:
        found: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            found.setdefault(self.find(i), []).append(i)
        return list(found.values())


def _group_lines(boxes: np.ndarray, heights: np.ndarray, colors: np.ndarray, tolerance: int) -> list[list[int]]:
    """Group text lines into blocks: stacked lines of one paragraph, or words of one line.

    Lines are stacked when they overlap horizontally and the vertical gap between
    them is under one line height. Pieces of one line overlap vertically by half
    a line and are less than one line height apart. Lines whose background colours
    (``colors``, one RGB row per line) differ by more than ``tolerance`` on a
    channel are never grouped, so two touching balloons of different colours stay
    apart.
    """
    n = len(boxes)
    union = _UnionFind(n)
    for i in range(n):
        for j in range(i + 1, n):
            h = min(heights[i], heights[j])
            if max(heights[i], heights[j]) > 2.0 * h:
                continue
            if np.abs(colors[i].astype(np.int16) - colors[j].astype(np.int16)).max() > tolerance:
                continue
            overlap_x = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            overlap_y = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            stacked = overlap_x > 0 and overlap_y > -1.0 * h
            same_line = overlap_y > 0.5 * h and overlap_x > -1.0 * h
            if stacked or same_line:
                union.union(i, j)
    return union.groups()


def _dominant_color(pixels: np.ndarray, tolerance: int) -> tuple[np.ndarray, float, float]:
    """Return the dominant colour of ``pixels`` (k, 3), the share within ``tolerance`` of it, and its spread.

    The colour is the mean of the most populated cell of a 16-level-per-channel
    histogram, refined to the mean of all pixels within ``tolerance``. Around
    lettering it is the background, not the glyphs, as long as the background is
    the largest single colour there. The spread is the largest per-channel
    standard deviation of the pixels within ``tolerance`` (paper grain, JPEG
    noise, halftone).
    """
    if len(pixels) == 0:
        return np.full(3, 255, np.uint8), 0.0, 0.0
    quantised = (pixels // 16).astype(np.int64)
    keys = (quantised[:, 0] << 8) | (quantised[:, 1] << 4) | quantised[:, 2]
    best = int(np.argmax(np.bincount(keys, minlength=4096)))
    color = pixels[keys == best].mean(axis=0)

    near = np.abs(pixels.astype(np.int16) - np.round(color).astype(np.int16)).max(axis=1) <= tolerance
    color = pixels[near].mean(axis=0)
    near = np.abs(pixels.astype(np.int16) - np.round(color).astype(np.int16)).max(axis=1) <= tolerance
    spread = float(pixels[near].std(axis=0).max()) if near.any() else 0.0
    return np.clip(np.round(color), 0, 255).astype(np.uint8), float(np.mean(near)), spread


def _plain_mask(crop: np.ndarray, color: np.ndarray, tolerance: float) -> np.ndarray:
    """Return the uint8 mask of pixels within ``tolerance`` of ``color`` on every channel."""
    difference = np.abs(crop.astype(np.int16) - color.astype(np.int16)).max(axis=2)
    return (difference <= tolerance).astype(np.uint8)


def _drop_spanning_lines(plain: np.ndarray) -> np.ndarray:
    """Clear the rows and columns that are balloon colour from edge to edge of the window.

    The window reaches ``search_margin`` line heights beyond the text on every
    side, so a balloon never spans it. A line of balloon colour that does is a
    page margin, a gutter or a plain sky that the balloon touches. Clearing it
    separates the balloon from that background.
    """
    height, width = plain.shape
    plain = plain.copy()
    plain[plain.sum(axis=1) >= 0.95 * width] = 0
    plain[:, plain.sum(axis=0) >= 0.95 * height] = 0
    return plain


def _seed_label(labels: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Return the most frequent non-zero label inside ``box``, or 0 when there is none.

    Glyphs split a line's background into pieces; the piece covering most of
    the line is the one that continues into the balloon.
    """
    x0, y0, x1, y1 = box
    values = labels[y0:y1, x0:x1]
    values = values[values > 0]
    if values.size == 0:
        return 0
    return int(np.bincount(values).argmax())


def _leak_fraction(region: np.ndarray, window: tuple[int, int, int, int], page: tuple[int, int]) -> float:
    """Return the share of the window's inner edges that the region touches.

    Window edges on the page border are not counted, because a balloon may run
    off the page.
    """
    wx0, wy0, wx1, wy1 = window
    width, height = page
    touched = 0
    total = 0
    for inner, edge in (
        (wy0 > 0, region[0, :]),
        (wy1 < height, region[-1, :]),
        (wx0 > 0, region[:, 0]),
        (wx1 < width, region[:, -1]),
    ):
        if inner:
            touched += int(edge.sum())
            total += edge.size
    return touched / total if total else 0.0


def _trail_bubbles(
    labels: np.ndarray, stats: np.ndarray, region_label: int, text_mask: np.ndarray, line: float
) -> np.ndarray:
    """Return the mask of small round blobs of balloon colour trailing off a balloon.

    Thought balloons trail off in separate bubbles, which belong to the balloon
    as a tail does. A blob counts when it is round (it fills at least half its
    box, with an aspect ratio of at most 2.5) and at least a third of a line
    height across. It must also have under a quarter of the balloon's area,
    contain no text and not touch the window edge. It must lie within one line
    height of the balloon or of a bubble already taken (up to four deep).
    """
    height, width = labels.shape
    balloon_area = int(stats[region_label, cv2.CC_STAT_AREA])
    min_side = max(4.0, line / 3.0)
    candidates = []
    for label in range(1, len(stats)):
        if label == region_label:
            continue
        x, y, w, h, area = (int(v) for v in stats[label])
        if min(w, h) < min_side or area > 0.25 * balloon_area:
            continue
        if max(w, h) > 2.5 * min(w, h) or area < 0.5 * w * h:
            continue
        if x == 0 or y == 0 or x + w == width or y + h == height:
            continue
        if text_mask[y : y + h, x : x + w].any():
            continue
        candidates.append(label)
    if not candidates:
        return np.zeros(labels.shape, bool)

    candidate_mask = np.isin(labels, candidates)
    reach = max(3, int(round(line)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    taken = labels == region_label
    bubbles = np.zeros(labels.shape, bool)
    for _ in range(4):
        near = cv2.dilate(taken.astype(np.uint8), kernel).astype(bool)
        touching = np.unique(labels[near & candidate_mask & ~bubbles])
        if touching.size == 0:
            break
        new = np.isin(labels, touching)
        bubbles |= new
        taken = new
    return bubbles


def _grow_block(
    image: np.ndarray, lines: np.ndarray, line: float, config: TextConfig, page_text: np.ndarray
) -> list[tuple[list[int], _BlockRegion]]:
    """Grow one block of text lines to the plain-colour regions around it.

    ``page_text`` contains every text box of the page, so that neighbouring
    balloons are not taken for thought-balloon bubbles. Returns
    ``(line indices, region)`` pairs, one per balloon found: lines whose
    background belongs to different connected regions (neighbouring balloons
    that the grouping joined) get separate regions.
    """
    height, width = image.shape[:2]
    block = np.array([lines[:, 0].min(), lines[:, 1].min(), lines[:, 2].max(), lines[:, 3].max()], np.int64)
    x0, y0, x1, y1 = (int(v) for v in block)
    padded = _padded_boxes(block[None], config.padding, width, height, [line])[0]
    px0, py0, px1, py1 = (int(v) for v in padded)

    # The background colour is measured on the padded block: the text plus a
    # ring that, inside a balloon, is balloon fill.
    color, share, spread = _dominant_color(image[py0:py1, px0:px1].reshape(-1, 3), config.color_tolerance)
    tolerance = float(min(config.color_tolerance, max(MIN_COLOR_TOLERANCE, 4.0 * spread)))

    reach = int(np.ceil(config.search_margin * line))
    window = (max(0, x0 - reach), max(0, y0 - reach), min(width, x1 + reach), min(height, y1 + reach))
    all_lines = list(range(len(lines)))
    if not config.grow_to_balloon or share < config.min_plain_fraction:
        return [(all_lines, _BlockRegion(padded, color, False, window, None))]

    wx0, wy0, wx1, wy1 = window
    plain = _drop_spanning_lines(_plain_mask(image[wy0:wy1, wx0:wx1], color, tolerance))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(plain, connectivity=4)
    text_mask = np.zeros(plain.shape, bool)
    for tx0, ty0, tx1, ty1 in page_text:
        text_mask[max(0, ty0 - wy0) : max(0, ty1 - wy0), max(0, tx0 - wx0) : max(0, tx1 - wx0)] = True

    seeds: dict[int, list[int]] = {}
    for index, (lx0, ly0, lx1, ly1) in enumerate(lines):
        label = _seed_label(labels, (int(lx0) - wx0, int(ly0) - wy0, int(lx1) - wx0, int(ly1) - wy0))
        seeds.setdefault(label, []).append(index)

    results = []
    for label, members in seeds.items():
        member_lines = lines[members]
        member_box = np.array(
            [member_lines[:, 0].min(), member_lines[:, 1].min(), member_lines[:, 2].max(), member_lines[:, 3].max()]
        )
        fallback = _BlockRegion(
            _padded_boxes(member_box[None], config.padding, width, height, [line])[0], color, False, window, None
        )
        if label == 0:
            results.append((members, fallback))
            continue

        region = labels == label
        if _leak_fraction(region, window, (width, height)) > config.max_leak_fraction:
            results.append((members, fallback))
            continue

        region |= _trail_bubbles(labels, stats, label, text_mask, line)

        # The text boxes themselves belong to the balloon even where glyphs cover them.
        for lx0, ly0, lx1, ly1 in member_lines:
            region[int(ly0) - wy0 : int(ly1) - wy0, int(lx0) - wx0 : int(lx1) - wx0] = True
        ys, xs = np.nonzero(region)
        box = np.array([xs.min() + wx0, ys.min() + wy0, xs.max() + 1 + wx0, ys.max() + 1 + wy0], np.int64)
        if box_area(box[None])[0] > config.max_area_ratio * box_area(member_box[None])[0]:
            results.append((members, fallback))
            continue
        results.append((members, _BlockRegion(box, color, True, window, region)))
    return results


def _region_share(region: _BlockRegion, box: np.ndarray) -> float:
    """Return the share of ``box``'s pixels that lie in ``region``'s grown mask."""
    if region.mask is None:
        return 0.0
    wx0, wy0, wx1, wy1 = region.window
    x0, y0 = max(int(box[0]), wx0), max(int(box[1]), wy0)
    x1, y1 = min(int(box[2]), wx1), min(int(box[3]), wy1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    area = max(1, int((box[2] - box[0]) * (box[3] - box[1])))
    return float(region.mask[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0].sum()) / area


def _same_balloon(a: _BlockRegion, b: _BlockRegion, text_a: np.ndarray, text_b: np.ndarray) -> bool:
    """Tell whether two groups of text lines lie in one balloon.

    ``text_a`` and ``text_b`` are the boxes around each group's lines. A grown
    region contains its own text boxes, so covering half of the other group's
    text box means both groups sit in one balloon.
    """
    if a.grown and _region_share(a, text_b) >= 0.5:
        return True
    if b.grown and _region_share(b, text_a) >= 0.5:
        return True
    if not a.grown and not b.grown:
        overlap_x = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
        overlap_y = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
        return overlap_x > 0 and overlap_y > 0
    return False


def find_balloons(image: np.ndarray, text_boxes, config: TextConfig = TextConfig(), quads=None) -> Balloons:
    """Grow text boxes to the balloons around them and merge those that share one.

    Parameters
    ----------
    image : np.ndarray
        RGB uint8 page.
    text_boxes : array-like
        ``(n, 4)`` text line boxes in page pixels.
    config : TextConfig
        Growing and padding parameters.
    quads : array-like, optional
        ``(n, 4, 2)`` detected corner points of each line, used for the line
        height of rotated text. Without them the box height is used.

    Returns
    -------
    Balloons
        Balloon boxes, their colours, whether each was grown, and the balloon
        index of each text box.

    Notes
    -----
    Lines are first grouped into blocks (:func:`_group_lines`), and each
    block's dominant surrounding colour is measured. When at least
    ``min_plain_fraction`` of the padded block has that colour, the connected
    regions of that colour are labelled inside a window of ``search_margin``
    line heights around the block. Rows and columns that cross the whole
    window (page margins, gutters) are cleared first. Each line joins the
    region that covers most of its background, so a block spanning two
    neighbouring balloons splits again. A region is rejected, and its lines
    keep their padded box, when it touches more than ``max_leak_fraction`` of
    the window's edge or its box exceeds ``max_area_ratio`` times the box of
    its text. Small round blobs of the same colour near a region (the bubbles
    of a thought balloon) join it. Regions that contain each other's text are
    merged.

    The colour tolerance is four standard deviations of the background pixels,
    clipped to [``MIN_COLOR_TOLERANCE``, ``color_tolerance``]. Clean digital
    fills get a tight tolerance that stops at soft art edges, grainy paper a
    looser one.

    Cost is O(n^2) in the number of lines for grouping plus one
    connected-component pass per block over its window. Balloons whose text the
    detector missed (a lone "..." or "?!") are not found, and tails that leave
    the window are cut at its edge. A short word in a roomy balloon can exceed
    ``max_area_ratio`` and keep its padded box.
    """
    config.validate()
    image = _check_image(image)
    height, width = image.shape[:2]
    boxes = as_boxes(text_boxes).astype(np.int64)
    n = len(boxes)
    if n == 0:
        return Balloons(np.zeros((0, 4), np.int64), np.zeros((0, 3), np.uint8), np.zeros(0, bool), np.zeros(0, np.int64))

    heights = line_heights(boxes, quads)
    padded = _padded_boxes(boxes, config.padding, width, height, heights)
    line_colors = np.array(
        [_dominant_color(image[y0:y1, x0:x1].reshape(-1, 3), config.color_tolerance)[0] for x0, y0, x1, y1 in padded]
    )
    blocks = _group_lines(boxes, heights, line_colors, config.color_tolerance)

    # Units: groups of lines with one grown region (or one fallback box) each.
    unit_lines: list[list[int]] = []
    unit_regions: list[_BlockRegion] = []
    for block in blocks:
        line = float(np.median(heights[block]))
        for members, region in _grow_block(image, boxes[block], line, config, boxes):
            unit_lines.append([block[k] for k in members])
            unit_regions.append(region)
    unit_text = np.array(
        [[boxes[m, 0].min(), boxes[m, 1].min(), boxes[m, 2].max(), boxes[m, 3].max()] for m in unit_lines], np.int64
    )

    union = _UnionFind(len(unit_lines))
    for a in range(len(unit_lines)):
        for b in range(a + 1, len(unit_lines)):
            if _same_balloon(unit_regions[a], unit_regions[b], unit_text[a], unit_text[b]):
                union.union(a, b)

    groups = sorted(union.groups(), key=lambda g: (unit_text[g, 1].min(), unit_text[g, 0].min()))
    balloon_boxes, colors, grown = [], [], []
    text_to_balloon = np.zeros(n, np.int64)
    for index, members in enumerate(groups):
        member_boxes = np.stack([unit_regions[u].box for u in members])
        balloon_boxes.append(
            [member_boxes[:, 0].min(), member_boxes[:, 1].min(), member_boxes[:, 2].max(), member_boxes[:, 3].max()]
        )
        grown_members = [u for u in members if unit_regions[u].grown]
        largest = max(grown_members or members, key=lambda u: box_area(unit_text[u : u + 1])[0])
        colors.append(unit_regions[largest].color)
        grown.append(bool(grown_members))
        for u in members:
            text_to_balloon[unit_lines[u]] = index

    return Balloons(
        np.asarray(balloon_boxes, np.int64).reshape(-1, 4),
        np.asarray(colors, np.uint8).reshape(-1, 3),
        np.asarray(grown, bool),
        text_to_balloon,
    )


# ---------------------------------------------------------------------------
# Blanking


def blank_text(image: np.ndarray, result: TextResult, config: TextConfig = TextConfig()) -> np.ndarray:
    """Return a copy of the page with the detected lettering painted over.

    Parameters
    ----------
    image : np.ndarray
        RGB uint8 page that ``result`` was computed on.
    result : TextResult
        Output of :func:`detect_text` for this page.
    config : TextConfig
        ``fill``, ``padding`` and ``color_tolerance`` choose what is painted; see
        :class:`TextConfig`.

    Returns
    -------
    np.ndarray
        Cleaned RGB uint8 copy of ``image``.

    Raises
    ------
    ValueError
        If ``config`` is invalid or ``result`` was computed on a page of another size.

    Notes
    -----
    With ``fill="auto"``, only glyph pixels inside a balloon are painted, with
    the balloon's colour. Glyph pixels are the pixels of the padded text boxes
    that are not balloon colour but are enclosed by it (holes of the balloon
    region), grown by one pixel to cover anti-aliased edges. Outlines, tails and the art
    around the balloon stay untouched; a glyph that touches the balloon's
    outline is not enclosed and stays. Thin lines longer than two line heights
    (an outline piece enclosed where a balloon opens into a page margin) are
    not painted either. Text on art (balloon boxes that were not grown) is
    removed with OpenCV's Telea inpainting over the pixels of its padded box
    that differ from the box's dominant colour, which repaints the strokes from
    the surrounding art. On busy art this also smooths some art detail inside
    the box.
    """
    config.validate()
    image = _check_image(image)
    height, width = image.shape[:2]
    cleaned = image.copy()
    if not config.enabled or len(result.text_boxes) == 0:
        return cleaned
    if tuple(result.image_size) != (height, width):
        raise ValueError(
            f"text result is for a {result.image_size[1]}x{result.image_size[0]} page but the image is "
            f"{width}x{height}; run detect_text on this image first"
        )

    heights = line_heights(result.text_boxes, result.text_quads)
    padded = _padded_boxes(result.text_boxes, config.padding, width, height, heights)

    if config.fill == "white":
        for x0, y0, x1, y1 in padded:
            cleaned[y0:y1, x0:x1] = 255
        return cleaned

    inpaint_mask = np.zeros((height, width), np.uint8)
    for balloon in range(len(result.balloon_boxes)):
        lines = np.nonzero(result.text_to_balloon == balloon)[0]
        if lines.size == 0:
            continue
        if config.fill == "auto" and bool(result.balloon_grown[balloon]):
            color = result.balloon_colors[balloon]
            _paint_glyphs(cleaned, image, padded[lines], heights[lines], color, config)
            continue
        for x0, y0, x1, y1 in padded[lines]:
            inpaint_mask[y0:y1, x0:x1] |= _stroke_mask(image[y0:y1, x0:x1], config.color_tolerance)

    if inpaint_mask.any():
        inpaint_mask = cv2.dilate(inpaint_mask, np.ones((3, 3), np.uint8))
        bgr = cv2.cvtColor(cleaned, cv2.COLOR_RGB2BGR)
        bgr = cv2.inpaint(bgr, inpaint_mask * 255, 3, cv2.INPAINT_TELEA)
        cleaned = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cleaned


def _stroke_mask(pixels: np.ndarray, tolerance: int) -> np.ndarray:
    """Return the uint8 mask of pixels that differ from the dominant colour of ``pixels``."""
    color, _, _ = _dominant_color(pixels.reshape(-1, 3), tolerance)
    return 1 - _plain_mask(pixels, color, tolerance)


def _paint_glyphs(
    cleaned: np.ndarray,
    image: np.ndarray,
    padded: np.ndarray,
    heights: np.ndarray,
    color: np.ndarray,
    config: TextConfig,
) -> None:
    """Paint, in place, the glyphs of one balloon's text lines with the balloon colour."""
    x0, y0 = int(padded[:, 0].min()), int(padded[:, 1].min())
    x1, y1 = int(padded[:, 2].max()), int(padded[:, 3].max())
    crop = image[y0:y1, x0:x1]

    # Same adaptive tolerance as the growing step, measured on this crop.
    _, _, spread = _dominant_color(crop.reshape(-1, 3), config.color_tolerance)
    tolerance = float(min(config.color_tolerance, max(MIN_COLOR_TOLERANCE, 4.0 * spread)))
    plain = _plain_mask(crop, color, tolerance)

    # Glyphs are the holes of the balloon-colour region: not balloon colour,
    # and not connected to the crop border through other non-balloon pixels.
    outside = np.pad(1 - plain, 1, constant_values=1)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(outside, connectivity=4)
    border_label = labels[0, 0]
    holes = (labels != border_label) & (outside == 1)

    # Thin lines much longer than a text line are outline pieces, not glyphs.
    line = float(np.median(heights))
    for label in range(1, count):
        _, _, w, h, _ = (int(v) for v in stats[label])
        if max(w, h) > 2 * line and min(w, h) < 0.25 * line:
            holes[labels == label] = False
    holes = holes[1:-1, 1:-1]

    in_text = np.zeros(plain.shape, bool)
    for bx0, by0, bx1, by1 in padded:
        in_text[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = True
    paint = cv2.dilate(holes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & in_text
    cleaned[y0:y1, x0:x1][paint] = color


# ---------------------------------------------------------------------------
# Evaluation


def balloons_found(predicted, truth, iou_threshold: float = 0.5, min_cover: float = 0.5) -> np.ndarray:
    """Tell, for each ground-truth balloon box, whether the predicted boxes found it.

    A true balloon counts as found when one predicted box overlaps it with IoU
    of at least ``iou_threshold``, or when the union of all predicted boxes
    covers at least ``min_cover`` of its area. The union rule credits a balloon
    covered by several boxes (a long balloon whose lines grew separately). The
    IoU rule credits a box somewhat larger than the truth (a balloon grown a
    little into the art around it).

    Parameters
    ----------
    predicted : array-like
        ``(m, 4)`` predicted balloon boxes.
    truth : array-like
        ``(n, 4)`` ground-truth balloon boxes.
    iou_threshold : float
        IoU at which one predicted box alone finds a balloon.
    min_cover : float
        Covered share of a balloon's area at which the union finds it.

    Returns
    -------
    np.ndarray
        ``(n,)`` bool.
    """
    predicted = as_boxes(predicted)
    truth = as_boxes(truth)
    found = np.zeros(len(truth), bool)
    if len(truth) == 0 or len(predicted) == 0:
        return found

    found |= iou_matrix(truth, predicted).max(axis=1) >= iou_threshold
    for index, (x0, y0, x1, y1) in enumerate(np.round(truth).astype(np.int64)):
        if found[index] or x1 <= x0 or y1 <= y0:
            continue
        covered = np.zeros((y1 - y0, x1 - x0), bool)
        for px0, py0, px1, py1 in np.round(predicted).astype(np.int64):
            covered[max(py0, y0) - y0 : max(min(py1, y1) - y0, 0), max(px0, x0) - x0 : max(min(px1, x1) - x0, 0)] = True
        found[index] = covered.mean() >= min_cover
    return found
