"""The label fonts: TrueType files the install step provides, metrics and glyph outlines.

Three faces, all TrueType outlines (reportlab embeds only those):
DejaVu Sans (Latin text), DejaVu Sans Mono Bold (the code in large type, 0 and O
distinct) from Debian ``fonts-dejavu-core``, and Droid Sans Fallback (Chinese)
from ``fonts-droid-fallback``. Text is split into runs: each character is drawn
with the first face that has a glyph for it. ``LABEL_FONT_DIRS`` (``os.pathsep``
separated) adds folders to search.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.pens.svgPathPen import SVGPathPen  # type: ignore[import-untyped]
from fontTools.pens.transformPen import TransformPen  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

_SEARCH = (
    Path(__file__).parent / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/droid"),
    Path("/usr/local/share/fonts"),
)
# face name → (file name, Debian package that provides it)
FACES = {
    "sans": ("DejaVuSans.ttf", "fonts-dejavu-core"),
    "mono": ("DejaVuSansMono-Bold.ttf", "fonts-dejavu-core"),
    "cjk": ("DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
}


class FontMissing(RuntimeError):
    """A label font is not installed."""


@dataclass(eq=False)
class Face:
    """One TrueType font file: its cmap, advances and outlines, in font units."""

    name: str
    path: Path
    font: Any = field(repr=False)
    units_per_em: int
    cmap: dict[int, str] = field(repr=False)

    def has(self, char: str) -> bool:
        """True when the face has a glyph for char."""
        return ord(char) in self.cmap

    def advance(self, char: str) -> float:
        """Advance width of char, in ems."""
        glyph = self.cmap.get(ord(char), ".notdef")
        return float(self.font["hmtx"][glyph][0]) / self.units_per_em

    def outline(self, char: str, size: float, x: float, baseline: float) -> str:
        """SVG path data of char's glyph set at size with its origin at (x, baseline), y down."""
        glyphs = _glyph_set(self.name)
        pen = SVGPathPen(glyphs, ntos=lambda v: f"{v:.3f}".rstrip("0").rstrip("."))
        scale = size / self.units_per_em
        transform = (scale, 0, 0, -scale, x, baseline)
        glyphs[self.cmap.get(ord(char), ".notdef")].draw(TransformPen(pen, transform))
        return str(pen.getCommands())


def font_dirs() -> list[Path]:
    """Folders searched for the label fonts, in order."""
    extra = [Path(p) for p in os.environ.get("LABEL_FONT_DIRS", "").split(os.pathsep) if p]
    return [*extra, *_SEARCH]


@cache
def face(name: str) -> Face:
    """The loaded face by name (sans, mono, cjk); FontMissing names the package to install."""
    filename, package = FACES[name]
    for folder in font_dirs():
        path = folder / filename
        if path.is_file():
            font = TTFont(str(path), lazy=True)
            if "glyf" not in font:
                raise FontMissing(f"标签字体无轮廓 / {path} has no TrueType outlines")
            return Face(name, path, font, int(font["head"].unitsPerEm), dict(font.getBestCmap()))
    raise FontMissing(
        f"标签字体缺失 / label font {filename} not found in "
        f"{', '.join(map(str, font_dirs()))}: install it with `apt-get install {package}`"
    )


def runs(text: str, primary: str = "sans") -> list[tuple[Face, str]]:
    """Split text into runs of one face each: the primary face, else the CJK face."""
    out: list[tuple[Face, str]] = []
    first, fallback = face(primary), face("cjk")
    for char in text:
        chosen = first if first.has(char) or not fallback.has(char) else fallback
        if out and out[-1][0] is chosen:
            out[-1] = (chosen, out[-1][1] + char)
        else:
            out.append((chosen, char))
    return out


def text_width(text: str, size: float, primary: str = "sans") -> float:
    """Width of text set at size (any unit: the result is in the same unit)."""
    return sum(f.advance(c) for f, part in runs(text, primary) for c in part) * size


@cache
def _glyph_set(name: str) -> Any:
    return face(name).font.getGlyphSet()


def fits(text: str, width: float, size: float, primary: str = "sans") -> bool:
    """True when text set at size is at most width wide."""
    return text_width(text, size, primary) <= width + 1e-9
