"""labels.outlines draws the outlines fontTools draws, byte for byte, decoding each glyph once.

fontTools' own glyph set (a full parse of the face) is the reference, and
``truetype.svg_path`` (which decodes the glyph at every drawing) must agree with both:
characters of every kind (ASCII, CJK, composites, nested and scaled components), with the
cache cold and warm, under the transforms a label draws with and a few others.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from functools import cache

import pytest
from fontTools.pens.svgPathPen import SVGPathPen  # type: ignore[import-untyped]
from fontTools.pens.transformPen import TransformPen  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from labels import fonts, outlines, truetype
from tests.labels.test_truetype import COMPOSITES, LABEL_TEXT, _composite_naming, _sans

NAMES = sorted(fonts.FACES)
ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
# ŉ Ǖ ǘ ò: composites of composites (in sans or mono); ď: a scaled component (mono)
NESTED_AND_SCALED = "ŉǕǘòď"
TRANSFORMS = [
    (3 / 2048, 0, 0, -3 / 2048, 0, 0),  # as Face.outline draws: 3 mm text at the origin
    (2.5 / 1000, 0, 0, -2.5 / 1000, 1.25, 7.5),
    (0.0173, 0, 0, -0.0173, 31.337, 12.061),  # large type, far along the line
    (1, 0, 0, -1, 0, 0),  # font units, integers in and out
    (0.01, 0.002, -0.003, -0.01, 2.5, 7.0),  # skewed and turned
]


@cache
def reference(name: str) -> TTFont:
    return TTFont(str(fonts.face(name).path))


def fonttools_path(name: str, gid: int, transform: tuple[float, ...]) -> str:
    """The glyph's path as fontTools' glyph set draws it (no labels code involved)."""
    font = reference(name)
    glyphs = font.getGlyphSet()
    pen = SVGPathPen(glyphs, ntos=truetype.svg_number)
    glyphs[font.getGlyphName(gid)].draw(TransformPen(pen, transform))
    return str(pen.getCommands())


def is_composite(font: truetype.FontFile, gid: int) -> bool:
    data = font.glyph_bytes(gid)
    return len(data) >= 2 and data[0] >= 0x80  # a negative contour count


def characters(name: str) -> Iterator[str]:
    """ASCII, the label's text, composites, and a spread of the face's other characters."""
    face = fonts.face(name)
    yield from ASCII + LABEL_TEXT + COMPOSITES + NESTED_AND_SCALED + "\uffff"
    yield from (chr(c) for c in list(face.font.cmap.chars())[::197])


@pytest.mark.parametrize("name", NAMES)
def test_outlines_cold_and_warm_are_byte_for_byte_the_ones_fonttools_draws(name: str) -> None:
    font = fonts.face(name).font
    gids = list(dict.fromkeys(font.glyph_id(c) for c in characters(name)))
    shared = outlines.Outlines(font)  # warmed by every transform before
    for transform in TRANSFORMS:
        cold = outlines.Outlines(font)
        for gid in gids:
            expected = fonttools_path(name, gid, transform)
            assert gid not in cold
            assert cold.svg_path(gid, transform) == expected, (name, gid, transform)
            assert gid in cold
            assert cold.svg_path(gid, transform) == expected, (name, gid, transform)  # warm
            assert shared.svg_path(gid, transform) == expected, (name, gid, transform)
            assert truetype.svg_path(font, gid, transform) == expected  # decoded each time
    composites = sum(is_composite(font, gid) for gid in gids)
    assert len(gids) > 150 and composites > 20, (len(gids), composites)


def _components(name: str, char: str) -> list[object]:
    font = reference(name)
    return list(font["glyf"][font.getBestCmap()[ord(char)]].components)


def test_nested_and_scaled_components_are_among_those_compared() -> None:
    glyf = reference("sans")["glyf"]
    assert any(glyf[c.glyphName].isComposite() for c in _components("sans", "ŉ"))  # nested
    glyf = reference("mono")["glyf"]
    assert any(glyf[c.glyphName].isComposite() for c in _components("mono", "ò"))
    assert any(hasattr(c, "transform") for c in _components("mono", "ď"))  # scaled
    assert _components("cjk", "渝")  # the CJK face draws most characters from parts


def test_a_glyph_is_decoded_once_then_drawn_from_its_recording(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    face = fonts.face("cjk")
    drawn = outlines.Outlines(face.font)
    recorded: list[int] = []
    record = outlines.record

    def counted(font: truetype.FontFile, gid: int) -> tuple[object, ...]:
        recorded.append(gid)
        return record(font, gid)

    monkeypatch.setattr(outlines, "record", counted)
    gid = face.font.glyph_id("气")
    paths = {drawn.svg_path(gid, t) for t in TRANSFORMS for _ in range(3)}
    assert recorded == [gid] and len(paths) == len(TRANSFORMS)
    face.outline("渝", 3, 0, 0)
    assert face.font.glyph_id("渝") in face.outlines  # a face draws through its own


def test_at_most_limit_glyphs_are_kept_the_least_recently_drawn_dropped_first() -> None:
    font = fonts.face("sans").font
    a, b, c, d = (font.glyph_id(ch) for ch in "abcd")
    kept = outlines.Outlines(font, limit=3)
    for gid in (a, b, c, a, d):  # a drawn again: b is the least recent when d comes
        kept.svg_path(gid, TRANSFORMS[0])
    assert len(kept) == 3
    assert [gid in kept for gid in (a, b, c, d)] == [True, False, True, True]
    assert kept.svg_path(b, TRANSFORMS[1]) == fonttools_path("sans", b, TRANSFORMS[1])
    assert c not in kept and len(kept) == 3


def test_threads_drawing_at_once_never_draw_a_wrong_outline() -> None:
    # 8 threads on a cache of 6: glyphs recorded twice at once, dropped while others draw them
    face = fonts.face("cjk")
    gids = list(dict.fromkeys(face.font.glyph_id(c) for c in LABEL_TEXT))
    expected = {(g, t): truetype.svg_path(face.font, g, t) for g in gids for t in TRANSFORMS[:2]}
    shared = outlines.Outlines(face.font, limit=6)
    start, wrong, failed = threading.Barrier(8), [], []

    def draw(seed: int) -> None:
        try:
            jobs = list(expected) * 3
            random.Random(seed).shuffle(jobs)
            start.wait()
            wrong.extend(job for job in jobs if shared.svg_path(*job) != expected[job])
        except Exception as exc:  # a failure in a thread fails the test
            failed.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=draw, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failed and not wrong, (failed, wrong[:3])
    assert len(shared) <= 6


def test_a_glyph_that_cannot_be_drawn_is_refused_each_time_and_not_kept() -> None:
    font, gid = _composite_naming(bytearray(_sans()), None)  # é made of itself
    kept = outlines.Outlines(font)
    for _ in range(2):
        with pytest.raises(truetype.FontError, match="nest too deep"):
            kept.svg_path(gid, TRANSFORMS[0])
    assert gid not in kept and len(kept) == 0
    assert kept.svg_path(font.glyph_id("e"), TRANSFORMS[0])
