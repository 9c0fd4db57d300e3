"""Recurring characters of the demo comic and the code that draws their faces.

Each character has a fixed design (skin tone, hair colour and style, eye
colour, face shape, accessories, shirt colour) so that its faces look alike
across pages and differ from the other characters. :func:`draw_face` paints one
face as an RGBA sprite with a known ground-truth face box.

Faces are painted on a canonical canvas (head half-height
:data:`HEAD_HALF_HEIGHT` px) with anti-aliased OpenCV shapes, then resized with
area averaging and rotated to the requested size. The style is semi-realistic on
purpose: shaded skin, eyes with whites, irises and pupils, eyebrows, a shaded
nose and lips, because detectors trained on photographs (YuNet) find such faces
and miss flat line-art faces.

Ground-truth box convention: the box spans from the outer edge of one ear to the
outer edge of the other. Vertically it runs from the hairline to the bottom of
the chin, where the hairline is the top of the visible forehead, or where it
would be under a hat or on a bald head. Hair, hats and necks lie outside the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CHARACTERS",
    "EXPRESSIONS",
    "Character",
    "FaceSprite",
    "character_names",
    "draw_face",
    "get_character",
]

#: Half-height of the head (crown to chin) on the canonical canvas, in pixels.
HEAD_HALF_HEIGHT = 120
#: Canonical canvas size (width, height) and head centre, in pixels.
CANVAS_SIZE = (420, 460)
HEAD_CENTER = (210.0, 215.0)
#: Hairline height above the head centre, as a fraction of the head half-height.
HAIRLINE = 0.56
#: Fixed-point bits for OpenCV drawing calls, so shapes get sub-pixel positions.
_SHIFT = 4
_SCALE = 1 << _SHIFT

EXPRESSIONS = ("neutral", "smile", "grin", "open", "frown", "smirk")

HAIR_STYLES = ("short", "spiky", "long", "bob", "bald", "bun", "curly")


@dataclass(frozen=True)
class Character:
    """Design of one recurring character.

    Colours are RGB tuples of 0-255 integers.

    Attributes
    ----------
    name : str
        Identity label written to the ground truth.
    skin : tuple of int
        Base skin colour before shading.
    hair : tuple of int
        Hair, eyebrow and beard colour.
    hair_style : str
        One of :data:`HAIR_STYLES`.
    eyes : tuple of int
        Iris colour.
    shirt : tuple of int
        Colour of the shirt drawn under the face on pages.
    face_width : float
        Head half-width as a fraction of the head half-height (0.70-0.86).
    jaw : float
        Width of the jaw relative to the cheeks (0.80 pointed to 1.0 square).
    glasses : bool
        Round dark glasses frames.
    hat : tuple of int or None
        Colour of a brimmed hat, or None for no hat.
    beard : bool
        Full beard along the jaw.
    moustache : bool
        Moustache above the mouth.
    earrings : tuple of int or None
        Colour of round earrings, or None.
    """

    name: str
    skin: tuple
    hair: tuple
    hair_style: str
    eyes: tuple
    shirt: tuple
    face_width: float = 0.76
    jaw: float = 0.9
    glasses: bool = False
    hat: tuple | None = None
    beard: bool = False
    moustache: bool = False
    earrings: tuple | None = None


#: The demo cast. Every pair differs in at least two of skin tone, hair colour,
#: hair style and accessories, which helps colour histograms and HOG features
#: tell them apart.
CHARACTERS: tuple[Character, ...] = (
    Character(
        name="ada",
        skin=(247, 214, 186),
        hair=(196, 56, 32),
        hair_style="long",
        eyes=(46, 132, 60),
        shirt=(40, 90, 170),
        face_width=0.74,
        jaw=0.84,
        earrings=(235, 200, 40),
    ),
    Character(
        name="bruno",
        skin=(150, 96, 62),
        hair=(28, 22, 20),
        hair_style="bald",
        eyes=(70, 45, 25),
        shirt=(200, 60, 50),
        face_width=0.84,
        jaw=1.0,
        beard=True,
        moustache=True,
    ),
    Character(
        name="chiko",
        skin=(240, 205, 170),
        hair=(30, 30, 40),
        hair_style="spiky",
        eyes=(40, 40, 60),
        shirt=(250, 200, 40),
        face_width=0.76,
        jaw=0.86,
        glasses=True,
    ),
    Character(
        name="dora",
        skin=(198, 140, 98),
        hair=(232, 206, 110),
        hair_style="bob",
        eyes=(60, 110, 190),
        shirt=(120, 60, 150),
        face_width=0.76,
        jaw=0.86,
    ),
    Character(
        name="emil",
        skin=(236, 196, 160),
        hair=(110, 70, 40),
        hair_style="short",
        eyes=(60, 90, 140),
        shirt=(60, 140, 80),
        face_width=0.80,
        jaw=0.95,
        hat=(60, 50, 45),
        moustache=True,
    ),
    Character(
        name="fumi",
        skin=(232, 190, 150),
        hair=(150, 150, 160),
        hair_style="bun",
        eyes=(90, 60, 40),
        shirt=(230, 120, 160),
        face_width=0.78,
        jaw=0.88,
        glasses=True,
    ),
    Character(
        name="gus",
        skin=(120, 78, 52),
        hair=(40, 30, 28),
        hair_style="curly",
        eyes=(50, 35, 25),
        shirt=(240, 240, 235),
        face_width=0.80,
        jaw=0.94,
        earrings=(220, 220, 230),
    ),
)


def character_names() -> list[str]:
    """Return the names of the demo cast in a fixed order."""
    return [character.name for character in CHARACTERS]


def get_character(identity: str | Character) -> Character:
    """Return the :class:`Character` named ``identity``.

    Raises
    ------
    ValueError
        If no character has that name.
    """
    if isinstance(identity, Character):
        return identity
    for character in CHARACTERS:
        if character.name == identity:
            return character
    raise ValueError(f"unknown demo character {identity!r}; choose one of {character_names()}")


@dataclass
class FaceSprite:
    """A painted face ready to paste on a page.

    Attributes
    ----------
    rgb : numpy.ndarray
        ``(h, w, 3)`` uint8 colours.
    alpha : numpy.ndarray
        ``(h, w)`` uint8 opacity, 0 outside the drawing.
    face_box : tuple of float
        Ground-truth face box ``(x0, y0, x1, y1)`` in sprite pixels, following
        the module's box convention.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    face_box: tuple

    def __iter__(self):
        """Unpack as ``rgb, alpha, face_box = draw_face(...)``."""
        return iter((self.rgb, self.alpha, self.face_box))

    def composite(self, background=(255, 255, 255)) -> np.ndarray:
        """Return the sprite blended over a plain ``background`` colour (RGB)."""
        weight = self.alpha.astype(np.float32)[:, :, None] / 255.0
        base = np.asarray(background, np.float32)[None, None, :]
        return np.round(self.rgb * weight + base * (1.0 - weight)).astype(np.uint8)


