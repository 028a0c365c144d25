"""QR error-correction level of the label: render M, Q and H, wear them, decode, compare.

    .venv/bin/python bench/labels.py            # 20 trials per cell (~4 min on 2 idle cores)
    .venv/bin/python bench/labels.py --trials 4 # quick look
    .venv/bin/python bench/labels.py --speed-only   # rendering ms per label only

Every level is drawn on the same label (the default 3×8 sheet label, 70 × 37 mm,
``labels.layout``) with a production-like payload (``https://ledger.example.gov.cn``,
a 12-character code, a real 64-byte Ed25519 signature: 133 characters), rendered
at 600 dpi by ``labels.png``, then worn:

- ``grease``   dark smudges (soft ellipses, 40–90 % black) adding up to 10–40 % of the
               QR square's area (they overlap and spill over its edge);
- ``scratch``  straight scratches 0.25–0.6 mm wide, bare metal (white) or dirt (dark);
- ``chip``     a knocked-off disc (label torn away, white) on the symbol's edge, knocks hit edges;
- ``weather``  faded ink, a dirt film (lower contrast), blur and sensor noise;
- ``distance`` a camera further away: fewer pixels per millimetre, slight blur, JPEG.

A last table gives the longest ``PUBLIC_BASE_URL`` whose QR still fits the 3×8
label with modules of 0.5 mm or more, per level: the headroom for deployments.

The damage is drawn in millimetres from one seed per trial, so each level meets
exactly the same scratches and smudges. Each worn image is decoded with the
station's decoder (``scanner.decode.decode_image``); a trial survives when the
decoder returns exactly the payload. The table gives survivals per cell, the QR
side on this label and at the 0.5 mm minimum module.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labels import png, qr
from labels.layout import LabelData, layout
from ledger import codes
from ledger.errors import Invalid
from ledger.keys import load_or_create_signer

try:
    from scanner.decode import decode_image  # the station's decoder

    DECODER = "scanner.decode.decode_image"
except ImportError:  # pragma: no cover - before the station's decoder landed
    from pyzbar import pyzbar  # type: ignore[import-untyped]

    DECODER = "pyzbar"

    class _Result:
        def __init__(self, texts: list[str]) -> None:
            self.texts = texts

    def decode_image(image: npt.NDArray[np.uint8]) -> _Result:  # type: ignore[misc]
        return _Result([r.data.decode() for r in pyzbar.decode(image)])


Img = npt.NDArray[np.uint8]
DPI = 600
PX_MM = DPI / 25.4
LEVELS: tuple[qr.Level, ...] = ("M", "Q", "H")
LABEL_MM = (70.0, 37.0)


def _payload() -> str:
    key = load_or_create_signer(Path(tempfile.mkdtemp()) / "registry.key", "registry")
    return codes.qr_url("https://ledger.example.gov.cn", codes.new_code(), key)


def _qr_box(label_mm: tuple[float, float], level: qr.Level, payload: str) -> tuple[float, ...]:
    lab = layout(LabelData("X" * 12, payload, "某某燃气有限公司", "YSP35.5", 15), *label_mm, level)
    return (lab.qr_x, lab.qr_y, lab.qr_side, lab.module)


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


def run(trials: int, severities: int) -> None:
    """Print the survival table and the sizes."""
    payload = _payload()
    print(
        f"# bench/labels.py  decoder={DECODER}  dpi={DPI}  label={LABEL_MM[0]:g}x"
        f"{LABEL_MM[1]:g} mm  payload={len(payload)} chars  trials/cell={trials}  "
        f"load={os.getloadavg()[0]:.2f}"
    )
    images, boxes = {}, {}
    print("\nlevel  version  modules  QR side here (module)   QR side at 0.5 mm module")
    for level in LEVELS:
        lab = layout(
            LabelData("7G3KQ2M9XW4P", payload, "重庆渝安燃气有限公司", "YSP35.5", 15),
            *LABEL_MM,
            level,
        )
        images[level] = np.asarray(png.render(lab, DPI), dtype=np.uint8)
        boxes[level] = _qr_box(LABEL_MM, level, payload)
        sym = lab.symbol
        print(
            f"{level:5}  {sym.version:7}  {sym.size:7}  {lab.qr_side:7.1f} mm ({lab.module:.3f} mm)"
            f"   {sym.span * qr.MIN_MODULE_MM:7.1f} mm"
        )
    print("\nsurvived / trials (decoded exactly the payload), per wear and severity 1..N")
    header = "wear      sev  " + "  ".join(f"{lv:>5}" for lv in LEVELS)
    print(header)
    totals = dict.fromkeys(LEVELS, 0)
    count = 0
    started = time.perf_counter()
    for name, wear in WEARS.items():
        for sev in range(1, severities + 1):
            row = {}
            for level in LEVELS:
                ok = 0
                for trial in range(trials):
                    rng = np.random.default_rng([list(WEARS).index(name), sev, trial])
                    worn = wear(images[level].copy(), rng, boxes[level], sev)
                    ok += payload in decode_image(worn).texts
                row[level] = ok
                totals[level] += ok
            count += trials
            print(
                f"{name:9} {sev:3}  " + "  ".join(f"{row[lv]:>2}/{trials:<2}" for lv in LEVELS),
                flush=True,
            )
    print(
        "\ntotal     "
        + "  ".join(
            f"{lv}: {totals[lv]}/{count} ({100 * totals[lv] / count:.0f} %)" for lv in LEVELS
        )
    )
    print(f"elapsed {time.perf_counter() - started:.0f} s")


def headroom() -> None:
    """Longest base URL whose signed QR still fits the default label, per level."""
    key = load_or_create_signer(Path(tempfile.mkdtemp()) / "registry.key", "registry")
    code = codes.new_code()
    print("\nlevel  longest PUBLIC_BASE_URL that fits 70x37 mm at >= 0.5 mm modules")
    for level in LEVELS:
        longest = 0
        for length in range(12, 400):
            base = "https://" + "x" * (length - 8)
            data = LabelData(code, codes.qr_url(base, code, key), "某某燃气", "YSP35.5", 15)
            try:
                layout(data, *LABEL_MM, level)
            except Invalid:
                break
            longest = length
        print(f"{level:5}  {longest} characters")


def speed(count: int = 240) -> None:
    """Rendering time per label: PNG (300 dpi), SVG, engraving SVG, and A4 PDF sheets."""
    from labels import sheet, svg

    key = load_or_create_signer(Path(tempfile.mkdtemp()) / "registry.key", "registry")
    items = []
    for _ in range(count):
        code = codes.new_code()
        url = codes.qr_url("https://ledger.example.gov.cn", code, key)
        items.append(LabelData(code, url, "重庆渝安燃气有限公司", "YSP35.5", 15))
    print(f"\nrendering, ms per label ({count} labels, layout included)")
    sample = items[:60]
    for name, render in (
        ("png 300 dpi", lambda d: png.to_png(layout(d, *LABEL_MM))),
        ("svg", lambda d: svg.to_svg(layout(d, *LABEL_MM))),
        ("engraving svg", lambda d: svg.to_engraving_svg(layout(d, *LABEL_MM))),
    ):
        started = time.perf_counter()
        for data in sample:
            render(data)
        print(f"{name:14} {1000 * (time.perf_counter() - started) / len(sample):6.1f}")
    started = time.perf_counter()
    pdf = sheet.render_sheet(items, sheet.LAYOUTS["3x8"])
    elapsed = time.perf_counter() - started
    print(
        f"{'pdf 3x8 sheet':14} {1000 * elapsed / count:6.1f}   ({count // 24} pages, "
        f"{elapsed:.1f} s, {len(pdf) // 1024} KiB)"
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--severities", type=int, default=4)
    parser.add_argument("--speed-only", action="store_true", help="only the rendering times")
    args = parser.parse_args()
    if not args.speed_only:
        run(args.trials, args.severities)
        headroom()
    speed()


if __name__ == "__main__":
    main()
