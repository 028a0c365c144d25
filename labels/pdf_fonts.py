"""The label faces for reportlab, read from ``labels.fonts``' compact tables.

reportlab's own ``TTFont`` parses a font into per-character dictionaries and per-glyph
lists: ~20 MB held for good by a web worker that printed one sheet with the CJK face (its
28,602 characters and 49,382 glyphs), and a second copy of the file's bytes. ``LabelTTFont``
gives reportlab the same answers from the tables ``labels.fonts`` already holds: the
character map and advances looked up when asked, the glyph index and the file's bytes
shared. The PDF is byte for byte the one reportlab's parser gives
(``tests/labels/test_pdf_fonts.py`` compares them, and every table, on the installed faces).

This leans on reportlab's TrueType classes (``TTFontFace.extractInfo``'s ``charInfo=0``, the
attributes its subsetter reads): pyproject.toml keeps reportlab below 6, and the tests above
fail on a version whose classes read otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload
from weakref import WeakKeyDictionary

from reportlab import rl_config
from reportlab.pdfbase.ttfonts import TTEncoding, TTFont, TTFontFace

from labels import truetype
from labels.fonts import Face

Scale = Callable[[float], float]  # font units to thousandths of an em (reportlab's _pdfScale)
_SPACES = (0x20, 0xA0)  # reportlab maps the no-break space to the space's glyph, or back


class CharToGlyph(Mapping[int, int]):
    """reportlab's ``charToGlyph``: every character the character map covers (glyph 0
    included, as reportlab reads it), the no-break space given the space's glyph. A glyph
    the font lacks (a damaged map) is given as 0, where reportlab's parser failed later."""

    def __init__(self, font: truetype.FontFile) -> None:
        self.cmap, self.glyph_count = font.cmap, font.glyph_count
        covered = sum(
            end - start + 1 for start, end in zip(font.cmap.starts, font.cmap.ends, strict=True)
        )
        spaces = sum(self.cmap.lookup(c) is not None for c in _SPACES)
        self.size = covered + (1 if spaces == 1 else 0)

    def __getitem__(self, code: int) -> int:
        if code in _SPACES:
            space = self.cmap.lookup(0x20)
            gid = space if space is not None else self.cmap.lookup(0xA0)
        else:
            gid = self.cmap.lookup(code)
        if gid is None:
            raise KeyError(code)
        return gid if gid < self.glyph_count else 0

    def __iter__(self) -> Iterator[int]:
        covered = self.cmap.chars()
        if any(self.cmap.lookup(c) is not None for c in _SPACES):
            covered = iter(sorted({*covered, *_SPACES}))
        return covered

    def __len__(self) -> int:
        return self.size

    def __contains__(self, code: object) -> bool:
        try:
            self[code]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True


class CharWidths(Mapping[int, float]):
    """reportlab's ``charWidths``: a character's advance in thousandths of an em."""

    def __init__(self, font: truetype.FontFile, chars: CharToGlyph, scale: Scale) -> None:
        self.font, self.chars, self.scale = font, chars, scale

    def __getitem__(self, code: int) -> float:
        return float(self.scale(self.font.advance(self.chars[code])))

    def __iter__(self) -> Iterator[int]:
        return iter(self.chars)

    def __len__(self) -> int:
        return len(self.chars)


class HMetrics(Sequence[tuple[float, int]]):
    """reportlab's ``hmetrics``: (advance, left side bearing as unsigned) per glyph. After
    the last full metric reportlab repeats its advance already scaled to thousandths of an
    em (a quirk of its parser, kept so that the subset fonts come out the same)."""

    def __init__(self, font: truetype.FontFile, scale: Scale) -> None:
        self.font, self.scale = font, scale

    @overload
    def __getitem__(self, gid: int) -> tuple[float, int]: ...
    @overload
    def __getitem__(self, gid: slice) -> Sequence[tuple[float, int]]: ...
    def __getitem__(self, gid: int | slice) -> Any:
        if isinstance(gid, slice):
            return [self[i] for i in range(*gid.indices(len(self)))]
        if gid < 0:
            gid += len(self)
        if not 0 <= gid < self.font.glyph_count:
            raise IndexError(gid)
        full = len(self.font.advances)
        advance = self.font.advance(gid)
        return (
            advance if gid < full else self.scale(advance),
            self.font.left_bearing(gid) & 0xFFFF,
        )

    def __len__(self) -> int:
        return self.font.glyph_count


class LabelFace(TTFontFace):
    """reportlab's face of a label font: its header tables read by reportlab, the rest
    answered from ``labels.truetype``."""

    def __init__(self, face: Face) -> None:
        self.label_font = face.font
        # reportlab's readFile reads no file when its bytes are there (and names none)
        self._ttf_data, self.filename = face.font.data, str(face.path)
        super().__init__(self.filename)

    def extractInfo(self, charInfo: int = 1) -> None:
        super().extractInfo(charInfo=0)  # names, flags, ascent, bounding box, units per em
        font, scale = self.label_font, self._pdfScale  # type: ignore[attr-defined]
        self.charToGlyph = CharToGlyph(font)
        self.charWidths = CharWidths(font, self.charToGlyph, scale)
        self.defaultWidth = scale(font.advance(0))
        self.hmetrics = HMetrics(font, scale)
        self.glyphPos = font.loca


class LabelTTFont(TTFont):
    """``reportlab.pdfbase.ttfonts.TTFont`` over a ``LabelFace``: its ``__init__`` with the
    face built from ``labels.fonts`` instead of parsed again from the file."""

    def __init__(self, name: str, face: Face) -> None:
        self.fontName = name
        self.face = LabelFace(face)
        self.encoding = TTEncoding()
        self.state = WeakKeyDictionary()
        self._asciiReadable = rl_config.ttfAsciiReadable
        self.shapable = False  # labels are not shaped (no uharfbuzz): each character its glyph
