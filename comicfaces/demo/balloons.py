"""Speech balloons and caption boxes with lettered text for demo pages.

Text is drawn with Pillow's built-in default font (``ImageFont.load_default``),
which ships inside Pillow, so no font file is needed. With FreeType available
it is a scalable sans-serif face. Without FreeType, Pillow falls back to a
small fixed-size bitmap font, and the balloons shrink to fit it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["CAPTIONS", "DIALOGUE", "Balloon", "draw_balloons", "font", "layout_text"]

DIALOGUE = (
    "WHERE DID YOU PUT THE MAP?",
    "I TOLD YOU, IT IS IN THE CAR!",
    "WE HAVE TEN MINUTES BEFORE THE TRAIN LEAVES.",
    "DID ANYONE SEE WHERE THE CAT WENT?",
    "THIS IS THE WORST PICNIC EVER.",
    "LOOK! THE LIGHTS ARE ON AGAIN.",
    "I THINK WE ARE BEING FOLLOWED.",
    "HAVE YOU TRIED TURNING IT OFF AND ON?",
    "NOBODY TOUCHES MY SANDWICH.",
    "WAIT FOR ME!",
    "THAT WAS CLOSE.",
    "HOW DID YOU GET IN HERE?",
    "THE LIBRARY CLOSES AT SIX.",
    "I FOUND THE KEY UNDER THE MAT.",
    "ARE YOU SURE THIS IS THE RIGHT STREET?",
    "MY GRANDMOTHER BUILT THIS CLOCK.",
    "RUN! IT IS COMING BACK!",
    "WE NEED A BIGGER BOAT.",
    "SOMEBODY ATE ALL THE COOKIES.",
    "I WILL EXPLAIN EVERYTHING LATER.",
    "WHY IS THE DOOR OPEN?",
    "THE SIGNAL CAME FROM THE OLD TOWER.",
    "KEEP YOUR VOICE DOWN.",
    "GOOD MORNING, EVERYONE!",
    "HAS ANYONE SEEN MY GLASSES?",
    "THIS NEVER HAPPENED, UNDERSTOOD?",
    "THE RAIN WILL STOP SOON.",
    "I KNEW IT WAS YOU ALL ALONG.",
    "TAKE THE LEFT TUNNEL.",
    "WHO LEFT THE LIGHTS ON?",
    "WE ARE GOING TO BE LATE AGAIN.",
    "HOLD THE LADDER STEADY!",
    "THE PACKAGE ARRIVED THIS MORNING.",
    "PLEASE TELL ME YOU BROUGHT SNACKS.",
    "NOT ANOTHER PUZZLE!",
    "I CAN HEAR MUSIC UPSTAIRS.",
    "THAT BRIDGE WAS NOT THERE YESTERDAY.",
    "DO YOU SMELL SMOKE?",
    "HURRY UP, THE SHOW STARTS AT EIGHT.",
    "FINALLY, SOME PEACE AND QUIET.",
)

CAPTIONS = (
    "MEANWHILE, DOWNTOWN...",
    "THE NEXT MORNING.",
    "LATER THAT NIGHT.",
    "AT THE OLD LIBRARY.",
    "TEN MINUTES EARLIER.",
    "SOMEWHERE IN THE PARK.",
    "BACK AT THE APARTMENT.",
    "THAT SAME AFTERNOON.",
)

_INK = (20, 20, 20)
_OUTLINE = 3
_LINE_SPACING = 1.25
#: Bounding ellipse semi-axis over the text half-size, so a text rectangle
#: fits inside (sqrt(2) is the exact bound for a rectangle's corners).
_ELLIPSE_FACTOR = 1.42


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Return Pillow's default font at ``size`` pixels (fixed size without FreeType)."""
    return ImageFont.load_default(size=size)


def _text_width(text: str, face) -> int:
    left, _, right, _ = face.getbbox(text)
    return int(math.ceil(right - left))


def _line_height(face) -> int:
    _, top, _, bottom = face.getbbox("HQgy")
    return int(math.ceil((bottom - top) * _LINE_SPACING))


