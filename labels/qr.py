"""The QR symbol of a label: module matrix, error-correction level, physical size.

The level is Q, chosen by measurement (``bench/labels.py``, 20 worn copies per cell,
decoded by ``scanner.decode``, on the 70×37 mm label with a 133-character payload;
docs/labels.md §3). Against physical damage (grease, scratches, knocked-off chunks: 240
trials) M survived 150, Q 177, H 190; against optics (fading, blur, a far camera: 160
trials) M 160, Q 120, H 100, since higher levels mean smaller modules on the same label.
M wins in total (310 against 297); Q is chosen because damage is permanent and optics
recoverable. Q keeps most of H's damage tolerance, reads from farther than H, and fits a
PUBLIC_BASE_URL of up to 65 characters on the 3×8 label at modules of 0.5 mm or more
for the longest (20-character) code, 73 for the 12-character codes issued here
(H: 25 / 33, M: 139 / 147).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import zxingcpp

from ledger.errors import Invalid

Level = Literal["L", "M", "Q", "H"]
DEFAULT_LEVEL: Level = "Q"
QUIET_MODULES = 4  # ISO/IEC 18004 quiet zone, in modules, on every side
MIN_MODULE_MM = 0.5  # smallest module that survives printing, wear and a cheap camera
MAX_PAYLOAD = 1000


@dataclass(frozen=True)
class Symbol:
    """A QR symbol: its dark modules (rows of booleans) without the quiet zone."""

    payload: str
    level: Level
    version: int
    modules: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        """Modules per side, without the quiet zone."""
        return len(self.modules)

    @property
    def span(self) -> int:
        """Modules per side including the quiet zone on both sides."""
        return self.size + 2 * QUIET_MODULES

    def runs(self) -> list[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length), quiet zone excluded."""
        out: list[tuple[int, int, int]] = []
        for r, row in enumerate(self.modules):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    out.append((r, start, c - start))
                else:
                    c += 1
        return out


def encode(payload: str, level: Level = DEFAULT_LEVEL) -> Symbol:
    """The smallest QR symbol holding payload (ASCII, as the §4 URL is) at the given level.

    zxing-cpp's encoder (C++, ~2 ms) picks the version and the mask by the ISO/IEC 18004
    penalty rules; the pure-Python qrcode package took ~50 ms a label, too slow for sheets.
    """
    if not payload or not payload.isascii() or len(payload) > MAX_PAYLOAD:
        raise Invalid(
            f"二维码内容须为 1–{MAX_PAYLOAD} 个 ASCII 字符 / "
            f"a QR payload must be 1–{MAX_PAYLOAD} ASCII characters"
        )
    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level=level)
    # One byte a module (0 dark, 255 light), read through the buffer protocol: no numpy in
    # the web workers that only lay out labels.
    image: Any = barcode.to_image(scale=1, add_quiet_zones=False)  # a buffer (its stub: no)
    rows: Any = memoryview(image).tolist()  # a list of rows of ints (2-D)
    modules = tuple(tuple(v < 128 for v in row) for row in rows)
    return Symbol(payload, level, (len(modules) - 17) // 4, modules)


def module_mm(symbol: Symbol, box_mm: float) -> float:
    """The module size when the symbol with its quiet zone fills a square of box_mm."""
    return box_mm / symbol.span


def check_module_size(symbol: Symbol, box_mm: float) -> float:
    """The module size in a box of box_mm, or Invalid when it is below the printable minimum."""
    size = module_mm(symbol, box_mm)
    if size < MIN_MODULE_MM - 1e-9:
        need = symbol.span * MIN_MODULE_MM
        raise Invalid(
            f"二维码模块 {size:.2f} mm 小于 {MIN_MODULE_MM} mm / QR modules would be "
            f"{size:.2f} mm (< {MIN_MODULE_MM} mm): the QR needs a {need:.1f} mm square",
            field="layout",
        )
    return size
