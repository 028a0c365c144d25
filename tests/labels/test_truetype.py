"""labels.truetype reads the label faces as fontTools' full parse does, and refuses damage.

fontTools (which parses every table of a font) is the reference: characters, advances
and glyph outlines, simple and composite, on the installed faces; a format 4 map (which
the installed faces hold but do not choose) on faces rewritten with that map alone.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from fontTools.pens.svgPathPen import SVGPathPen  # type: ignore[import-untyped]
from fontTools.pens.transformPen import TransformPen  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from labels import fonts, truetype

NAMES = sorted(fonts.FACES)
LABEL_TEXT = "重庆渝安燃气有限公司山城液化石油气YSP35.5 15 kg 0123456789ABCDEFGHJKMNPQRSTVWXYZ"
COMPOSITES = "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄą"


@cache
def reference(name: str) -> TTFont:
    return TTFont(str(fonts.face(name).path))


def _ntos(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def reference_outline(name: str, char: str, size: float, x: float, baseline: float) -> str:
    """The outline as labels.fonts drew it with fontTools' glyph set, before this module."""
    font = reference(name)
    glyphs = font.getGlyphSet()
    pen = SVGPathPen(glyphs, ntos=_ntos)
    scale = size / font["head"].unitsPerEm
    glyph = font.getBestCmap().get(ord(char), ".notdef")
    glyphs[glyph].draw(TransformPen(pen, (scale, 0, 0, -scale, x, baseline)))
    return str(pen.getCommands())


@pytest.mark.parametrize("name", NAMES)
def test_every_character_and_advance_is_the_one_fonttools_reads(name: str) -> None:
    face, ref = fonts.face(name), reference(name)
    cmap = ref.getBestCmap()
    have = {c for c in face.font.cmap.chars() if face.has(chr(c))}
    assert have == {c for c, glyph in cmap.items() if glyph != ".notdef"}
    units, hmtx = ref["head"].unitsPerEm, ref["hmtx"]
    for code, glyph in cmap.items():
        assert face.font.glyph_id(chr(code)) == ref.getGlyphID(glyph)
        assert face.advance(chr(code)) == hmtx[glyph][0] / units
    assert face.advance("\U0010fffd") == hmtx[".notdef"][0] / units  # a character it lacks


def _sample(name: str) -> Iterator[str]:
    chars = sorted(reference(name).getBestCmap())
    yield from (chr(c) for c in chars[::41])
    yield from LABEL_TEXT + COMPOSITES + "\uffff\U0010fffd"


@pytest.mark.parametrize("name", NAMES)
def test_glyph_outlines_are_the_ones_fonttools_draws(name: str) -> None:
    face = fonts.face(name)
    drawn = 0
    for char in _sample(name):
        for size, x, baseline in ((3.0, 0.0, 0.0), (2.5, 1.25, 7.5)):
            assert face.outline(char, size, x, baseline) == reference_outline(
                name, char, size, x, baseline
            ), f"U+{ord(char):04X}"
        drawn += 1
    assert drawn > 100


def test_composite_glyphs_are_among_those_compared() -> None:
    font = fonts.face("sans").font
    contours = [struct.unpack(">h", font.glyph_bytes(font.glyph_id(c))[:2])[0] for c in COMPOSITES]
    assert sum(n < 0 for n in contours) > 10  # negative: a composite of other glyphs


def _only_format_4(name: str) -> bytes:
    """The face rewritten with its (3, 1) format 4 character map as its only map."""
    font = TTFont(str(fonts.face(name).path))
    font["cmap"].tables = [t for t in font["cmap"].tables if (t.platformID, t.platEncID) == (3, 1)]
    assert [t.format for t in font["cmap"].tables] == [4]
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_a_format_4_character_map_reads_as_fonttools_reads_it(name: str) -> None:
    data = _only_format_4(name)
    font, ref = truetype.read(data), TTFont(io.BytesIO(data))
    assert font.cmap.offsets is not None  # format 4
    cmap = ref.getBestCmap()
    covered = set(font.cmap.chars())
    assert {c for c in cmap if c <= 0xFFFF} <= covered
    for code in covered:
        assert font.glyph_id(chr(code)) == ref.getGlyphID(cmap.get(code, ".notdef"))


