"""Panel backgrounds for demo pages: gradients, simple shapes and a few lines."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["SCENES", "draw_scene"]

SCENES = ("street", "park", "room", "night", "action", "plain")

_INK = (25, 25, 30)


def _gradient(height: int, width: int, top, bottom) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float64)[:, None, None]
    colors = np.asarray(top, np.float64) * (1 - ramp) + np.asarray(bottom, np.float64) * ramp
    return np.round(np.broadcast_to(colors, (height, width, 3))).astype(np.uint8)


def _jitter(color, rng: np.random.Generator, amount: int = 18) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def _street(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    image = _gradient(h, w, _jitter((150, 195, 235), rng), _jitter((225, 235, 245), rng))
    ground = int(h * rng.uniform(0.72, 0.85))
    x = int(rng.integers(-40, 0))
    while x < w:
        bw = int(rng.integers(70, 150))
        top = int(rng.uniform(0.15, 0.5) * h)
        color = _jitter((175, 150, 130), rng, 30)
        cv2.rectangle(image, (x, top), (x + bw, ground), color, -1)
        cv2.rectangle(image, (x, top), (x + bw, ground), _INK, 2)
        for wy in range(top + 14, ground - 24, 30):
            for wx in range(x + 10, x + bw - 18, 26):
                cv2.rectangle(image, (wx, wy), (wx + 12, wy + 16), (235, 225, 160), -1)
                cv2.rectangle(image, (wx, wy), (wx + 12, wy + 16), _INK, 1)
        x += bw + int(rng.integers(4, 20))
    image[ground:] = (170, 170, 175)
    cv2.line(image, (0, ground), (w, ground), _INK, 2)
    return image


def _park(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    image = _gradient(h, w, _jitter((120, 180, 240), rng), _jitter((210, 230, 250), rng))
    horizon = int(h * rng.uniform(0.55, 0.75))
    sun = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.3) * h))
    cv2.circle(image, sun, int(min(h, w) * 0.07) + 6, (255, 225, 90), -1, cv2.LINE_AA)
    for _ in range(3):
        center = (int(rng.uniform(0, w)), horizon + int(rng.uniform(0, 0.1) * h))
        axes = (int(rng.uniform(0.3, 0.6) * w), int(rng.uniform(0.08, 0.18) * h))
        cv2.ellipse(image, center, axes, 0, 180, 360, _jitter((110, 170, 90), rng, 25), -1, cv2.LINE_AA)
    image[horizon + int(0.05 * h) :] = _jitter((120, 175, 95), rng)
    for _ in range(int(rng.integers(1, 4))):
        tx = int(rng.uniform(0.05, 0.95) * w)
        base = horizon + int(0.08 * h)
        cv2.rectangle(image, (tx - 6, base - int(0.18 * h)), (tx + 6, base), (110, 75, 45), -1)
        cv2.circle(image, (tx, base - int(0.24 * h)), int(0.09 * h) + 8, _jitter((60, 130, 60), rng), -1, cv2.LINE_AA)
        cv2.circle(image, (tx, base - int(0.24 * h)), int(0.09 * h) + 8, _INK, 2, cv2.LINE_AA)
    return image


def _room(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    wall = _jitter((225, 205, 170), rng, 30)
    image = _gradient(h, w, wall, tuple(int(c * 0.85) for c in wall))
    floor = int(h * rng.uniform(0.75, 0.88))
    stripe = tuple(int(c * 0.92) for c in wall)
    for x in range(int(rng.integers(0, 30)), w, 40):
        cv2.line(image, (x, 0), (x, floor), stripe, 6)
    image[floor:] = _jitter((150, 105, 70), rng)
    cv2.line(image, (0, floor), (w, floor), _INK, 2)

    # A window or a framed picture on the wall.
    fw, fh = int(w * rng.uniform(0.18, 0.3)), int(h * rng.uniform(0.18, 0.3))
    fx, fy = int(rng.uniform(0.05, 0.9) * (w - fw)), int(rng.uniform(0.08, 0.2) * h)
    if rng.random() < 0.5:
        cv2.rectangle(image, (fx, fy), (fx + fw, fy + fh), (180, 215, 245), -1)
        cv2.line(image, (fx + fw // 2, fy), (fx + fw // 2, fy + fh), (240, 240, 240), 4)
        cv2.line(image, (fx, fy + fh // 2), (fx + fw, fy + fh // 2), (240, 240, 240), 4)
    else:
        cv2.rectangle(image, (fx, fy), (fx + fw, fy + fh), _jitter((90, 140, 120), rng, 40), -1)
        cv2.line(image, (fx + 6, fy + fh - 8), (fx + fw // 2, fy + fh // 3), (240, 230, 200), 3, cv2.LINE_AA)
        cv2.line(image, (fx + fw // 2, fy + fh // 3), (fx + fw - 6, fy + fh - 8), (240, 230, 200), 3, cv2.LINE_AA)
    cv2.rectangle(image, (fx, fy), (fx + fw, fy + fh), (100, 70, 40), 5)
    return image


def _night(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    image = _gradient(h, w, _jitter((20, 25, 70), rng, 10), _jitter((70, 60, 120), rng, 15))
    for _ in range(int(w * h / 4000)):
        cv2.circle(image, (int(rng.uniform(0, w)), int(rng.uniform(0, 0.6 * h))), 1, (250, 250, 220), -1)
    moon = (int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.12, 0.3) * h))
    radius = int(min(h, w) * 0.08) + 6
    cv2.circle(image, moon, radius, (245, 240, 200), -1, cv2.LINE_AA)
    cv2.circle(image, (moon[0] + radius // 2, moon[1] - radius // 4), radius, tuple(int(v) for v in image[moon[1], min(w - 1, moon[0] + 2 * radius)]), -1, cv2.LINE_AA)
    x = 0
    while x < w:
        bw = int(rng.integers(40, 110))
        top = int(rng.uniform(0.45, 0.75) * h)
        cv2.rectangle(image, (x, top), (x + bw, h), (15, 15, 35), -1)
        x += bw
    return image


def _action(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = _jitter((250, 235, 190), rng, 10)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = base
    center = (rng.uniform(0.3, 0.7) * w, rng.uniform(0.2, 0.5) * h)
    radius = float(np.hypot(w, h))
    for angle in np.linspace(0, 2 * np.pi, int(rng.integers(36, 60)), endpoint=False):
        angle += rng.uniform(-0.03, 0.03)
        inner = (center[0] + 0.35 * radius * np.cos(angle), center[1] + 0.35 * radius * np.sin(angle))
        outer = (center[0] + radius * np.cos(angle), center[1] + radius * np.sin(angle))
        cv2.line(image, (int(inner[0]), int(inner[1])), (int(outer[0]), int(outer[1])), (200, 150, 90), int(rng.integers(1, 4)), cv2.LINE_AA)
    return image


def _plain(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    top = _jitter((200, 220, 235), rng, 35)
    image = _gradient(h, w, top, tuple(min(255, c + 25) for c in top))
    horizon = int(h * rng.uniform(0.6, 0.8))
    cv2.line(image, (0, horizon), (w, horizon), _INK, 2)
    return image


_PAINTERS = {
    "street": _street,
    "park": _park,
    "room": _room,
    "night": _night,
    "action": _action,
    "plain": _plain,
}


def draw_scene(height: int, width: int, rng: np.random.Generator, scene: str | None = None) -> tuple[np.ndarray, str]:
    """Paint a panel background.

    Returns ``(image, scene)``: an RGB array of shape ``(height, width, 3)``
    and the scene name, picked with ``rng`` when ``scene`` is None.
    """
    if scene is None:
        scene = str(rng.choice(SCENES))
    if scene not in _PAINTERS:
        raise ValueError(f"unknown scene {scene!r}; choose one of {SCENES}")
    return _PAINTERS[scene](height, width, rng), scene