def layout_text(text: str, face, max_width: int) -> tuple[list[str], int, int]:
    """Wrap ``text`` greedily to ``max_width`` pixels.

    Returns ``(lines, width, height)`` of the text block. A single word wider
    than ``max_width`` stays on its own line.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and _text_width(trial, face) > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    width = max((_text_width(line, face) for line in lines), default=0)
    return lines, width, _line_height(face) * len(lines)


@dataclass
class Balloon:
    """A speech balloon or caption box placed on a panel.

    Attributes
    ----------
    kind : str
        ``"speech"`` (ellipse or rounded box with a tail) or ``"caption"``
        (rectangle, no tail).
    box : tuple of int
        Body of the balloon ``(x0, y0, x1, y1)`` in panel pixels, tail excluded.
    text : str
        The words, with lines joined by spaces.
    lines : list of str
        The wrapped lines as drawn.
    font_size : int
        Font size in pixels.
    shape : str
        ``"ellipse"``, ``"rounded"`` or ``"rectangle"``.
    tail : tuple of float or None
        Tip of the tail in panel pixels, or None.
    """

    kind: str
    box: tuple
    text: str
    lines: list
    font_size: int
    shape: str
    tail: tuple | None = None


def balloon_size(lines_width: int, lines_height: int, shape: str, padding: int) -> tuple[int, int]:
    """Return the outer width and height of a balloon around a text block."""
    if shape == "ellipse":
        return (
            int(math.ceil((lines_width / 2 + padding) * _ELLIPSE_FACTOR * 2)),
            int(math.ceil((lines_height / 2 + padding) * _ELLIPSE_FACTOR * 2)),
        )
    return lines_width + 2 * padding + 2 * _OUTLINE, lines_height + 2 * padding + 2 * _OUTLINE


def _rounded_points(x0, y0, x1, y1, radius, n=10) -> np.ndarray:
    radius = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)
    corners = [
        (x1 - radius, y0 + radius, -90, 0),
        (x1 - radius, y1 - radius, 0, 90),
        (x0 + radius, y1 - radius, 90, 180),
        (x0 + radius, y0 + radius, 180, 270),
    ]
    points = []
    for cx, cy, start, stop in corners:
        t = np.radians(np.linspace(start, stop, n))
        points.append(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1))
    return np.concatenate(points)


def _outline_points(balloon: Balloon, inset: float = 0.0) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in balloon.box)
    x0, y0, x1, y1 = x0 + inset, y0 + inset, x1 - 1 - inset, y1 - 1 - inset
    if balloon.shape == "ellipse":
        t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
        return np.stack([(x0 + x1) / 2 + (x1 - x0) / 2 * np.cos(t), (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(t)], axis=1)
    if balloon.shape == "rounded":
        return _rounded_points(x0, y0, x1, y1, radius=min(x1 - x0, y1 - y0) * 0.3)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def tail_polygon(balloon: Balloon) -> np.ndarray | None:
    """Return the three corners of the tail triangle, or None without a tail."""
    if balloon.tail is None:
        return None
    x0, y0, x1, y1 = balloon.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    tip = np.asarray(balloon.tail, np.float64)
    direction = tip - (cx, cy)
    length = float(np.hypot(*direction)) or 1.0
    unit = direction / length
    normal = np.array([-unit[1], unit[0]])
    # The base sits inside the body, so the white fill hides its inner edges.
    base_center = np.array([cx, cy]) + unit * 0.55 * min(x1 - x0, y1 - y0) / 2
    half_base = 0.12 * min(x1 - x0, y1 - y0) + 4
    return np.array([base_center + normal * half_base, tip, base_center - normal * half_base])


def _fixed(points) -> np.ndarray:
    return np.round(np.asarray(points) * 16).astype(np.int32).reshape(-1, 1, 2)


def draw_balloons(canvas: np.ndarray, balloons: list[Balloon]) -> np.ndarray:
    """Draw balloons, tails and text on an RGB panel and return the new array.

    Outlines are drawn first and white fills on top, so a tail joins its
    balloon without a line across the joint.
    """
    canvas = canvas.copy()
    white = (255, 255, 255)
    for balloon in balloons:
        body = _outline_points(balloon)
        tail = tail_polygon(balloon)
        fill = (255, 250, 205) if balloon.kind == "caption" else white
        cv2.fillPoly(canvas, [_fixed(body)], _INK, cv2.LINE_AA, 4)
        if tail is not None:
            cv2.fillPoly(canvas, [_fixed(tail)], _INK, cv2.LINE_AA, 4)
            cv2.polylines(canvas, [_fixed(tail)], True, _INK, _OUTLINE * 2, cv2.LINE_AA, 4)
        cv2.fillPoly(canvas, [_fixed(_outline_points(balloon, inset=_OUTLINE))], fill, cv2.LINE_AA, 4)
        if tail is not None:
            cv2.fillPoly(canvas, [_fixed(tail)], fill, cv2.LINE_AA, 4)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for balloon in balloons:
        face = font(balloon.font_size)
        line_height = _line_height(face)
        x0, y0, x1, y1 = balloon.box
        top = (y0 + y1) / 2 - line_height * len(balloon.lines) / 2
        for index, line in enumerate(balloon.lines):
            width = _text_width(line, face)
            left, bbox_top, _, _ = face.getbbox(line)
            x = (x0 + x1) / 2 - width / 2 - left
            y = top + index * line_height - bbox_top + (line_height - line_height / _LINE_SPACING) / 2
            draw.text((round(x), round(y)), line, fill=_INK, font=face)
    return np.asarray(image).copy()
