"""A label as SVG: for screens and printers, and single-colour paths for laser engraving.

Text is drawn as glyph outlines taken from the label fonts, so the Chinese text
needs no font on the machine that opens the file (the font is embedded as paths).
The engraving file holds nothing but ``<path>`` elements of one colour, with
absolute coordinates in millimetres (no transforms, no raster, no text, no
background): the laser marks exactly the dark modules and the letters.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from labels import fonts, qr
from labels.layout import Label, Text
from ledger.cylinders import CONTROL_CHARS

INK = "#000000"


def clean(text: str) -> str:
    """Text without control characters, noncharacters or lone surrogates: the ledger refuses
    them at input, and this keeps any stored before from reaching (and breaking) the XML."""
    return CONTROL_CHARS.sub("", text)


def _num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def qr_path(label: Label) -> str:
    """Path data of the dark modules, one rectangle per horizontal run, in mm."""
    m = label.module
    ox = label.qr_x + m * qr.QUIET_MODULES
    oy = label.qr_y + m * qr.QUIET_MODULES
    parts = []
    for row, col, length in label.symbol.runs():
        x, y = ox + col * m, oy + row * m
        parts.append(f"M{_num(x)} {_num(y)}h{_num(length * m)}v{_num(m)}h{_num(-length * m)}z")
    return "".join(parts)


def text_path(text: Text) -> str:
    """Path data of one line of text, glyph by glyph, in mm."""
    parts = []
    x = text.x
    for face, part in fonts.runs(clean(text.text), text.primary):
        for char in part:
            if not char.isspace():
                parts.append(face.outline(char, text.size, x, text.baseline))
            x += face.advance(char) * text.size
    return "".join(parts)


def _open(label: Label) -> str:
    w, h = _num(label.width), _num(label.height)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}">\n'
    )


def to_svg(label: Label) -> str:
    """The label as an SVG document: white ground, black QR and text (text as paths)."""
    data = label.data
    title = clean(f"{data.code} · {data.owner} · {data.model}")
    out = [
        _open(label),
        f"<title>{escape(title)}</title>\n",
        f'<rect width="{_num(label.width)}" height="{_num(label.height)}" fill="#ffffff"/>\n',
        f'<path fill="{INK}" d="{qr_path(label)}"/>\n',
    ]
    for text in label.texts:
        out.append(
            f"<path fill={quoteattr(INK)} aria-label={quoteattr(clean(text.text))} "
            f'd="{text_path(text)}"/>\n'
        )
    out.append("</svg>\n")
    return "".join(out)


def to_engraving_svg(label: Label) -> str:
    """Single-colour paths only, for laser-marking a metal nameplate."""
    out = [_open(label), f'<path fill="{INK}" d="{qr_path(label)}"/>\n']
    out += [f'<path fill="{INK}" d="{text_path(t)}"/>\n' for t in label.texts]
    out.append("</svg>\n")
    return "".join(out)