# ----------------------------------------------------------------------------
# Drawing helpers on the canonical canvas. Points are float pixel positions;
# they are converted to OpenCV fixed point so sub-pixel placement survives.


def _fixed(points) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * _SCALE).astype(np.int32)


def _fill_poly(canvas, alpha, points, color, opacity: float = 1.0) -> None:
    """Fill a polygon on ``canvas`` and mark it opaque in ``alpha``."""
    pts = _fixed(points).reshape(-1, 1, 2)
    if opacity >= 1.0:
        cv2.fillPoly(canvas, [pts], color, cv2.LINE_AA, _SHIFT)
    else:
        layer = canvas.copy()
        cv2.fillPoly(layer, [pts], color, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(layer, opacity, canvas, 1.0 - opacity, 0.0, dst=canvas)
    if alpha is not None:
        cv2.fillPoly(alpha, [pts], 255, cv2.LINE_AA, _SHIFT)


def _polyline(canvas, points, color, thickness: int, closed: bool = False) -> None:
    pts = _fixed(points).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], closed, color, thickness, cv2.LINE_AA, _SHIFT)


def _ellipse_points(cx, cy, ax, ay, start=0.0, stop=360.0, angle=0.0, n=72) -> np.ndarray:
    t = np.radians(np.linspace(start, stop, n))
    x = ax * np.cos(t)
    y = ay * np.sin(t)
    r = math.radians(angle)
    return np.stack([cx + x * math.cos(r) - y * math.sin(r), cy + x * math.sin(r) + y * math.cos(r)], axis=1)


