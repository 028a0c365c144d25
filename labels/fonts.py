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

from labels import truetype
from labels.outlines import Outlines

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
    """One TrueType font file: which characters it has, their advances and outlines."""

    name: str
    path: Path
    font: truetype.FontFile = field(repr=False)
    outlines: Outlines = field(init=False, repr=False)  # the glyphs drawn last

    def __post_init__(self) -> None:
        self.outlines = Outlines(self.font)

    def has(self, char: str) -> bool:
        """True when the face has a glyph for char."""
        return self.font.glyph_id(char) != 0

    def advance(self, char: str) -> float:
        """Advance width of char, in ems."""
        return self.font.advance(self.font.glyph_id(char)) / self.font.units_per_em

    def outline(self, char: str, size: float, x: float, baseline: float) -> str:
        """SVG path data of char's glyph set at size with its origin at (x, baseline), y down."""
        scale = size / self.font.units_per_em
        try:
            return self.outlines.svg_path(
                self.font.glyph_id(char), (scale, 0, 0, -scale, x, baseline)
            )
        except Exception as exc:  # a glyph the file's check could not reach is damaged
            raise unreadable(self.name, self.path, exc) from exc


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
    """Read a face's file now (no file is held open) and check the tables a label reads, so
    that a damaged or unreadable file fails here, as FontMissing, not halfway through a label.
    Only the file's bytes and a few compact tables are kept: not a parsed font (tens of MB)."""
    try:
        return Face(name, path, truetype.read(path.read_bytes()))
    except (OSError, truetype.FontError) as exc:
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


def fits(text: str, width: float, size: float, primary: str = "sans") -> bool:
    """True when text set at size is at most width wide."""
    return text_width(text, size, primary) <= width + 1e-9
