"""Composition of one demo page: panels, scenery, characters and balloons.

Characters stand side by side in horizontal slots of a panel, so no face box
is hidden by another character. Balloons go where they cover no face box,
preferring places that also leave hair and hats visible and lie high in the
panel, as comics letter them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from comicfaces.demo.balloons import (
    CAPTIONS,
    DIALOGUE,
    Balloon,
    balloon_size,
    draw_balloons,
    font,
    layout_text,
    tail_polygon,
)
from comicfaces.demo.characters import EXPRESSIONS, FaceSprite, draw_face, get_character
from comicfaces.demo.layout import panel_grid
from comicfaces.demo.scenery import draw_scene

__all__ = ["FacePlacement", "PageDrawing", "draw_page"]

#: Range of face box heights (hairline to chin) in pixels.
MIN_FACE = 40
MAX_FACE = 200
#: Largest in-plane rotation of a face, in degrees.
MAX_ANGLE = 14.0
#: Chance that a face is cut by the panel edge (marked ``ignore``).
CUT_FACE_PROBABILITY = 0.05
#: Chance that a panel shows the same character twice.
DUPLICATE_PROBABILITY = 0.03
#: Free pixels kept between a face box and any balloon or tail.
FACE_CLEARANCE = 4
#: Maximum tail length from the balloon body to the tip, in pixels.
MAX_TAIL = 120
#: Faces with less of their box inside the panel than this are marked ``ignore``.
MIN_VISIBLE = 0.9
_BORDER = 3
_INK = (20, 20, 20)


@dataclass
class FacePlacement:
    """One face drawn on a page.

    Attributes
    ----------
    box : tuple of float
        Ground-truth face box ``(x0, y0, x1, y1)`` in page pixels, clipped to
        its panel.
    identity : str
        Character name.
    ignore : bool
        True for faces cut by the panel edge, which a fair evaluation neither
        requires nor penalises.
    panel : int
        Index of the panel on the page.
    expression : str
        Mouth and eyebrow shape.
    angle : float
        In-plane rotation in degrees.
    """

    box: tuple
    identity: str
    ignore: bool
    panel: int
    expression: str
    angle: float


@dataclass
class PageDrawing:
    """A finished page and its annotations, all in page pixels."""

    image: np.ndarray
    panels: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    balloons: list = field(default_factory=list)


@dataclass
class _Actor:
    identity: str
    sprite: FaceSprite
    offset: tuple  # sprite top-left in panel pixels
    slot: tuple  # (x0, x1) in panel pixels
    ignore: bool
    expression: str
    angle: float

    @property
    def face_box(self) -> np.ndarray:
        x, y = self.offset
        b = self.sprite.face_box
        return np.array([b[0] + x, b[1] + y, b[2] + x, b[3] + y])

    @property
    def extent(self) -> np.ndarray:
        """Box around the visible sprite pixels, in panel pixels."""
        ys, xs = np.nonzero(self.sprite.alpha)
        x, y = self.offset
        return np.array([xs.min() + x, ys.min() + y, xs.max() + 1 + x, ys.max() + 1 + y])


def _intersects(a, b, margin: float = 0.0) -> bool:
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def _overlap_area(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _sprite_extent(sprite: FaceSprite) -> np.ndarray:
    ys, xs = np.nonzero(sprite.alpha)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


@lru_cache(maxsize=None)
def _width_per_height(identity: str) -> float:
    """Width of an upright sprite's visible pixels per pixel of face box height."""
    extent = _sprite_extent(draw_face(identity, 100, rng=0, expression="neutral"))
    return float(extent[2] - extent[0]) / 100.0