def _fill_ellipse(canvas, alpha, cx, cy, ax, ay, color, angle=0.0, opacity=1.0) -> None:
    _fill_poly(canvas, alpha, _ellipse_points(cx, cy, ax, ay, angle=angle), color, opacity)


def _shade(color, factor: float) -> tuple:
    return tuple(int(np.clip(round(c * factor), 0, 255)) for c in color)


def _mix(color_a, color_b, t: float) -> tuple:
    return tuple(int(round(a * (1 - t) + b * t)) for a, b in zip(color_a, color_b))


def _head_outline(cx, cy, half_width, half_height, jaw, start=0.0, stop=360.0, n=120) -> np.ndarray:
    """Egg-shaped head contour between two angles in degrees (clockwise on screen).

    The skull is round and the jaw narrows towards ``jaw`` times the cheek
    width at the chin. Angle 90 is the chin.
    """
    closed = start == 0.0 and stop == 360.0
    t = np.radians(np.linspace(start, stop, n, endpoint=not closed))
    s = np.sin(t)
    width = np.where(s > 0, half_width * (1.0 - (1.0 - jaw) * s**2), half_width)
    return np.stack([cx + width * np.cos(t), cy + half_height * s], axis=1)


# ----------------------------------------------------------------------------
# Face parts.


@dataclass(frozen=True)
class _Geometry:
    cx: float
    cy: float
    a: float  # head half-width
    b: float  # head half-height
    ear_w: float
    hairline: float  # y of the hairline

    @property
    def eye_y(self) -> float:
        return self.cy + 0.02 * self.b

    @property
    def chin(self) -> float:
        return self.cy + self.b

    @property
    def box(self) -> tuple:
        return (self.cx - self.a - self.ear_w, self.hairline, self.cx + self.a + self.ear_w, self.chin)


def _draw_hair_back(canvas, alpha, g: _Geometry, ch: Character) -> None:
    hair = ch.hair
    if ch.hair_style == "long":
        points = np.concatenate(
            [
                _ellipse_points(g.cx, g.cy - 0.05 * g.b, g.a * 1.22, g.b * 1.12, 180, 360, n=50),
                [[g.cx + g.a * 1.30, g.cy + 1.55 * g.b], [g.cx - g.a * 1.30, g.cy + 1.55 * g.b]],
            ]
        )
        _fill_poly(canvas, alpha, points, _shade(hair, 0.8))
    elif ch.hair_style == "bob":
        points = np.concatenate(
            [
                _ellipse_points(g.cx, g.cy - 0.05 * g.b, g.a * 1.28, g.b * 1.12, 180, 360, n=50),
                [[g.cx + g.a * 1.30, g.cy + 0.80 * g.b], [g.cx - g.a * 1.30, g.cy + 0.80 * g.b]],
            ]
        )
        _fill_poly(canvas, alpha, points, _shade(hair, 0.8))
    elif ch.hair_style == "bun":
        _fill_ellipse(canvas, alpha, g.cx, g.cy - 1.18 * g.b, 0.42 * g.a, 0.34 * g.b, _shade(hair, 0.9))
        _polyline(canvas, _ellipse_points(g.cx, g.cy - 1.18 * g.b, 0.42 * g.a, 0.34 * g.b), (20, 20, 20), 2, True)