def test_the_format_4_maps_compared_use_glyph_id_arrays() -> None:
    # Segments that take their glyphs from the id array, not from a delta: both paths run.
    font = truetype.read(_only_format_4("cjk"))
    assert font.cmap.offsets is not None and any(font.cmap.offsets)
    assert not all(font.cmap.offsets)


def _with_metrics(data: bytes, changes: dict[int, tuple[int | None, int]]) -> bytes:
    """The font with hmtx entries changed: glyph → (advance or None past the full metrics,
    left side bearing)."""
    out = bytearray(data)
    hmtx, _ = _table(data, b"hmtx")
    hhea, _ = _table(data, b"hhea")
    full = struct.unpack_from(">H", data, hhea + 34)[0]
    for gid, (advance, bearing) in changes.items():
        if gid < full:
            struct.pack_into(">Hh", out, hmtx + 4 * gid, advance, bearing)
        else:
            struct.pack_into(">h", out, hmtx + 4 * full + 2 * (gid - full), bearing)
    return bytes(out)


def test_metrics_past_the_full_ones_repeat_the_last_advance_as_fonttools_reads_them() -> None:
    data = _sans()
    full = struct.unpack_from(">H", data, _table(data, b"hhea")[0] + 34)[0]
    count = truetype.read(data).glyph_count
    assert full < count  # DejaVu Sans ends with glyphs that share the last advance
    changes = {full - 2: (700, -40), full - 1: (1234, 25), count - 1: (None, -77)}
    patched = _with_metrics(data, changes)
    font, ref = truetype.read(patched), TTFont(io.BytesIO(patched))
    order = ref.getGlyphOrder()
    for gid in range(full - 3, count):
        assert (font.advance(gid), font.left_bearing(gid)) == ref["hmtx"][order[gid]], gid
    assert font.advance(count - 1) == 1234 and font.left_bearing(count - 1) == -77


def test_a_glyph_whose_bearing_differs_from_its_outline_is_moved_as_fonttools_moves_it() -> None:
    data = _sans()
    gid = truetype.read(data).glyph_id("L")
    patched = truetype.read(_with_metrics(data, {gid: (1200, 300)}))
    ref = TTFont(io.BytesIO(_with_metrics(data, {gid: (1200, 300)})))
    glyphs = ref.getGlyphSet()
    pen = SVGPathPen(glyphs, ntos=_ntos)
    glyphs[ref.getGlyphName(gid)].draw(TransformPen(pen, (0.01, 0, 0, -0.01, 2, 5)))
    moved = truetype.svg_path(patched, gid, (0.01, 0, 0, -0.01, 2, 5))
    assert moved == pen.getCommands()
    assert moved != truetype.svg_path(truetype.read(data), gid, (0.01, 0, 0, -0.01, 2, 5))


# --- damaged files ------------------------------------------------------------------------


def _sans() -> bytes:
    return fonts.face("sans").path.read_bytes()


def _table(data: bytes, tag: bytes) -> tuple[int, int]:
    for i in range(struct.unpack_from(">H", data, 4)[0]):
        name, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if name == tag:
            return offset, length
    raise AssertionError(tag)


def _loca_format(data: bytes) -> int:
    head, _ = _table(data, b"head")
    return int(struct.unpack_from(">h", data, head + 50)[0])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: b"not a font at all" * 100, "is not a TrueType font"),
        (lambda d: b"OTTO" + d[4:], "has no TrueType outlines"),
        (lambda d: d[:4096], "runs past the end of the file"),
        (lambda d: d[:10], "cut short"),
        (lambda d: d[: len(d) // 2], "runs past the end of the file"),
        (lambda d: d.replace(b"cmap", b"xmap", 1), "has no cmap table"),
        (lambda d: d.replace(b"glyf", b"xlyf", 1), "has no TrueType outlines"),
    ],
)
def test_a_damaged_file_is_refused_saying_why(damage, reason: str) -> None:
    with pytest.raises(truetype.FontError, match=reason):
        truetype.read(damage(_sans()))