def _paste(canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``rgb`` onto ``canvas`` at ``(x, y)``, clipped to the canvas."""
    h, w = canvas.shape[:2]
    sx0, sy0 = max(0, -x), max(0, -y)
    dx0, dy0 = max(0, x), max(0, y)
    dx1, dy1 = min(w, x + rgb.shape[1]), min(h, y + rgb.shape[0])
    if dx1 <= dx0 or dy1 <= dy0:
        return
    region = canvas[dy0:dy1, dx0:dx1].astype(np.float32)
    src = rgb[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32)
    weight = alpha[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32)[:, :, None] / 255.0
    canvas[dy0:dy1, dx0:dx1] = np.round(src * weight + region * (1.0 - weight)).astype(np.uint8)


def _draw_body(canvas: np.ndarray, actor: _Actor) -> None:
    """Draw shoulders and a shirt from under the face to the panel bottom, inside the actor's slot."""
    box = actor.face_box
    face_w = box[2] - box[0]
    face_h = box[3] - box[1]
    center = (box[0] + box[2]) / 2
    shoulder_y = box[3] + 0.32 * face_h
    half = min(1.15 * face_w, center - actor.slot[0], actor.slot[1] - center)
    bottom = canvas.shape[0] + 10.0
    color = get_character(actor.identity).shirt
    t = np.radians(np.linspace(180, 360, 30))
    top_arc = np.stack([center + half * np.cos(t), shoulder_y + 0.35 * face_h + 0.35 * face_h * np.sin(t)], axis=1)
    points = np.concatenate([top_arc, [[center + half, bottom], [center - half, bottom]]])
    fixed = np.round(points * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(canvas, [fixed], color, cv2.LINE_AA, 4)
    cv2.polylines(canvas, [fixed], True, _INK, 2, cv2.LINE_AA, 4)

    # Collar: a V below the chin.
    collar = np.array([[center - 0.3 * face_w, shoulder_y + 0.05 * face_h], [center, shoulder_y + 0.45 * face_h], [center + 0.3 * face_w, shoulder_y + 0.05 * face_h]])
    cv2.polylines(canvas, [np.round(collar * 16).astype(np.int32).reshape(-1, 1, 2)], False, _INK, 2, cv2.LINE_AA, 4)


def _pick_identities(count: int, cast: list, unused: list, seen: set, rng: np.random.Generator) -> list:
    """Choose the characters of a panel, first those the page has not shown yet."""
    chosen: list = []
    for _ in range(count):
        fresh = [name for name in unused if name not in chosen]
        if fresh:
            name = str(rng.choice(fresh))
        else:
            others = [name for name in cast if name not in chosen]
            if chosen and (not others or rng.random() < DUPLICATE_PROBABILITY):
                name = str(rng.choice(chosen))
            else:
                name = str(rng.choice(others))
        chosen.append(name)
        if name in unused:
            unused.remove(name)
        seen.add(name)
    return chosen


def _place_actors(pw: int, ph: int, identities: list, seen_before: set, rng: np.random.Generator) -> list[_Actor]:
    """Draw and position the faces of one panel, one per horizontal slot."""
    count = len(identities)
    cuts = rng.uniform(0.85, 1.15, size=count)
    edges = np.concatenate([[0.0], np.cumsum(cuts) / cuts.sum() * pw])
    actors = []
    for index, identity in enumerate(identities):
        slot = (float(edges[index]), float(edges[index + 1]))
        slot_w = slot[1] - slot[0]
        angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE)) if rng.random() < 0.7 else 0.0
        expression = str(rng.choice(EXPRESSIONS))

        # Largest face whose sprite fits the slot and leaves room above for
        # balloons. Tilted sprites are wider, hence the 10 % margin.
        largest = min(MAX_FACE, (slot_w - 8) / (1.1 * _width_per_height(identity)), (0.55 if count == 1 else 0.42) * ph)
        if largest < MIN_FACE:
            continue
        size = float(rng.uniform(MIN_FACE, largest))
        sprite = draw_face(identity, size, rng=rng, expression=expression, angle=angle)
        extent = _sprite_extent(sprite)
        face = sprite.face_box
        face_h = face[3] - face[1]

        # Centre the visible sprite in the slot, give or take the spare room.
        spare = slot_w - (extent[2] - extent[0])
        if spare > 0:
            left = slot[0] + spare * rng.uniform(0.15, 0.85) - extent[0]
        else:
            left = slot[0] + spare / 2 - extent[0]

        # Small (distant) faces stand lower, so no torso is longer than about
        # four face heights before the panel bottom cuts it.
        top_low = max(0.24 * ph, ph - 5.0 * face_h, 6.0)
        top_high = ph - face_h - max(0.12 * face_h, 6.0)
        face_top = rng.uniform(top_low, top_high) if top_high > top_low else top_high
        top = face_top - face[1]

        ignore = False
        edge_slot = index in (0, count - 1)
        if identity in seen_before and edge_slot and rng.random() < CUT_FACE_PROBABILITY:
            # Push the face over the panel's outer edge so 35-60 % of it is cut.
            face_w = face[2] - face[0]
            cut = rng.uniform(0.35, 0.6) * face_w
            if index == 0:
                left = -face[0] - cut
            else:
                left = pw - face[2] + cut
            ignore = True
        actors.append(
            _Actor(
                identity=identity,
                sprite=sprite,
                offset=(int(round(left)), int(round(top))),
                slot=slot,
                ignore=ignore,
                expression=expression,
                angle=angle,
            )
        )
    return actors