def _draw_neck_and_ears(canvas, alpha, g: _Geometry, ch: Character) -> None:
    neck = _shade(ch.skin, 0.78)
    top = g.cy + 0.4 * g.b
    bottom = g.cy + 1.75 * g.b
    half = 0.42 * g.a
    _fill_poly(canvas, alpha, [[g.cx - half, top], [g.cx + half, top], [g.cx + half * 1.1, bottom], [g.cx - half * 1.1, bottom]], neck)
    # Shadow the chin casts on the neck.
    _fill_ellipse(canvas, None, g.cx, g.chin + 0.02 * g.b, half * 1.05, 0.16 * g.b, _shade(ch.skin, 0.6))

    for side in (-1, 1):
        ex = g.cx + side * (g.a + 0.2 * g.ear_w)
        ey = g.eye_y + 0.14 * g.b
        _fill_ellipse(canvas, alpha, ex, ey, g.ear_w * 1.2, 0.24 * g.b, _shade(ch.skin, 0.92))
        _fill_ellipse(canvas, None, ex + side * 0.15 * g.ear_w, ey, g.ear_w * 0.55, 0.14 * g.b, _shade(ch.skin, 0.72))
        _polyline(canvas, _ellipse_points(ex, ey, g.ear_w * 1.2, 0.24 * g.b, -90 if side > 0 else 90, 90 if side > 0 else 270, n=30), (40, 30, 30), 2)
        if ch.earrings is not None:
            _fill_ellipse(canvas, alpha, ex, ey + 0.3 * g.b, 0.09 * g.b, 0.09 * g.b, ch.earrings)
            _polyline(canvas, _ellipse_points(ex, ey + 0.3 * g.b, 0.09 * g.b, 0.09 * g.b), (40, 30, 30), 2, True)


def _draw_skin(canvas, alpha, g: _Geometry, ch: Character) -> None:
    """Paint the shaded face inside the head contour."""
    contour = _head_outline(g.cx, g.cy, g.a, g.b, ch.jaw)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    _fill_poly(mask, alpha, contour, 255)

    # Light falls from the upper left: brightness drops with the elliptic
    # distance from a point on the upper-left cheek, and the jaw darkens.
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = (xx - (g.cx - 0.25 * g.a)) / g.a
    dy = (yy - (g.cy - 0.25 * g.b)) / g.b
    light = 1.08 - 0.22 * (dx**2 + dy**2)
    light -= 0.10 * np.clip((yy - (g.cy + 0.6 * g.b)) / (0.4 * g.b), 0, 1)
    light = np.clip(light, 0.62, 1.12)
    skin = np.asarray(ch.skin, np.float32)[None, None, :] * light[:, :, None]
    weight = (mask.astype(np.float32) / 255.0)[:, :, None]
    blended = canvas.astype(np.float32) * (1 - weight) + np.clip(skin, 0, 255) * weight
    canvas[:] = np.round(blended).astype(np.uint8)

    # Cheeks.
    blush = _mix(ch.skin, (220, 80, 80), 0.35)
    for side in (-1, 1):
        _fill_ellipse(canvas, None, g.cx + side * 0.52 * g.a, g.cy + 0.38 * g.b, 0.2 * g.a, 0.1 * g.b, blush, opacity=0.35)


def _draw_eyes(canvas, g: _Geometry, ch: Character, expression: str, rng) -> None:
    spacing = 0.42 * g.a
    eye_w = 0.23 * g.a
    eye_h = 0.085 * g.b
    if expression == "open":
        eye_h *= 1.35
    look = float(rng.uniform(-0.25, 0.25)) * eye_w
    line = (25, 18, 18)
    brow = _shade(ch.hair, 0.7) if ch.hair_style != "bald" else _shade(ch.hair, 1.0)
    for side in (-1, 1):
        ex = g.cx + side * spacing
        ey = g.eye_y
        # Socket shadow, white, iris, pupil, highlight, upper lid.
        _fill_ellipse(canvas, None, ex, ey - 0.02 * g.b, eye_w * 1.35, eye_h * 1.9, _shade(ch.skin, 0.82), opacity=0.7)
        white = _ellipse_points(ex, ey, eye_w, eye_h)
        _fill_poly(canvas, None, white, (250, 250, 248))
        iris_r = eye_h * 0.95
        _fill_ellipse(canvas, None, ex + look, ey, iris_r, iris_r, ch.eyes)
        _fill_ellipse(canvas, None, ex + look, ey, iris_r * 0.5, iris_r * 0.5, (10, 10, 12))
        _fill_ellipse(canvas, None, ex + look - iris_r * 0.3, ey - iris_r * 0.3, iris_r * 0.2, iris_r * 0.2, (255, 255, 255))
        # Redraw the skin above and below the almond so the iris stays inside.
        upper = _ellipse_points(ex, ey, eye_w, eye_h, 180, 360, n=30)
        _polyline(canvas, upper, line, 4)
        lower = _ellipse_points(ex, ey, eye_w, eye_h, 10, 170, n=30)
        _polyline(canvas, lower, _shade(ch.skin, 0.6), 2)

        # Eyebrow: a thick arc, raised for surprise, slanted for a frown.
        raise_by = {"open": 0.10, "frown": -0.02}.get(expression, 0.0) * g.b
        tilt = {"frown": 0.05, "smirk": -0.03 * side}.get(expression, 0.0) * g.b
        bx0, bx1 = ex - side * eye_w * 1.1, ex + side * eye_w * 1.2
        by = ey - 0.20 * g.b - raise_by
        brow_points = [
            [bx0, by + 0.03 * g.b - tilt],
            [(bx0 + bx1) / 2, by - 0.02 * g.b],
            [bx1, by + 0.035 * g.b + tilt],
        ]
        _polyline(canvas, brow_points, brow, max(6, int(0.06 * g.b)))


