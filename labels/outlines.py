"""A face's glyph outlines, decoded once and kept while they are among the last drawn.

An SVG label draws each character as a path. Decoding the glyph (fontTools' ``Glyph``)
again for every character of every label took about half of the drawing's time, and labels
repeat the same few hundred characters. ``Outlines`` records a glyph's pen calls once, in
font units with its components resolved, and replays them through each drawing's transform
into fontTools' SVG pen.

Replay is exact: the SVG pen receives the calls and the coordinates it received when the
glyph was decoded, and each component's transform is composed with the drawing's as
fontTools' pens compose them (``TransformPen.addComponent``, ``DecomposingPen``), so the path
data is byte for byte ``truetype.svg_path``'s.

Bounded: at most ``LIMIT`` (1,024) glyphs a face, the least recently drawn dropped first;
the key is the glyph id. A glyph keeps its coordinates as 16-bit integers, as glyf holds
them. Measured with tracemalloc: the characters of 240 labels of ``bench/labels.py`` (55
glyphs in the three faces) take 48 KiB; a full cache of 1,024 glyphs, 0.95 MiB (sans),
0.84 MiB (mono), 1.3-1.6 MiB (CJK): at most ~3.4 MiB a process.

Thread-safe for gunicorn's threads: the table is read and changed under a lock, and a
glyph is recorded outside it into objects of its own, stored only when complete and never
changed after. Two threads may both record a glyph missing from the table (the same
outline twice); none sees a glyph half recorded.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from labels import truetype

LIMIT = 1024
Matrix = tuple[float, ...]  # (a, b, c, d, dx, dy)
# pen calls, one byte each; a looping curve is qCurveTo of off-curve points closed by None
_MOVE, _LINE, _CURVE, _QCURVE, _LOOP, _CLOSE, _END = b"MLCQOZE"


@dataclass(frozen=True, slots=True)
class _Part:
    """Pen calls drawn under one chain of component transforms (none: the glyph's own)."""

    components: tuple[Matrix, ...]  # from the drawn glyph's down to this part's glyph
    calls: bytes
    counts: array[int]  # points each call takes
    coordinates: array[Any]  # x, y of each point, in font units (integers unless halves)

    def replay(self, pen: Any) -> None:
        """Make this part's pen calls on pen."""
        values = self.coordinates
        points = list(zip(values[0::2], values[1::2], strict=True))
        at = 0
        for call, count in zip(self.calls, self.counts, strict=True):
            if call == _MOVE:
                pen.moveTo(points[at])
            elif call == _LINE:
                pen.lineTo(points[at])
            elif call == _QCURVE:
                pen.qCurveTo(*points[at : at + count])
            elif call == _LOOP:
                pen.qCurveTo(*points[at : at + count], None)
            elif call == _CURVE:
                pen.curveTo(*points[at : at + count])
            elif call == _CLOSE:
                pen.closePath()
            else:
                pen.endPath()
            at += count


class _Recorder:
    """A pen that keeps the calls a glyph is drawn with, drawing each component in place."""

    def __init__(self, glyphs: truetype.GlyphSet) -> None:
        self.glyphs = glyphs
        self.components: tuple[Matrix, ...] = ()
        self.parts: list[tuple[tuple[Matrix, ...], bytearray, array[int], list[float]]] = []

    def _call(self, call: int, points: tuple[Any, ...]) -> None:
        if not self.parts or self.parts[-1][0] is not self.components:
            self.parts.append((self.components, bytearray(), array("H"), []))
        _, calls, counts, coordinates = self.parts[-1]
        calls.append(call)
        counts.append(len(points))
        for x, y in points:
            coordinates += (x, y)

    def moveTo(self, point: Any) -> None:  # the pen protocol's names
        self._call(_MOVE, (point,))

    def lineTo(self, point: Any) -> None:
        self._call(_LINE, (point,))

    def curveTo(self, *points: Any) -> None:
        self._call(_CURVE, points)

    def qCurveTo(self, *points: Any) -> None:
        if points[-1] is None:
            self._call(_LOOP, points[:-1])
        else:
            self._call(_QCURVE, points)

    def closePath(self) -> None:
        self._call(_CLOSE, ())

    def endPath(self) -> None:
        self._call(_END, ())

    def addComponent(self, name: str, transform: Matrix) -> None:
        outer = self.components
        self.components = (*outer, tuple(transform))
        try:
            self.glyphs[name].draw(self)
        finally:
            self.components = outer

    def recorded(self) -> tuple[_Part, ...]:
        return tuple(_Part(c, bytes(k), n, _compact(xy)) for c, k, n, xy in self.parts)


def _compact(coordinates: list[float]) -> array[Any]:
    """The coordinates as 2-byte integers (as glyf holds them), 4-byte ones past those, or
    doubles when some are not integers."""
    for code in "hi":
        try:
            return array(code, coordinates)
        except (TypeError, OverflowError):
            pass
    return array("d", coordinates)


def record(font: truetype.FontFile, gid: int) -> tuple[_Part, ...]:
    """Glyph gid's pen calls in font units, as ``truetype.svg_path`` draws it; FontError for a
    damaged glyph."""
    glyphs = truetype.GlyphSet(font)
    pen = _Recorder(glyphs)
    glyphs.draw(gid, pen, top=True)
    return pen.recorded()


def _part_pen(out: Any, transform: Matrix, components: tuple[Matrix, ...]) -> Any:
    """The pen fontTools' pens draw a part into: the glyph's own outline through the drawing's
    transform; a component's through that transform composed with each component's in turn,
    straight into out where the composition is the identity (as ``DecomposingPen`` draws)."""
    from fontTools.misc.transform import Identity, Transform  # type: ignore[import-untyped]
    from fontTools.pens.transformPen import TransformPen  # type: ignore[import-untyped]

    placed = Transform(*transform)
    for depth, component in enumerate(components):
        through_pen = depth == 0 or placed != Identity  # else out took the component itself
        placed = placed.transform(component) if through_pen else Transform(*component)
    return out if components and placed == Identity else TransformPen(out, placed)


class Outlines:
    """Glyph outlines of one font as SVG path data, each glyph decoded once while it is
    among the ``limit`` drawn last."""

    def __init__(self, font: truetype.FontFile, limit: int = LIMIT) -> None:
        self.font = font
        self.limit = limit
        self._recorded: OrderedDict[int, tuple[_Part, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._recorded)

    def __contains__(self, gid: int) -> bool:
        return gid in self._recorded

    def svg_path(self, gid: int, transform: Matrix) -> str:
        """SVG path data of glyph gid under the affine transform (a, b, c, d, dx, dy)."""
        from fontTools.pens.svgPathPen import SVGPathPen  # type: ignore[import-untyped]

        out = SVGPathPen(None, ntos=truetype.svg_number)
        for part in self._parts(gid):
            part.replay(_part_pen(out, transform, part.components))
        return str(out.getCommands())

    def _parts(self, gid: int) -> tuple[_Part, ...]:
        with self._lock:
            parts = self._recorded.get(gid)
            if parts is not None:
                self._recorded.move_to_end(gid)
                return parts
        parts = record(self.font, gid)  # outside the lock: drawing goes on in other threads
        with self._lock:
            self._recorded[gid] = parts
            self._recorded.move_to_end(gid)
            while len(self._recorded) > self.limit:
                self._recorded.popitem(last=False)
        return parts