def _place_balloon(
    pw: int,
    ph: int,
    kind: str,
    text: str,
    speaker: _Actor | None,
    actors: list[_Actor],
    taken: list,
    face_mask: np.ndarray,
    rng: np.random.Generator,
) -> Balloon | None:
    """Find a spot for one balloon, or return None when none is free."""
    face_boxes = [actor.face_box for actor in actors]
    extents = [actor.extent for actor in actors]
    base_size = int(np.clip(round(min(pw, ph) / 16), 14, 20))

    for font_size in (base_size, base_size - 2, base_size - 4):
        face = font(max(10, font_size))
        # Ellipses waste width, so narrow panels get mostly rounded boxes.
        ellipse_share = 0.65 if pw >= 400 else 0.3
        shape = "rectangle" if kind == "caption" else str(rng.choice(["ellipse", "rounded"], p=[ellipse_share, 1 - ellipse_share]))
        max_text_width = int(min(0.6 * pw, 300) / (1.42 if shape == "ellipse" else 1.0))
        lines, text_w, text_h = layout_text(text, face, max(60, max_text_width))
        padding = 6 if shape != "ellipse" else 2
        bw, bh = balloon_size(text_w, text_h, shape, padding)
        if bw > pw - 12 or bh > 0.6 * ph:
            continue

        if kind == "caption":
            candidates = [(_BORDER, _BORDER), (pw - bw - _BORDER, _BORDER)]
        else:
            xs = rng.uniform(6, pw - bw - 6, size=80)
            ys = rng.uniform(6, ph - bh - 6, size=80)
            candidates = list(zip(xs, ys))

        best = None
        for x, y in candidates:
            box = (int(round(x)), int(round(y)), int(round(x)) + bw, int(round(y)) + bh)
            if any(_intersects(box, fb, FACE_CLEARANCE) for fb in face_boxes):
                continue
            if any(_intersects(box, other, 8) for other in taken):
                continue
            hidden = sum(_overlap_area(box, ext) for ext in extents) / float(bw * bh)
            score = hidden + 0.35 * box[1] / ph
            if speaker is not None:
                score += 0.2 * abs((box[0] + box[2]) / 2 - (speaker.face_box[0] + speaker.face_box[2]) / 2) / pw
            if best is None or score < best[0]:
                best = (score, box)
        if best is None:
            continue

        balloon = Balloon(kind=kind, box=best[1], text=text, lines=lines, font_size=max(10, font_size), shape=shape)
        if speaker is not None:
            balloon.tail = _tail_tip(balloon, speaker, face_mask, pw, ph)
        return balloon
    return None


def _tail_tip(balloon: Balloon, speaker: _Actor, face_mask: np.ndarray, pw: int, ph: int) -> tuple | None:
    """Aim the tail at the speaker's head, stopping short of every face box."""
    x0, y0, x1, y1 = balloon.box
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    fb = speaker.face_box
    target = np.array([(fb[0] + fb[2]) / 2, fb[1]])
    tip = None
    for t in np.linspace(0.0, 1.0, 60):
        point = center + t * (target - center)
        gap_x = max(x0 - point[0], 0.0, point[0] - x1)
        gap_y = max(y0 - point[1], 0.0, point[1] - y1)
        if gap_x == 0.0 and gap_y == 0.0:
            continue
        if math.hypot(gap_x, gap_y) > MAX_TAIL:
            break
        xi, yi = int(point[0]), int(point[1])
        if not (0 <= xi < pw and 0 <= yi < ph) or face_mask[yi, xi]:
            break
        tip = (float(point[0]), float(point[1]))
    if tip is None:
        return None

    # Drop the tail when its triangle would cover any face box pixel.
    balloon.tail = tip
    triangle = tail_polygon(balloon)
    mask = np.zeros_like(face_mask)
    cv2.fillPoly(mask, [np.round(triangle).astype(np.int32).reshape(-1, 1, 2)], 1)
    body_distance = max(0.0, tip[1] - y1, y0 - tip[1], x0 - tip[0], tip[0] - x1)
    if np.any(mask & face_mask) or body_distance < 8:
        return None
    return tip