def _draw_nose(canvas, g: _Geometry, ch: Character) -> None:
    shadow = _shade(ch.skin, 0.72)
    tip_y = g.cy + 0.36 * g.b
    # Shadow down the right side of the bridge, then the nose tip and nostrils.
    _fill_poly(
        canvas,
        None,
        [[g.cx + 0.02 * g.a, g.eye_y + 0.05 * g.b], [g.cx + 0.12 * g.a, tip_y - 0.02 * g.b], [g.cx + 0.02 * g.a, tip_y]],
        shadow,
        opacity=0.8,
    )
    _fill_ellipse(canvas, None, g.cx, tip_y + 0.02 * g.b, 0.16 * g.a, 0.06 * g.b, shadow, opacity=0.6)
    _fill_ellipse(canvas, None, g.cx - 0.02 * g.a, tip_y - 0.02 * g.b, 0.07 * g.a, 0.04 * g.b, _shade(ch.skin, 1.1), opacity=0.8)
    for side in (-1, 1):
        _fill_ellipse(canvas, None, g.cx + side * 0.08 * g.a, tip_y + 0.035 * g.b, 0.04 * g.a, 0.022 * g.b, _shade(ch.skin, 0.45))


def _draw_mouth(canvas, g: _Geometry, ch: Character, expression: str) -> None:
    lip = _mix(_shade(ch.skin, 0.8), (170, 50, 60), 0.45)
    dark = (60, 20, 25)
    my = g.cy + 0.6 * g.b
    half = 0.30 * g.a
    if expression == "neutral":
        _fill_ellipse(canvas, None, g.cx, my + 0.03 * g.b, half * 0.8, 0.045 * g.b, lip)
        _polyline(canvas, [[g.cx - half, my], [g.cx, my + 0.01 * g.b], [g.cx + half, my]], dark, 3)
    elif expression == "smile":
        points = _ellipse_points(g.cx, my - 0.04 * g.b, half, 0.1 * g.b, 20, 160, n=30)
        _fill_ellipse(canvas, None, g.cx, my + 0.04 * g.b, half * 0.75, 0.045 * g.b, lip)
        _polyline(canvas, points, dark, 4)
    elif expression == "grin":
        inner = _ellipse_points(g.cx, my - 0.03 * g.b, half * 1.05, 0.13 * g.b, 0, 180, n=30)
        _fill_poly(canvas, None, inner, dark)
        teeth = _ellipse_points(g.cx, my - 0.03 * g.b, half * 0.95, 0.06 * g.b, 0, 180, n=30)
        _fill_poly(canvas, None, teeth, (245, 245, 240))
        _polyline(canvas, inner, lip, 3, True)
    elif expression == "open":
        _fill_ellipse(canvas, None, g.cx, my + 0.02 * g.b, half * 0.55, 0.1 * g.b, dark)
        _fill_ellipse(canvas, None, g.cx, my + 0.08 * g.b, half * 0.35, 0.035 * g.b, (190, 70, 80))
        _polyline(canvas, _ellipse_points(g.cx, my + 0.02 * g.b, half * 0.55, 0.1 * g.b), lip, 4, True)
    elif expression == "frown":
        points = _ellipse_points(g.cx, my + 0.1 * g.b, half * 0.9, 0.08 * g.b, 200, 340, n=30)
        _fill_ellipse(canvas, None, g.cx, my + 0.07 * g.b, half * 0.6, 0.035 * g.b, lip)
        _polyline(canvas, points, dark, 4)
    else:  # smirk
        points = [[g.cx - half * 0.9, my + 0.01 * g.b], [g.cx + half * 0.3, my + 0.01 * g.b], [g.cx + half, my - 0.06 * g.b]]
        _fill_ellipse(canvas, None, g.cx, my + 0.04 * g.b, half * 0.7, 0.04 * g.b, lip)
        _polyline(canvas, points, dark, 4)


