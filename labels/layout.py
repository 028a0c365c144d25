"""One label laid out in millimetres: where the QR and each line of text go.

Every renderer (PNG, SVG, engraving SVG, PDF sheet) draws the same layout, so a
label looks the same on screen, on a sheet and on a nameplate. Coordinates are
mm from the label's top-left corner, y pointing down; text sits on its baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from labels import fonts, qr
from ledger.errors import Invalid

EDGE_MM = 1.0  # kept clear of the die-cut edge; the QR's quiet zone starts here
TEXT_PAD_MM = 1.5
MIN_TEXT_COLUMN_MM = 16.0
CAP = 0.73  # cap height of DejaVu Sans Mono Bold, in ems
READABLE_MM = 4.0  # code type this large (cap height 2.9 mm) reads at arm's length
MAX_CODE_MM = 7.0
MIN_CODE_MM = 2.5  # below this the printed code is no longer a fallback for a damaged QR
GROUP = 4  # the code is printed in groups of four characters, easier to read and type
DEFAULT_MM = (70.0, 37.0)  # the 3×8 sheet's label, and the API's default label size
MIN_DPI, MAX_DPI, DEFAULT_DPI = 150, 1200, 300  # a label's PNG (labels.png)


@dataclass(frozen=True)
class LabelData:
    """What a label says: the code, the QR payload, the owner and the cylinder model."""

    code: str
    payload: str
    owner: str
    model: str
    capacity_kg: float | None = None


@dataclass(frozen=True)
class Text:
    """One line of text: left edge and baseline (mm), size (mm per em), primary face."""

    x: float
    baseline: float
    size: float
    text: str
    primary: str = "sans"


@dataclass(frozen=True)
class Label:
    """A laid-out label: its size, the QR (top-left of its quiet zone, module size) and text."""

    width: float
    height: float
    symbol: qr.Symbol
    qr_x: float
    qr_y: float
    module: float
    texts: tuple[Text, ...]
    data: LabelData

    @property
    def qr_side(self) -> float:
        """Side of the QR square including its quiet zone, in mm."""
        return self.module * self.symbol.span


def code_groups(code: str) -> list[str]:
    """The code split into groups of four, printed with a space between them."""
    return [code[i : i + GROUP] for i in range(0, len(code), GROUP)]


def model_line(data: LabelData) -> str:
    """The model line: model and rated capacity."""
    if data.capacity_kg is None:
        return data.model
    return f"{data.model}  {data.capacity_kg:g} kg"


def _split(text: str, parts: int) -> list[str]:
    """Text cut into parts lines of nearly equal length (Chinese breaks between any two)."""
    per = max(1, -(-len(text) // parts))
    return [text[i : i + per].strip() for i in range(0, len(text), per)]


def _fit_lines(text: str, width: float, size: float, max_lines: int) -> tuple[list[str], float]:
    """Fewest lines first, each at most 25 % smaller than size; then smaller type."""
    floor = size * 0.75
    for parts in range(1, max_lines + 1):
        lines, trial = _split(text, parts), size
        while trial >= floor:
            if all(fonts.fits(line, width, trial) for line in lines):
                return lines, trial
            trial *= 0.95
    lines = _split(text, max_lines)
    widest = max(fonts.text_width(line, 1.0) for line in lines)
    if width / widest < 1.2:
        raise Invalid(
            f"标签太小，放不下文字 / the label is too small for the text {text!r}", field="layout"
        )
    return lines, width / widest


def _code_block(code: str, width: float, height: float) -> tuple[list[str], float]:
    """Lines of code groups and a mono size that fits width × height.

    The fewest lines whose type is still large (READABLE_MM per em or more) win, so the
    code reads as one or two rows; failing that, the largest size that fits.
    """
    groups = code_groups(code)
    options: list[tuple[list[str], float]] = []
    for per_line in range(len(groups), 0, -1):
        lines = [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]
        widest = max(fonts.text_width(line, 1.0, "mono") for line in lines)
        size = min(width / widest, height / (CAP + 1.2 * (len(lines) - 1)), MAX_CODE_MM)
        options.append((lines, size))
    for lines, size in options:
        if size >= READABLE_MM:
            return lines, size
    return max(options, key=lambda o: o[1])


def qr_box(width: float, height: float) -> float:
    """The side (mm) of the square the QR with its quiet zone may take on a label."""
    return min(height - 2 * EDGE_MM, width * 0.55)


SIGNED_SUFFIX = len("/c/?s=") + 86  # the §4 URL after the base, less the code; sig: 64 bytes
LONGEST_CODE = 20  # DESIGN §4: a code has up to 20 characters (ledger.codes.CODE_RE)


@cache
def longest_base_url(
    width: float = DEFAULT_MM[0], height: float = DEFAULT_MM[1], code_length: int = LONGEST_CODE
) -> int:
    """The longest PUBLIC_BASE_URL whose signed QR URL (§4) still prints on a label of this
    size with modules of MIN_MODULE_MM or more, for codes of code_length characters.

    The default is the longest code a cylinder may have (registration takes a chosen code
    of up to 20 characters; fresh codes have 12), so every cylinder's label prints."""
    side = qr_box(width, height)

    def fits(length: int) -> bool:
        symbol = qr.encode("h" * (length + code_length + SIGNED_SUFFIX))
        return symbol.span * qr.MIN_MODULE_MM <= side + 1e-9

    low, high = 0, qr.MAX_PAYLOAD - code_length - SIGNED_SUFFIX
    while low < high:  # the longest length that fits (QR versions grow with the length)
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def layout(
    data: LabelData, width: float, height: float, level: qr.Level = qr.DEFAULT_LEVEL
) -> Label:
    """Lay out a label of width × height mm: the QR on the left, the text to its right."""
    if not all(math.isfinite(v) and v > 0 for v in (width, height)):
        raise Invalid(
            f"标签尺寸须为正的有限毫米数 / the label size must be finite positive millimetres, "
            f"not {width!r} × {height!r}",
            field="layout",
        )
    symbol = qr.encode(data.payload, level)
    side = qr_box(width, height)
    module = qr.check_module_size(symbol, side)
    side = module * symbol.span
    qr_x, qr_y = EDGE_MM, (height - side) / 2
    # Nothing may print in the QR's quiet zone; TEXT_PAD keeps text off the edges.
    x0 = qr_x + side + 0.5
    column = width - x0 - TEXT_PAD_MM
    if column < MIN_TEXT_COLUMN_MM:
        raise Invalid(
            f"标签太窄 / a {width:g}×{height:g} mm label leaves {column:.1f} mm for the text "
            f"beside the QR (needs {MIN_TEXT_COLUMN_MM:g} mm)",
            field="layout",
        )
    top, bottom = TEXT_PAD_MM, height - TEXT_PAD_MM
    usable = bottom - top
    owner_lines, owner_size = _fit_lines(data.owner, column, min(3.4, usable * 0.13), 2)
    model_size = min(3.0, usable * 0.11)
    _, model_size = _fit_lines(model_line(data), column, model_size, 1)
    texts: list[Text] = []
    y = top
    for line in owner_lines:
        y += owner_size * 0.9
        texts.append(Text(x0, y, owner_size, line))
        y += owner_size * 0.25
    y += model_size * 1.1
    texts.append(Text(x0, y, model_size, model_line(data)))
    y += model_size * 0.6
    code_lines, code_size = _code_block(data.code, column, bottom - y)
    if code_size < MIN_CODE_MM:
        raise Invalid(
            f"标签太小，编码字号不足 / a {width:g}×{height:g} mm label leaves room for the code "
            f"only in {code_size:.1f} mm type (needs {MIN_CODE_MM:g} mm)",
            field="layout",
        )
    line_gap = code_size * 1.2
    block = code_size * CAP + line_gap * (len(code_lines) - 1)
    first = y + (bottom - y - block) / 2 + code_size * CAP
    for i, line in enumerate(code_lines):
        texts.append(Text(x0, first + i * line_gap, code_size, line, "mono"))
    return Label(width, height, symbol, qr_x, qr_y, module, tuple(texts), data)
