"""Camera and print degradations of a frame, each seeded (for scanner.synth's corpus)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Degrade = Callable[[Image, np.random.Generator, float], Image]


def as_u8(values: npt.ArrayLike) -> Image:
    """Clip to 0..255 and convert to an 8-bit image."""
    return np.clip(np.asarray(values, dtype=np.float32), 0, 255).astype(np.uint8)


def blur(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Out of focus: a Gaussian blur."""
    sigma = 0.5 + 2.5 * s
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)


def motion(img: Image, rng: np.random.Generator, s: float) -> Image:
    """A cylinder moved during exposure: a linear motion blur at a random angle."""
    length = int(3 + 14 * s)
    kernel = np.zeros((length, length), dtype=np.float32)
    kernel[length // 2, :] = 1.0 / length
    angle = float(rng.uniform(0, 180))
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(img, -1, kernel), dtype=np.uint8)


def perspective(img: Image, rng: np.random.Generator, s: float) -> Image:
    """The label seen at an angle: a random homography."""
    h, w = img.shape
    d = 0.25 * s * min(h, w)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = src + rng.uniform(-d, d, src.shape).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


def low_contrast(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Faded print on a grey label: the range squeezed around mid-grey."""
    span = 1.0 - 0.8 * s
    mid = float(rng.uniform(100, 160))
    return as_u8(mid + (img.astype(np.float32) - 128) * span)


def curvature(img: Image, rng: np.random.Generator, s: float) -> Image:
    """A label wrapped around a 300 mm cylinder: columns compressed toward the edges."""
    h, w = img.shape
    # A 300 mm cylinder seen from ~40 cm: the label spans up to ±(0.3 + 0.9 s) rad of arc.
    half_arc = 0.3 + 0.9 * s
    cx = w / 2 + float(rng.uniform(-0.1, 0.1)) * w
    radius = (w / 2) / np.sin(half_arc)
    xs = np.arange(w, dtype=np.float32)
    rel = np.clip((xs - cx) / radius, -0.999, 0.999)
    src_x = cx + radius * np.arcsin(rel)  # image column -> flat label column
    map_x = np.tile(src_x.astype(np.float32), (h, 1))
    ys = np.arange(h, dtype=np.float32)[:, None]
    bulge = (1.0 - np.cos(np.arcsin(rel))) * 0.04 * h * s
    map_y = (ys + (ys - h / 2) / (h / 2) * bulge[None, :]).astype(np.float32)
    out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    shade = (0.65 + 0.35 * np.cos(np.arcsin(rel))).astype(np.float32)
    return as_u8(out.astype(np.float32) * shade[None, :])


def wear(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Scratched, worn print: random light streaks and flecks."""
    out = img.copy()
    h, w = img.shape
    for _ in range(int(5 + 40 * s)):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (p1[0] + int(rng.integers(-80, 80)), p1[1] + int(rng.integers(-20, 20)))
        cv2.line(out, p1, p2, int(rng.integers(190, 255)), int(rng.integers(1, 3)))
    flecks = rng.random(img.shape) < 0.01 * s
    out[flecks] = 255
    return out


def dirt(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Grease and dirt: dark blotches of random size."""
    out = img.astype(np.float32)
    h, w = img.shape
    for _ in range(int(3 + 12 * s)):
        mask = np.zeros(img.shape, dtype=np.float32)
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(5, int(10 + 40 * s))), int(rng.integers(5, int(10 + 30 * s))))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), 4), dtype=np.float32)
        out = out * (1 - 0.6 * mask)
    return as_u8(out)


def glare(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Specular glare on the steel: a bright soft spot."""
    h, w = img.shape
    cy, cx = float(rng.uniform(0.2, 0.8)) * h, float(rng.uniform(0.2, 0.8)) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 40 + 120 * s
    spot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return as_u8(img.astype(np.float32) + 230 * s * spot)


def low_light(img: Image, rng: np.random.Generator, s: float) -> Image:
    """A dim station at night: darkened, with sensor noise."""
    gain = 1.0 - 0.8 * s
    noisy = img.astype(np.float32) * gain + rng.normal(0, 3 + 8 * s, img.shape)
    return as_u8(noisy)


def noise(img: Image, rng: np.random.Generator, s: float) -> Image:
    """Sensor noise and JPEG-like grain."""
    noisy = img.astype(np.float32) + rng.normal(0, 4 + 14 * s, img.shape)
    return as_u8(noisy)


DEGRADATIONS: dict[str, Degrade] = {
    "blur": blur,
    "motion": motion,
    "perspective": perspective,
    "low_contrast": low_contrast,
    "curvature": curvature,
    "wear": wear,
    "dirt": dirt,
    "glare": glare,
    "low_light": low_light,
    "noise": noise,
}


def print_scan(img: Image, rng: np.random.Generator, s: float) -> Image:
    """A printed and photographed label: ink spread, paper grain, JPEG recompression."""
    k = 1 + int(2 * s)
    inked = cv2.erode(img, np.ones((k, k), dtype=np.uint8))  # dark ink bleeds into paper
    grain = as_u8(inked.astype(np.float32) + rng.normal(0, 6 + 10 * s, img.shape))
    quality = int(90 - 55 * s)
    ok, jpeg = cv2.imencode(".jpg", grain, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE), dtype=np.uint8) if ok else grain


DEGRADATIONS["print_scan"] = print_scan