def _draw_hair_front(canvas, alpha, g: _Geometry, ch: Character) -> None:
    hair = ch.hair
    outline = (20, 16, 16)
    style = ch.hair_style
    if style == "bald":
        # Shine on the scalp and a dark rim where short hair would grow.
        _fill_ellipse(canvas, None, g.cx - 0.3 * g.a, g.cy - 0.78 * g.b, 0.22 * g.a, 0.08 * g.b, _shade(ch.skin, 1.25), angle=-20, opacity=0.7)
        return

    # Cap of hair over the skull that ends at the hairline.
    top = g.cy - 1.06 * g.b
    width = g.a * 1.08
    cap = np.concatenate(
        [
            _ellipse_points(g.cx, g.cy - 0.02 * g.b, width, g.b * 1.06, 180, 360, n=60),
            [[g.cx + width * 0.98, g.cy - 0.15 * g.b]],
        ]
    )
    fringe: list = []
    if style in ("short", "bun", "long", "bob", "curly"):
        # A wavy fringe from temple to temple at the hairline.
        n = 7
        xs = np.linspace(g.cx + width * 0.95, g.cx - width * 0.95, n)
        for i, x in enumerate(xs):
            dip = 0.05 * g.b if i % 2 else -0.02 * g.b
            fringe.append([x, g.hairline + dip])
        fringe.append([g.cx - width * 0.98, g.cy - 0.15 * g.b])
    elif style == "spiky":
        n = 9
        xs = np.linspace(g.cx + width * 1.02, g.cx - width * 1.02, n)
        for i, x in enumerate(xs):
            y = g.hairline + (0.08 * g.b if i % 2 else -0.04 * g.b)
            fringe.append([x, y])
        fringe.append([g.cx - width, g.cy - 0.15 * g.b])
    points = np.concatenate([cap, np.asarray(fringe, dtype=np.float64)])
    _fill_poly(canvas, alpha, points, hair)
    _polyline(canvas, points, outline, 3, True)

    if style == "spiky":
        # Spikes above the skull.
        for i in range(7):
            angle = math.radians(200 + i * 23.3)
            base = (g.cx + width * math.cos(angle), g.cy - 0.02 * g.b + g.b * 1.02 * math.sin(angle))
            tip = (g.cx + width * 1.45 * math.cos(angle), g.cy + g.b * 1.42 * math.sin(angle))
            normal = (-math.sin(angle) * 0.16 * g.a, math.cos(angle) * 0.16 * g.a)
            spike = [[base[0] - normal[0], base[1] - normal[1]], list(tip), [base[0] + normal[0], base[1] + normal[1]]]
            _fill_poly(canvas, alpha, spike, hair)
            _polyline(canvas, spike, outline, 3)
    elif style == "curly":
        # Ring of curls around the top of the head.
        for i in range(11):
            angle = math.radians(170 + i * 20)
            x = g.cx + width * 1.05 * math.cos(angle)
            y = g.cy - 0.05 * g.b + g.b * 1.05 * math.sin(angle)
            if y > g.cy - 0.05 * g.b:
                continue
            r = 0.2 * g.a
            _fill_ellipse(canvas, alpha, x, y, r, r, hair)
            _polyline(canvas, _ellipse_points(x, y, r, r, 180 + math.degrees(angle) - 270, 360 + math.degrees(angle) - 270, n=20), outline, 2)

    # Strands for texture.
    strand = _shade(hair, 1.35) if sum(hair) < 200 else _shade(hair, 0.75)
    for i in range(5):
        x = g.cx + (i - 2) * 0.28 * g.a
        _polyline(canvas, [[x, top + 0.15 * g.b], [x + 0.08 * g.a, g.cy - 0.8 * g.b], [x + 0.02 * g.a, g.hairline - 0.05 * g.b]], strand, 2)


