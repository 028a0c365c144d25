"""The label fonts: TrueType files the install step provides, metrics and glyph outlines.

Three faces, all TrueType outlines (reportlab embeds only those):
DejaVu Sans (Latin text), DejaVu Sans Mono Bold (the code in large type, 0 and O
distinct) from Debian ``fonts-dejavu-core``, and Droid Sans Fallback (Chinese)
from ``fonts-droid-fallback``. Text is split into runs: each character is drawn
with the first face that has a glyph for it. ``LABEL_FONT_DIRS`` (``os.pathsep``
separated) adds folders to search.
"""

from __future__ import annotations

import io
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
    """A label font is not installed, or its file cannot be read.

    ``str()`` is the whole story for the operator (the folders searched); ``public`` leaves
    out the server's paths, for an API problem.
    """

    def __init__(self, filename: str, package: str, why: str, where: str = "") -> None:
        head = f"标签字体缺失 / label font missing: {filename} {why}"
        fix = f"install it with `apt-get install {package}` or name its folder in LABEL_FONT_DIRS"
        super().__init__(f"{head}{where}; {fix}")
        self.public = f"{head}; {fix}"


def unreadable(name: str, path: Path, exc: BaseException) -> FontMissing:
    """The error for a label font whose file is there but cannot be read or parsed."""
    filename, package = FACES[name]
    reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return FontMissing(filename, package, f"cannot be read ({reason})", f" at {path}")


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
            return _load(name, path)
    searched = f" in {', '.join(map(str, font_dirs()))}"
    raise FontMissing(filename, package, "not found", searched)


def _load(name: str, path: Path) -> Face:
    """Read and parse a face whole now (no file is held open), so that a damaged or
    unreadable file fails here, as FontMissing, and not halfway through a label."""
    filename, package = FACES[name]
    try:
        font = TTFont(io.BytesIO(path.read_bytes()))
        if "glyf" not in font:
            raise FontMissing(filename, package, "has no TrueType outlines", f" at {path}")
        for table in ("head", "hmtx", "cmap", "loca", "glyf"):
            font[table]  # parses each table the labels use
        cmap = font.getBestCmap()
        if not cmap:
            raise FontMissing(filename, package, "has no character map", f" at {path}")
        return Face(name, path, font, int(font["head"].unitsPerEm), dict(cmap))
    except FontMissing:
        raise
    except Exception as exc:  # fontTools raises many kinds on a damaged file; OSError too
        raise unreadable(name, path, exc) from exc


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
