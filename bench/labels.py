"""QR error-correction level of the label: render M, Q and H, wear them, decode, compare.

    .venv/bin/python bench/labels.py            # 20 trials per cell (~6 min on 2 shared cores)
    .venv/bin/python bench/labels.py --trials 4 # quick look
    .venv/bin/python bench/labels.py --speed-only   # rendering ms per label only
    .venv/bin/python bench/labels.py --sheet-memory 7200  # a batch's sheet: one PDF or files

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
exactly the same scratches and smudges; the payload is seeded too (a registry key and a
code drawn from fixed seeds), so every run measures the same symbols and reproduces.
The wears are drawn by ``bench/label_wear.py``. Each worn image is decoded with the
station's still-image decoder (``scanner.decode.decode_image``, every stage, no time
limit; not the camera loop's ``scanner.frames.FrameDecoder``, which spreads its costly
stages over frames within a per-frame budget). A trial survives when the decoder returns
exactly the payload. The table gives survivals per cell, the QR side on this label and
at the 0.5 mm minimum module.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labels import png, qr
from labels.layout import LabelData, layout
from ledger import codes
from ledger.errors import Invalid
from ledger.note import Signer, key_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_wear import DPI, WEARS

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


LEVELS: tuple[qr.Level, ...] = ("M", "Q", "H")
LABEL_MM = (70.0, 37.0)


SEED = b"bench/labels.py v1"
MEASURED = (
    "labels",
    "scanner/decode.py",
    "scanner/stages.py",
    "bench/labels.py",
    "bench/label_wear.py",
)
BASE_URL = "https://ledger.example.gov.cn"


def _registry() -> Signer:
    """The registry key, derived from SEED: the same signatures on every run."""
    private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(SEED + b":key").digest())
    return Signer("registry", key_id("registry", private.public_key().public_bytes_raw()), private)


def _codes(count: int) -> list[str]:
    """Codes as ``ledger.codes.new_code`` makes them, drawn from SEED."""
    rng = np.random.default_rng(list(hashlib.sha256(SEED + b":codes").digest()))
    alphabet = codes._RANDOM_ALPHABET
    out = []
    for _ in range(count):
        body = "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=11))
        out.append(body + codes.check_char(body))
    return out


def _payload() -> str:
    return codes.qr_url(BASE_URL, _codes(1)[0], _registry())


def _commit() -> str:
    """The commit measured, and any uncommitted change to the code the figures depend on."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *MEASURED).splitlines()
    return head + (f" (uncommitted: {', '.join(p[3:] for p in changed)})" if changed else "")


def _qr_box(label_mm: tuple[float, float], level: qr.Level, payload: str) -> tuple[float, ...]:
    lab = layout(LabelData("X" * 12, payload, "某某燃气有限公司", "YSP35.5", 15), *label_mm, level)
    return (lab.qr_x, lab.qr_y, lab.qr_side, lab.module)


def run(trials: int, severities: int) -> None:
    """Print the survival table and the sizes."""
    payload = _payload()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"# bench/labels.py  commit={_commit()}  "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"  load average (1/5/15 min)={load}  cpus={os.cpu_count()}\n"
        f"# decoder={DECODER}  dpi={DPI}  label={LABEL_MM[0]:g}x{LABEL_MM[1]:g} mm  "
        f"payload={len(payload)} chars  trials/cell={trials}"
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
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"elapsed {time.perf_counter() - started:.0f} s  load average now={load}")


def headroom() -> None:
    """Longest base URL whose signed QR still fits the default label, per level."""
    key = _registry()
    (code,) = _codes(1)
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
    from labels import sheet, sheet_layouts, svg

    key = _registry()
    items = []
    for code in _codes(count):
        url = codes.qr_url(BASE_URL, code, key)
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
    pdf = sheet.render_sheet(items, sheet_layouts.LAYOUTS["3x8"])
    elapsed = time.perf_counter() - started
    print(
        f"{'pdf 3x8 sheet':14} {1000 * elapsed / count:6.1f}   ({count // 24} pages, "
        f"{elapsed:.1f} s, {len(pdf) // 1024} KiB)"
    )


def sheet_memory(count: int, how: str) -> None:
    """Peak memory of a batch's sheet of ``count`` labels (in a process of its own): as
    one PDF, or cut into the files ``labels.console.sheet_files`` names."""
    import resource
    import tempfile

    from labels import console, sheet, sheet_layouts

    key = _registry()
    items = [
        LabelData(code, codes.qr_url(BASE_URL, code, key), "重庆渝安燃气有限公司", "YSP35.5", 15)
        for code in _codes(count)
    ]
    layout_3x8 = sheet_layouts.LAYOUTS["3x8"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sheet.pdf"
        parts = (
            [(out, range(count))] if how == "one" else console.sheet_files(out, count, layout_3x8)
        )
        for path, part in parts:
            path.write_bytes(sheet.render_sheet(items[part.start : part.stop], layout_3x8))
        size = sum(p.stat().st_size for p, _ in parts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    way = "one PDF" if how == "one" else f"in files of ≤ {console.PAGES_PER_FILE} pages"
    print(
        f"{way}: {count:,} labels as {len(parts)} file(s): "
        f"{time.perf_counter() - started:.1f} s, "
        f"{size / 2**20:.1f} MiB of PDF, peak RSS {peak / 1024:.0f} MiB "
        f"({(peak - before) / 1024:.0f} MiB for the sheet)"
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--severities", type=int, default=4)
    parser.add_argument("--speed-only", action="store_true", help="only the rendering times")
    parser.add_argument(
        "--sheet-memory", type=int, metavar="N", help="peak memory of a batch sheet of N labels"
    )
    parser.add_argument("--as", dest="how", choices=("one", "files"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sheet_memory and args.how:
        sheet_memory(args.sheet_memory, args.how)
        return
    if args.sheet_memory:  # each way in a fresh process, so each peak is its own
        for how in ("one", "files"):
            argv = [sys.executable, __file__, "--sheet-memory", str(args.sheet_memory)]
            subprocess.run([*argv, "--as", how], check=True)
        return
    if not args.speed_only:
        run(args.trials, args.severities)
        headroom()
    speed()


if __name__ == "__main__":
    main()