def _draw_beard(canvas, alpha, g: _Geometry, ch: Character) -> None:
    beard = _shade(ch.hair, 1.0)
    lower = _head_outline(g.cx, g.cy, g.a, g.b * 1.04, ch.jaw, 12, 168, n=60)
    inner = _ellipse_points(g.cx, g.cy + 0.55 * g.b, 0.45 * g.a, 0.22 * g.b, 180, 0, n=30)
    points = np.concatenate([lower, inner])
    _fill_poly(canvas, alpha, points, beard, opacity=0.92)


def _draw_moustache(canvas, g: _Geometry, ch: Character) -> None:
    my = g.cy + 0.5 * g.b
    for side in (-1, 1):
        points = [
            [g.cx, my - 0.03 * g.b],
            [g.cx + side * 0.2 * g.a, my - 0.05 * g.b],
            [g.cx + side * 0.36 * g.a, my + 0.04 * g.b],
            [g.cx + side * 0.18 * g.a, my + 0.03 * g.b],
            [g.cx, my + 0.02 * g.b],
        ]
        _fill_poly(canvas, None, points, _shade(ch.hair, 0.9))


def _draw_glasses(canvas, g: _Geometry) -> None:
    frame = (30, 30, 35)
    r = 0.3 * g.a
    for side in (-1, 1):
        ex = g.cx + side * 0.42 * g.a
        _polyline(canvas, _ellipse_points(ex, g.eye_y, r, r * 0.85), frame, 5, True)
        _polyline(canvas, [[ex + side * r, g.eye_y - 0.02 * g.b], [g.cx + side * (g.a + 0.2 * g.ear_w), g.eye_y - 0.05 * g.b]], frame, 4)
    _polyline(canvas, [[g.cx - 0.42 * g.a + r, g.eye_y - 0.02 * g.b], [g.cx, g.eye_y - 0.06 * g.b], [g.cx + 0.42 * g.a - r, g.eye_y - 0.02 * g.b]], frame, 4)


def _draw_hat(canvas, alpha, g: _Geometry, color) -> None:
    outline = (20, 16, 16)
    brim_y = g.hairline + 0.02 * g.b
    crown = [
        [g.cx - g.a * 0.95, brim_y],
        [g.cx - g.a * 0.85, g.cy - 1.35 * g.b],
        [g.cx + g.a * 0.85, g.cy - 1.35 * g.b],
        [g.cx + g.a * 0.95, brim_y],
    ]
    _fill_poly(canvas, alpha, crown, color)
    _polyline(canvas, crown, outline, 3, True)
    band = [[g.cx - g.a * 0.94, brim_y - 0.16 * g.b], [g.cx + g.a * 0.94, brim_y - 0.16 * g.b], [g.cx + g.a * 0.95, brim_y], [g.cx - g.a * 0.95, brim_y]]
    _fill_poly(canvas, alpha, band, _shade(color, 0.5))
    brim = _ellipse_points(g.cx, brim_y, g.a * 1.45, 0.09 * g.b)
    _fill_poly(canvas, alpha, brim, _shade(color, 0.85))
    _polyline(canvas, brim, outline, 3, True)


def _paint_canonical(ch: Character, expression: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, _Geometry]:
    width, height = CANVAS_SIZE
    canvas = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    b = float(HEAD_HALF_HEIGHT)
    a = ch.face_width * b
    g = _Geometry(cx=HEAD_CENTER[0], cy=HEAD_CENTER[1], a=a, b=b, ear_w=0.1 * b, hairline=HEAD_CENTER[1] - HAIRLINE * b)

    _draw_hair_back(canvas, alpha, g, ch)
    _draw_neck_and_ears(canvas, alpha, g, ch)
    _draw_skin(canvas, alpha, g, ch)
    if ch.beard:
        _draw_beard(canvas, alpha, g, ch)
    _draw_nose(canvas, g, ch)
    _draw_eyes(canvas, g, ch, expression, rng)
    if ch.moustache:
        _draw_moustache(canvas, g, ch)
    _draw_mouth(canvas, g, ch, expression)
    # Outline the cheeks and jaw; the hair covers the top of the head.
    _polyline(canvas, _head_outline(g.cx, g.cy, g.a, g.b, ch.jaw, -25, 205, n=80), (35, 25, 25), 3)
    _draw_hair_front(canvas, alpha, g, ch)
    if ch.glasses:
        _draw_glasses(canvas, g)
    if ch.hat is not None:
        _draw_hat(canvas, alpha, g, ch.hat)
    return canvas, alpha, g


