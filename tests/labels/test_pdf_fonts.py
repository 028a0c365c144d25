"""labels.pdf_fonts gives reportlab what its own TrueType parser gives: the same tables on
the installed faces, and a sheet PDF that is the same to the byte."""

from __future__ import annotations

from typing import Any

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from labels import fonts, sheet, sheet_layouts
from labels.layout import LabelData
from labels.pdf_fonts import LabelTTFont

NAMES = sorted(fonts.FACES)
# reportlab's read cursor, and the reverse map only its text shaping (uharfbuzz) reads
NOT_KEPT = {"_pos", "glyphToChar"}
TABLES = {"charToGlyph", "charWidths", "hmetrics", "glyphPos", "_pdfScale", "label_font"}


@pytest.mark.parametrize("name", NAMES)
def test_the_face_answers_what_reportlabs_parser_reads(name: str) -> None:
    face = fonts.face(name)
    ours, theirs = LabelTTFont("ours", face), TTFont("theirs", str(face.path))
    a, b = vars(ours.face), vars(theirs.face)
    assert set(a) - TABLES - NOT_KEPT == set(b) - TABLES - NOT_KEPT
    for key in set(b) - TABLES - NOT_KEPT:
        assert a[key] == b[key], key
    assert dict(ours.face.charToGlyph) == theirs.face.charToGlyph
    assert len(ours.face.charToGlyph) == len(theirs.face.charToGlyph)
    assert dict(ours.face.charWidths) == theirs.face.charWidths
    assert list(ours.face.hmetrics) == theirs.face.hmetrics
    assert list(ours.face.glyphPos) == theirs.face.glyphPos
    assert set(vars(ours)) == set(vars(theirs))  # the font object reportlab's canvas reads
    assert ours.face._ttf_data is face.font.data  # one copy of the file's bytes


def test_lookups_outside_the_map_answer_as_reportlabs_dictionaries() -> None:
    face = fonts.face("cjk")
    ours, theirs = LabelTTFont("ours", face).face, TTFont("theirs", str(face.path)).face
    for code in (0x20, 0xA0, 0xFFFF, 0x10FFFD, 0x20000, -1):
        assert (code in ours.charToGlyph) == (code in theirs.charToGlyph), code
        assert ours.charToGlyph.get(code) == theirs.charToGlyph.get(code), code
        assert ours.getCharWidth(code) == theirs.getCharWidth(code), code
    assert "x" not in ours.charToGlyph
    with pytest.raises(IndexError):
        ours.hmetrics[len(theirs.hmetrics)]
    assert ours.hmetrics[-3:] == theirs.hmetrics[-3:] and ours.hmetrics[-1] == theirs.hmetrics[-1]


def _sheet() -> bytes:
    owners = ("重庆渝安燃气有限公司", "山城\u00a0液化气·𠀀公司", "Ÿ Ĳ ǅ 燃气")  # nbsp, ext. B
    items = [
        LabelData(f"7G3KQ2M9XW{i:02d}", f"https://l.test/c/7G3KQ2M9XW{i:02d}", owner, "YSP35.5", 15)
        for i, owner in enumerate(owners * 9)
    ]
    return sheet.render_sheet(items, sheet_layouts.resolve_layout(None))


def test_a_sheet_is_byte_for_byte_the_pdf_reportlabs_own_parser_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = _sheet()
    assert isinstance(pdfmetrics.getFont("Label-cjk"), LabelTTFont)
    # reportlab's registry keeps a name's first font: start from an empty copy, then ours
    # come back with the copies when the test ends
    monkeypatch.setattr(pdfmetrics, "_fonts", dict(pdfmetrics._fonts))
    monkeypatch.setattr(pdfmetrics, "_dynFaceNames", {})
    for name in NAMES:
        pdfmetrics._fonts.pop(f"Label-{name}", None)

    def theirs(pdf_name: str, face: fonts.Face) -> Any:
        return TTFont(pdf_name, str(face.path))

    monkeypatch.setattr(sheet, "LabelTTFont", theirs)
    sheet._pdf_font.cache_clear()
    try:
        reference = _sheet()
        assert isinstance(pdfmetrics.getFont("Label-cjk"), TTFont)
        assert not isinstance(pdfmetrics.getFont("Label-cjk"), LabelTTFont)
    finally:
        sheet._pdf_font.cache_clear()
    assert ours == reference
    assert len(ours) > 50_000
