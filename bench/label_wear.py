"""Synthetic wear for bench/labels.py: what years of rain, grease and knocks do to a label.

Each function takes the label rendered at DPI (grayscale), a seeded generator, the QR's
box on the label (x, y, side, module, in mm) and a severity 1..4, and draws the damage
in millimetres, so every QR level meets exactly the same scratches and smudges.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Img = npt.NDArray[np.uint8]
DPI = 600
PX_MM = DPI / 25.4


def _ellipse(
    img: Img,
    rng: np.random.Generator,
    box: tuple[float, ...],
    share: float,
    color: Callable[[], int],
    soft: bool,
) -> None:
    x, y, side, _ = box
    area = share * side * side
    drawn = 0.0
    while drawn < area:
        a, b = rng.uniform(1.0, 5.0), rng.uniform(1.0, 4.0)
        cx, cy = rng.uniform(x, x + side), rng.uniform(y, y + side)
        mask = np.zeros(img.shape, np.uint8)
        cv2.ellipse(
            mask,
            (int(cx * PX_MM), int(cy * PX_MM)),
            (int(a * PX_MM), int(b * PX_MM)),
            float(rng.uniform(0, 180)),
            0,
            360,
            255,
            -1,
        )
        if soft:
            mask = cv2.GaussianBlur(mask, (0, 0), 0.4 * PX_MM)
        alpha = mask.astype(np.float32) / 255.0
        img[:] = (img * (1 - alpha) + np.minimum(img, color()) * alpha).astype(np.uint8)
        drawn += np.pi * a * b
    return None


def grease(img: Img, rng: np.random.Generator, box: tuple[float, ...], level: int) -> Img:
    """Dark smudges adding up to 10, 20, 30, 40 % of the QR square's area."""
    _ellipse(img, rng, box, 0.10 * level, lambda: int(rng.uniform(30, 150)), soft=True)
    return img


def scratch(img: Img, rng: np.random.Generator, box: tuple[float, ...], level: int) -> Img:
    """4, 8, 12, 16 scratches across the QR, white or dark."""
    x, y, side, _ = box
    for _ in range(4 * level):
        p0 = (rng.uniform(x, x + side), rng.uniform(y, y + side))
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.3, 0.9) * side
        p1 = (p0[0] + np.cos(angle) * length, p0[1] + np.sin(angle) * length)
        width = max(1, int(rng.uniform(0.25, 0.6) * PX_MM))
        color = 255 if rng.random() < 0.6 else 40
        cv2.line(
            img,
            (int(p0[0] * PX_MM), int(p0[1] * PX_MM)),
            (int(p1[0] * PX_MM), int(p1[1] * PX_MM)),
            color,
            width,
        )
    return img


def chip(img: Img, rng: np.random.Generator, box: tuple[float, ...], level: int) -> Img:
    """A torn-off disc of 7.8 % of the QR square per level, centred on the symbol's edge."""
    x, y, side, module = box
    r = np.sqrt(0.0784 * level * side * side / np.pi)  # about half of it lands on the symbol
    edge = int(rng.integers(4))
    t = rng.uniform(0.15, 0.85) * side
    inner = 4 * module  # the chunk's centre sits on the symbol's edge, past the quiet zone
    cx, cy = [
        (x + t, y + inner),
        (x + side - inner, y + t),
        (x + t, y + side - inner),
        (x + inner, y + t),
    ][edge]
    cv2.circle(img, (int(cx * PX_MM), int(cy * PX_MM)), int(r * PX_MM), 255, -1)
    return img


def weather(img: Img, rng: np.random.Generator, box: tuple[float, ...], level: int) -> Img:
    """Faded ink and a dirt film (contrast 65→20 %), blur and noise growing with level."""
    contrast = 0.8 - 0.15 * level
    out = 255 - (255 - img.astype(np.float32)) * contrast - rng.uniform(10, 40)
    out = cv2.GaussianBlur(out, (0, 0), (0.05 + 0.05 * level) * PX_MM)
    out += rng.normal(0, 4 + 3 * level, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def distance(img: Img, rng: np.random.Generator, box: tuple[float, ...], level: int) -> Img:
    """A farther camera: 5, 4.2, 3.6, 3 px/mm, slight defocus, JPEG quality 70."""
    target = [5.0, 4.2, 3.6, 3.0][level - 1]
    blurred = cv2.GaussianBlur(img, (0, 0), 0.25 * PX_MM)
    f = target / PX_MM
    small = cv2.resize(blurred, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


WEARS = {
    "grease": grease,
    "scratch": scratch,
    "chip": chip,
    "weather": weather,
    "distance": distance,
}