def _compose_panel(
    pw: int,
    ph: int,
    identities: list,
    seen_before: set,
    caption: str | None,
    lines: list,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[_Actor], list[Balloon]]:
    """Paint one panel; ``lines`` is the page's unused dialogue, consumed here."""
    canvas, _ = draw_scene(ph, pw, rng)
    actors = _place_actors(pw, ph, identities, seen_before, rng)

    # Smaller faces are farther away, so they are drawn first.
    for actor in sorted(actors, key=lambda a: a.face_box[3] - a.face_box[1]):
        _draw_body(canvas, actor)
        _paste(canvas, actor.sprite.rgb, actor.sprite.alpha, *actor.offset)

    face_mask = np.zeros((ph, pw), np.uint8)
    for actor in actors:
        x0, y0, x1, y1 = actor.face_box
        pad = FACE_CLEARANCE
        face_mask[max(0, int(y0) - pad) : max(0, int(math.ceil(y1)) + pad), max(0, int(x0) - pad) : max(0, int(math.ceil(x1)) + pad)] = 1

    balloons: list[Balloon] = []
    taken: list = []
    if caption is not None:
        placed = _place_balloon(pw, ph, "caption", caption, None, actors, taken, face_mask, rng)
        if placed is not None:
            balloons.append(placed)
            taken.append(placed.box)

    speakers = [actor for actor in actors if not actor.ignore]
    count = int(rng.choice([0, 1, 2], p=[0.12, 0.6, 0.28])) if speakers else 0
    for _ in range(min(count, len(speakers))):
        speaker = speakers[int(rng.integers(len(speakers)))]
        text = lines.pop(int(rng.integers(len(lines)))) if lines else str(rng.choice(DIALOGUE))
        placed = _place_balloon(pw, ph, "speech", text, speaker, actors, taken, face_mask, rng)
        if placed is not None:
            balloons.append(placed)
            taken.append(placed.box)

    canvas = draw_balloons(canvas, balloons)
    return canvas, actors, balloons


def _faces_per_panel(panels: list, cast_size: int, rng: np.random.Generator) -> list[int]:
    """Choose 0-4 faces per panel, with at least ``cast_size`` faces in total."""
    capacity = [int(np.clip((x1 - x0) // 110, 1, 4)) for x0, _, x1, _ in panels]
    counts = [min(cap, int(rng.choice([0, 1, 2, 3, 4], p=[0.07, 0.28, 0.35, 0.2, 0.1]))) for cap in capacity]
    order = list(rng.permutation(len(panels)))
    while sum(counts) < cast_size and any(c < cap for c, cap in zip(counts, capacity)):
        for index in order:
            if counts[index] < capacity[index] and sum(counts) < cast_size:
                counts[index] += 1
    return counts


def draw_page(width: int, height: int, cast: list, rng: np.random.Generator, caption_probability: float = 0.5) -> PageDrawing:
    """Draw one page with every character of ``cast`` on it at least once.

    Parameters
    ----------
    width, height : int
        Page size in pixels.
    cast : list of str
        Character names for this page.
    rng : numpy.random.Generator
        Source of every random choice, so a seeded generator gives the same page.
    caption_probability : float
        Chance that one panel of the page gets a caption box.

    Returns
    -------
    PageDrawing
        The RGB page and its panel, face and balloon annotations.
    """
    page = np.full((height, width, 3), 255, np.uint8)
    panels = panel_grid(width, height, rng)
    counts = _faces_per_panel(panels, len(cast), rng)
    caption_panel = int(rng.integers(len(panels))) if rng.random() < caption_probability else -1

    unused = list(cast)
    seen: set = set()
    lines = list(DIALOGUE)
    drawing = PageDrawing(image=page, panels=list(panels))
    for index, (x0, y0, x1, y1) in enumerate(panels):
        pw, ph = x1 - x0, y1 - y0
        seen_before = set(seen)
        identities = _pick_identities(counts[index], cast, unused, seen, rng)
        caption = str(rng.choice(CAPTIONS)) if index == caption_panel else None
        canvas, actors, balloons = _compose_panel(pw, ph, identities, seen_before, caption, lines, rng)
        page[y0:y1, x0:x1] = canvas

        # The border lies inside the panel box, so the box is its outer edge.
        page[y0 : y0 + _BORDER, x0:x1] = _INK
        page[y1 - _BORDER : y1, x0:x1] = _INK
        page[y0:y1, x0 : x0 + _BORDER] = _INK
        page[y0:y1, x1 - _BORDER : x1] = _INK

        for actor in actors:
            fx0, fy0, fx1, fy1 = actor.face_box
            box = (max(fx0, 0.0) + x0, max(fy0, 0.0) + y0, min(fx1, pw) + x0, min(fy1, ph) + y0)
            visible = (box[2] - box[0]) * (box[3] - box[1]) / ((fx1 - fx0) * (fy1 - fy0))
            drawing.faces.append(
                FacePlacement(
                    box=box,
                    identity=actor.identity,
                    ignore=actor.ignore or visible < MIN_VISIBLE,
                    panel=index,
                    expression=actor.expression,
                    angle=actor.angle,
                )
            )
        for balloon in balloons:
            bx0, by0, bx1, by1 = balloon.box
            balloon.box = (bx0 + x0, by0 + y0, bx1 + x0, by1 + y0)
            if balloon.tail is not None:
                balloon.tail = (balloon.tail[0] + x0, balloon.tail[1] + y0)
            drawing.balloons.append(balloon)
    return drawing