def draw_face(
    identity: str | Character,
    size: float,
    rng: np.random.Generator | int | None = None,
    expression: str | None = None,
    angle: float = 0.0,
) -> FaceSprite:
    """Paint one face of a demo character.

    Parameters
    ----------
    identity : str or Character
        Character name (see :func:`character_names`) or a :class:`Character`.
    size : float
        Height of the ground-truth face box (hairline to chin) in pixels,
        at least 8.
    rng : numpy.random.Generator, int or None
        Source of the small random choices (gaze, expression when not given).
        An int seeds a new generator; None means seed 0, so calls without
        ``rng`` are reproducible.
    expression : str or None
        One of :data:`EXPRESSIONS`; None picks one with ``rng``.
    angle : float
        In-plane rotation in degrees, counter-clockwise, within [-45, 45].

    Returns
    -------
    FaceSprite
        Colours, opacity and the face box in sprite pixels. For a rotated
        face the box has the upright face's size and the rotated face's centre.

    Raises
    ------
    ValueError
        For an unknown character or expression, a size below 8 or an angle
        outside [-45, 45].

    Examples
    --------
    >>> sprite = draw_face("ada", 80, rng=1)
    >>> sprite.rgb.shape[2], sprite.alpha.dtype.name
    (3, 'uint8')
    """
    character = get_character(identity)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    if expression is None:
        expression = str(rng.choice(EXPRESSIONS))
    if expression not in EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; choose one of {EXPRESSIONS}")
    if not np.isfinite(size) or size < 8:
        raise ValueError(f"size={size!r} is invalid; the face box height must be at least 8 px")
    if not np.isfinite(angle) or abs(angle) > 45:
        raise ValueError(f"angle={angle!r} is invalid; rotate faces by -45 to 45 degrees")

    canvas, alpha, geometry = _paint_canonical(character, expression, rng)
    box = np.asarray(geometry.box)

    # Downscale with area averaging (clean anti-aliasing), then rotate about the
    # face centre into a canvas large enough to hold the rotated sprite.
    scale = size / (box[3] - box[1])
    height, width = canvas.shape[:2]
    new_w = max(1, int(round(width * scale)))
    new_h = max(1, int(round(height * scale)))
    sx, sy = new_w / width, new_h / height
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    rgb = cv2.resize(canvas, (new_w, new_h), interpolation=interpolation)
    mask = cv2.resize(alpha, (new_w, new_h), interpolation=interpolation)
    box = box * np.array([sx, sy, sx, sy])

    if angle:
        center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        rotation = cv2.getRotationMatrix2D(center, angle, 1.0)
        corners = np.array([[0, 0], [new_w, 0], [0, new_h], [new_w, new_h]], np.float64)
        moved = corners @ rotation[:, :2].T + rotation[:, 2]
        x_min, y_min = np.floor(moved.min(axis=0))
        x_max, y_max = np.ceil(moved.max(axis=0))
        rotation[:, 2] -= (x_min, y_min)
        out_size = (int(x_max - x_min), int(y_max - y_min))
        rgb = cv2.warpAffine(rgb, rotation, out_size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        mask = cv2.warpAffine(mask, rotation, out_size, flags=cv2.INTER_LINEAR, borderValue=0)
        # The box keeps the upright face's width and height around the moved
        # centre, the way detectors box a slightly tilted head.
        moved_center = np.asarray(center) @ rotation[:, :2].T + rotation[:, 2]
        half = np.array([(box[2] - box[0]) / 2, (box[3] - box[1]) / 2])
        box = np.array([*(moved_center - half), *(moved_center + half)])

    return FaceSprite(rgb=np.ascontiguousarray(rgb), alpha=np.ascontiguousarray(mask), face_box=tuple(float(v) for v in box))
