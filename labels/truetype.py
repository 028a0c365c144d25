"""The few TrueType tables a label needs, read from a font file's bytes and nothing more.

A label needs, per face: which characters it has (``cmap``), how wide each is (``hmtx``)
and, for SVG only, a glyph's outline (``loca`` + ``glyf``). Parsing a whole font with
fontTools keeps tens of MB per web worker for good (the CJK face has 49,382 glyphs);
this keeps the file's bytes and a few compact arrays, and decodes one glyph when it is
drawn. Everything is checked when the file is read, so a damaged file fails there
(``FontError``) and not halfway through a label.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

_TRUETYPE = (b"\x00\x01\x00\x00", b"true")
# Unicode maps by (platform, encoding), in the order fontTools' getBestCmap prefers them
_CMAP_PREFERENCE = ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0))
LAST_CHAR = 0x10FFFF
# Composite glyphs nest a level or two and draw a character from a few glyphs (at most 4
# levels and 22 glyphs in the 48 fonts of a Debian machine): more is a damaged file
_COMPONENT_DEPTH, _GLYPH_PARTS = 8, 100


class FontError(ValueError):
    """The file is not a TrueType font these labels can use; the message says why."""


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">H", data, offset)[0])


def _i16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">h", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">I", data, offset)[0])


def _array(code: str, data: bytes, offset: int, count: int) -> array[int]:
    """count big-endian integers of type code ("H", "h", "I") starting at offset."""
    out = array(code)
    end = offset + count * out.itemsize
    if end > len(data):
        raise FontError("a table is cut short")
    out.frombytes(data[offset:end])
    if sys.byteorder == "little":
        out.byteswap()
    return out


@dataclass(frozen=True, eq=False)
class CharMap:
    """A Unicode character map (format 4 or 12) as sorted ranges, looked up by bisection.

    Range i covers ``starts[i]..ends[i]``. Format 12: glyph = ``deltas[i]`` + the character's
    distance from the start. Format 4: glyph = character + ``deltas[i]`` (mod 65536), or,
    where ``offsets[i]`` (the range's idRangeOffset) is set, taken from ``ids`` (``segments``:
    the table's segment count, which that offset counts from). Glyph 0
    (.notdef) means the face has no such character.
    """

    starts: array[int]
    ends: array[int]
    deltas: array[int]
    offsets: array[int] | None = None
    ids: array[int] | None = None
    segments: int = 0

    def glyph(self, char: int) -> int:
        """The glyph for char, 0 when no range covers it."""
        return self.lookup(char) or 0

    def lookup(self, char: int) -> int | None:
        """The glyph the map gives char (0 included, unchecked), None when no range covers it."""
        i = bisect_left(self.ends, char)
        if i == len(self.ends) or char < self.starts[i]:
            return None
        if self.offsets is None or self.ids is None:  # format 12
            return self.deltas[i] + char - self.starts[i]
        if not self.offsets[i]:
            return (char + self.deltas[i]) & 0xFFFF
        # idRangeOffset counts bytes from its own slot, which sits len(ends) - i slots before ids
        at = self.offsets[i] // 2 - (self.segments - i) + char - self.starts[i]
        gid = self.ids[at] if 0 <= at < len(self.ids) else 0
        return (gid + self.deltas[i]) & 0xFFFF if gid else 0

    def chars(self) -> Iterator[int]:
        """Every character some range covers, in order."""
        for start, end in zip(self.starts, self.ends, strict=True):
            yield from range(start, end + 1)


def _checked(cmap: CharMap, glyph_count: int) -> CharMap:
    """cmap, once its ranges are in order, apart, within Unicode and map some character to a
    glyph the font has."""
    previous = -1
    for start, end in zip(cmap.starts, cmap.ends, strict=True):
        if not previous < start <= end <= LAST_CHAR:
            raise FontError("its character map is damaged (ranges out of order or overlapping)")
        previous = end
    if not any(0 < cmap.glyph(c) < glyph_count for c in cmap.chars()):  # stops at the first
        raise FontError("has no character map")
    return cmap


def _format4(data: bytes, at: int) -> CharMap:
    count = _u16(data, at + 6) // 2
    ends = _array("H", data, at + 14, count)
    starts = _array("H", data, at + 16 + 2 * count, count)
    deltas = _array("h", data, at + 16 + 4 * count, count)
    ranges_at = at + 16 + 6 * count
    offsets = _array("H", data, ranges_at, count)
    ids_at = ranges_at + 2 * count
    ids = _array("H", data, ids_at, max(0, (at + _u16(data, at + 2) - ids_at) // 2))
    if count > 1 and ends[-2] == 0xFFFF:
        # The closing 0xFFFF segment after one that already ends there (a map holding U+FFFF):
        # left out, as fontTools leaves the closing segment out.
        starts, ends, deltas, offsets = starts[:-1], ends[:-1], deltas[:-1], offsets[:-1]
    return CharMap(starts, ends, deltas, offsets, ids, count)


def _format12(data: bytes, at: int) -> CharMap:
    groups = _array("I", data, at + 16, 3 * _u32(data, at + 12))
    return CharMap(groups[0::3], groups[1::3], groups[2::3])


_READERS = {4: _format4, 12: _format12}


def _charmap(data: bytes, at: int, glyph_count: int) -> CharMap:
    """The preferred Unicode map of a format these labels read (the first of its kind). A
    map in another format (0, 6, 13…) is passed over, where fontTools would read it."""
    found: dict[tuple[int, int], list[int]] = {}
    for i in range(_u16(data, at + 2)):
        platform, encoding, offset = struct.unpack_from(">HHI", data, at + 4 + 8 * i)
        if _u16(data, at + offset) in _READERS:
            found.setdefault((platform, encoding), []).append(at + offset)
    for key in _CMAP_PREFERENCE:
        if key in found:
            sub = found[key][0]
            return _checked(_READERS[_u16(data, sub)](data, sub), glyph_count)
    raise FontError("has no Unicode character map (format 4 or 12)")


@dataclass(eq=False)
class FontFile:
    """One TrueType font file: its bytes and the tables a label reads, checked."""

    data: bytes = field(repr=False)
    units_per_em: int
    glyph_count: int
    advances: array[int] = field(repr=False)  # per glyph up to numberOfHMetrics; the last repeats
    loca: array[int] = field(repr=False)  # glyph i's bytes: glyf[loca[i]:loca[i + 1]]
    glyf: int  # where the glyf table starts in data
    hmtx: int  # where the hmtx table starts in data
    cmap: CharMap = field(repr=False)

    def glyph_id(self, char: str) -> int:
        """The glyph for char, 0 (.notdef) when the face has none."""
        gid = self.cmap.glyph(ord(char))
        return gid if gid < self.glyph_count else 0

    def advance(self, gid: int) -> int:
        """Advance width of glyph gid, in font units."""
        return self.advances[min(gid, len(self.advances) - 1)]

    def glyph_bytes(self, gid: int) -> bytes:
        return self.data[self.glyf + self.loca[gid] : self.glyf + self.loca[gid + 1]]

    def left_bearing(self, gid: int) -> int:
        """The glyph's left side bearing from hmtx, in font units."""
        count = len(self.advances)
        at = self.hmtx + (4 * gid + 2 if gid < count else 4 * count + 2 * (gid - count))
        return _i16(self.data, at)


def read(data: bytes) -> FontFile:
    """Parse a TrueType font's bytes; FontError says what is wrong with a file that is not one."""
    try:
        return _read(data)
    except struct.error as exc:
        raise FontError("a table is cut short") from exc


def _read(data: bytes) -> FontFile:
    if data[:4] == b"OTTO":
        raise FontError("has no TrueType outlines")
    if data[:4] not in _TRUETYPE:
        raise FontError("is not a TrueType font")
    tables: dict[str, int] = {}
    for i in range(_u16(data, 4)):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if offset + length > len(data):
            raise FontError(f"its {tag.decode('latin-1')!r} table runs past the end of the file")
        tables[tag.decode("latin-1")] = offset
    missing = [
        t for t in ("head", "hhea", "maxp", "hmtx", "cmap", "loca", "glyf") if t not in tables
    ]
    if "glyf" in missing:
        raise FontError("has no TrueType outlines")
    if missing:
        raise FontError(f"has no {', '.join(missing)} table")
    head, glyph_count = tables["head"], _u16(data, tables["maxp"] + 4)
    units_per_em, long_loca = _u16(data, head + 18), _i16(data, head + 50)
    metrics, glyph_data_format = _u16(data, tables["hhea"] + 34), _i16(data, head + 52)
    if not units_per_em or not glyph_count or not 0 < metrics <= glyph_count:
        raise FontError("its header is damaged")
    if long_loca not in (0, 1) or glyph_data_format != 0:
        raise FontError("its header names a glyph format that TrueType does not have")
    loca = _array("I" if long_loca else "H", data, tables["loca"], glyph_count + 1)
    if not long_loca:
        loca = array("I", (2 * x for x in loca))
    glyf_end = len(data) - tables["glyf"]
    if any(a > b for a, b in pairwise(loca)) or loca[-1] > glyf_end:
        raise FontError("its glyph index (loca) is damaged")
    pairs = _array("H", data, tables["hmtx"], 2 * metrics)
    _array("h", data, tables["hmtx"] + 4 * metrics, glyph_count - metrics)  # bearings present
    cmap = _charmap(data, tables["cmap"], glyph_count)
    glyf, hmtx = tables["glyf"], tables["hmtx"]
    return FontFile(data, units_per_em, glyph_count, pairs[0::2], loca, glyf, hmtx, cmap)


class GlyphSet:
    """The face's glyphs as fontTools' decoder and pens ask for them: a glyf table that names
    glyphs by id (to resolve a composite's components) and a glyph set to draw them from.
    One per drawing: it counts the glyphs a composite is drawn from."""

    extended = False  # no cubic outlines or 24-bit glyph ids: a plain glyf table

    def __init__(self, font: FontFile) -> None:
        self.font = font
        self.depth = self.parts = 0

    def getGlyphName(self, gid: int) -> str:  # fontTools' name
        return f"gid{gid}"

    def __getitem__(self, name: str) -> _Drawable:
        gid = int(name[3:])
        if not 0 <= gid < self.font.glyph_count:
            raise FontError(f"a composite glyph names glyph {gid}, which the font lacks")
        return _Drawable(self, gid)

    def draw(self, gid: int, pen: Any, top: bool) -> None:
        from fontTools.ttLib.tables._g_l_y_f import Glyph  # type: ignore[import-untyped]

        self.parts += 1
        if self.depth > _COMPONENT_DEPTH:
            raise FontError("its composite glyphs nest too deep")
        if self.parts > _GLYPH_PARTS:
            raise FontError("a composite glyph is drawn from too many glyphs")
        glyph = Glyph(self.font.glyph_bytes(gid))
        glyph.expand(self)
        # as fontTools' glyph set: a top-level simple glyph moves to its hmtx bearing
        offset = self.font.left_bearing(gid) - glyph.xMin if top and hasattr(glyph, "xMin") else 0
        self.depth += 1
        try:
            glyph.draw(pen, self, offset)
        finally:
            self.depth -= 1


@dataclass(frozen=True)
class _Drawable:
    glyphs: GlyphSet
    gid: int

    def draw(self, pen: Any) -> None:
        self.glyphs.draw(self.gid, pen, top=False)


def svg_number(v: float) -> str:
    """A coordinate in SVG path data: three decimals at most, no trailing zeros."""
    return f"{v:.3f}".rstrip("0").rstrip(".")


def svg_path(font: FontFile, gid: int, transform: tuple[float, ...]) -> str:
    """SVG path data of glyph gid under the affine transform (a, b, c, d, dx, dy), decoded now
    (``labels.outlines`` keeps the glyphs drawn last, decoded once)."""
    from fontTools.pens.svgPathPen import SVGPathPen  # type: ignore[import-untyped]
    from fontTools.pens.transformPen import TransformPen  # type: ignore[import-untyped]

    glyphs = GlyphSet(font)
    pen = SVGPathPen(glyphs, ntos=svg_number)
    glyphs.draw(gid, TransformPen(pen, transform), top=True)
    return str(pen.getCommands())