def test_a_glyph_index_running_backwards_is_refused() -> None:
    data = bytearray(_sans())
    loca, _ = _table(data, b"loca")
    width = 4 if _loca_format(data) else 2
    at = loca + width * 10  # glyph 10 starts after glyph 11 ends
    data[at : at + width] = b"\xff" * width
    with pytest.raises(truetype.FontError, match="glyph index"):
        truetype.read(bytes(data))


def _composite_naming(data: bytearray, target: int | None) -> tuple[truetype.FontFile, int]:
    """The font with a composite glyph's first component renamed to target (None: itself)."""
    font = truetype.read(bytes(data))
    gid = font.glyph_id("é")
    start = font.glyf + font.loca[gid]
    assert struct.unpack_from(">h", data, start)[0] < 0  # composite
    struct.pack_into(">H", data, start + 12, gid if target is None else target)
    return truetype.read(bytes(data)), gid


def test_a_composite_glyph_that_contains_itself_is_refused_when_drawn() -> None:
    font, gid = _composite_naming(bytearray(_sans()), None)
    with pytest.raises(truetype.FontError, match="nest too deep"):
        truetype.svg_path(font, gid, (1, 0, 0, -1, 0, 0))


def test_a_composite_naming_a_glyph_the_font_lacks_is_refused_when_drawn() -> None:
    data = bytearray(_sans())
    count = truetype.read(bytes(data)).glyph_count
    font, gid = _composite_naming(data, count + 5)
    with pytest.raises(truetype.FontError, match="which the font lacks"):
        truetype.svg_path(font, gid, (1, 0, 0, -1, 0, 0))


def test_a_face_whose_glyph_cannot_be_drawn_is_font_missing_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = bytearray(_sans())
    _composite_naming(data, None)
    (tmp_path / "DejaVuSans.ttf").write_bytes(bytes(data))
    monkeypatch.setenv("LABEL_FONT_DIRS", str(tmp_path))
    fonts.face.cache_clear()
    try:
        face = fonts.face("sans")
        assert face.path == tmp_path / "DejaVuSans.ttf"
        assert face.outline("e", 3, 0, 0)  # a sound glyph draws
        with pytest.raises(fonts.FontMissing, match="fonts-dejavu-core") as err:
            face.outline("é", 3, 0, 0)
        assert "nest too deep" in str(err.value)
    finally:
        fonts.face.cache_clear()


# --- character maps that are damaged or unusual --------------------------------------------


def _format12_at(data: bytes) -> int:
    """Where DejaVu Sans' (3, 10) format 12 map starts."""
    cmap, _ = _table(data, b"cmap")
    for i in range(struct.unpack_from(">H", data, cmap + 2)[0]):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        if (platform, encoding) == (3, 10):
            return cmap + offset
    raise AssertionError("no (3, 10) map")


def _with_group(
    group: int, start: int | None = None, end: int | None = None, glyph: int | None = None
) -> bytes:
    data = bytearray(_sans())
    at = _format12_at(data) + 16 + 12 * group
    old = struct.unpack_from(">III", data, at)
    new = (
        old[0] if start is None else start,
        old[1] if end is None else end,
        old[2] if glyph is None else glyph,
    )
    struct.pack_into(">III", data, at, *new)
    return bytes(data)


def _groups() -> int:
    data = _sans()
    return int(struct.unpack_from(">I", data, _format12_at(data) + 12)[0])


def _group(i: int) -> tuple[int, int, int]:
    """Group i of the format 12 map: first character, last character, first glyph."""
    data = _sans()
    start, end, glyph = struct.unpack_from(">III", data, _format12_at(data) + 16 + 12 * i)
    return start, end, glyph


@pytest.mark.parametrize(
    "damage",
    [
        lambda: _with_group(5, start=_group(4)[1]),  # starts where group 4 ends
        lambda: _with_group(_groups() - 1, end=0xFFFFFFFF),
        lambda: _with_group(3, start=0x7000),  # after the ranges that follow it
        lambda: _with_group(7, start=0x500, end=0x400),
    ],
    ids=["overlapping", "past-unicode", "out-of-order", "backwards"],
)
def test_a_character_map_whose_ranges_are_out_of_order_or_too_wide_is_refused(damage) -> None:
    with pytest.raises(truetype.FontError, match="character map is damaged"):
        truetype.read(damage())


def test_a_character_mapped_to_a_glyph_the_font_lacks_has_no_glyph() -> None:
    font = truetype.read(_sans())
    damaged = truetype.read(_with_group(10, glyph=font.glyph_count + 100))
    start = _group(10)[0]
    assert damaged.glyph_id(chr(start)) == 0 and font.glyph_id(chr(start)) != 0
    from labels.pdf_fonts import CharToGlyph

    assert CharToGlyph(damaged)[start] == 0  # reportlab is never handed the missing glyph


def _rebuilt(change, name: str = "sans") -> bytes:
    font = TTFont(str(fonts.face(name).path))
    change(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def test_a_face_that_maps_no_character_is_refused() -> None:
    def empty(font: TTFont) -> None:
        for table in font["cmap"].tables:
            table.cmap = {}

    with pytest.raises(truetype.FontError, match="has no character map"):
        truetype.read(_rebuilt(empty))


def test_the_map_chosen_among_several_is_the_one_fonttools_chooses() -> None:
    def two_disagreeing_maps(font: TTFont) -> None:
        keep = [t for t in font["cmap"].tables if (t.platformID, t.platEncID) in {(0, 3), (3, 1)}]
        for table in keep:
            if (table.platformID, table.platEncID) == (0, 3):
                table.cmap = {**table.cmap, ord("A"): table.cmap[ord("B")]}
        font["cmap"].tables = keep

    data = _rebuilt(two_disagreeing_maps)
    ref = TTFont(io.BytesIO(data))
    assert truetype.read(data).glyph_id("A") == ref.getGlyphID(ref.getBestCmap()[ord("A")])
    assert truetype.read(data).glyph_id("A") != truetype.read(data).glyph_id("B")


@pytest.mark.parametrize(
    ("field", "value"), [(50, 2), (52, 1)], ids=["loca-format", "glyph-format"]
)
def test_a_header_naming_a_format_truetype_lacks_is_refused(field: int, value: int) -> None:
    data = bytearray(_sans())
    head, _ = _table(data, b"head")
    struct.pack_into(">h", data, head + field, value)
    with pytest.raises(truetype.FontError, match="glyph format"):
        truetype.read(bytes(data))


def test_a_composite_glyph_of_too_many_parts_is_refused_when_drawn() -> None:
    def crowded(font: TTFont) -> None:
        glyph = font["glyf"]["eacute"]
        glyph.components = glyph.components * 51

    font = truetype.read(_rebuilt(crowded))
    with pytest.raises(truetype.FontError, match="too many glyphs"):
        truetype.svg_path(font, font.glyph_id("é"), (1, 0, 0, -1, 0, 0))
    assert truetype.svg_path(font, font.glyph_id("e"), (1, 0, 0, -1, 0, 0))


def test_a_format_4_map_holding_u_ffff_reads_as_fonttools_reads_it() -> None:
    def with_ffff(font: TTFont) -> None:
        font["cmap"].tables = [t for t in font["cmap"].tables if t.format == 4]
        for table in font["cmap"].tables:
            table.cmap[0xFFFF] = table.cmap[ord("气")]  # its last real segment ends at U+FFFF

    data = _rebuilt(with_ffff, "cjk")
    font, ref = truetype.read(data), TTFont(io.BytesIO(data))
    assert font.cmap.offsets is not None and any(font.cmap.offsets)  # glyph id arrays too
    cmap = ref.getBestCmap()
    assert font.glyph_id("\uffff") == ref.getGlyphID(cmap[0xFFFF]) != 0
    for code in font.cmap.chars():
        assert font.glyph_id(chr(code)) == ref.getGlyphID(cmap.get(code, ".notdef")), code


def test_a_map_giving_only_glyphs_the_font_lacks_is_refused() -> None:
    data = bytearray(_sans())
    at = _format12_at(data)
    for i in range(_groups()):
        struct.pack_into(">I", data, at + 16 + 12 * i + 8, 0x00F00000 + 0x10000 * i)
    with pytest.raises(truetype.FontError, match="has no character map"):
        truetype.read(bytes(data))
