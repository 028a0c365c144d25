"""One label: PNG, SVG and engraving SVG decode back to exactly their payload."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import fonts, png, qr, sheet_layouts, svg
from labels.layout import LabelData, code_groups, layout
from ledger import codes
from ledger.errors import Invalid
from ledger.keys import load_or_create_signer
from scanner.decode import decode_image
from tests.labels.raster import decode_png, svg_to_gray

SVG_NS = "{http://www.w3.org/2000/svg}"
BASES = ("http://127.0.0.1:5000", "https://ledger.test", "https://gas.cq.gov.cn/yipingyima")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    return load_or_create_signer(tmp_path_factory.mktemp("keys") / "registry.key", "registry")


def data_for(base: str, registry, owner: str = "重庆渝安燃气有限公司") -> LabelData:
    code = codes.new_code()
    return LabelData(code, codes.qr_url(base, code, registry), owner, "YSP35.5", 15.0)


@pytest.mark.parametrize("base", BASES)
def test_a_png_label_decodes_to_exactly_its_signed_url(base, registry):
    data = data_for(base, registry)
    label = layout(data, 70, 37)
    assert decode_png(png.to_png(label, 300)) == [data.payload]
    scan = codes.parse_scan(data.payload)
    assert scan.code == data.code and scan.signature is not None


@pytest.mark.parametrize("base", BASES)
def test_an_svg_label_rasterised_decodes_to_exactly_its_payload(base, registry):
    data = data_for(base, registry)
    label = layout(data, 70, 37)
    assert decode_image(svg_to_gray(svg.to_svg(label))).texts == [data.payload]


def test_the_engraving_svg_is_single_colour_paths_only_and_decodes(registry):
    data = data_for(BASES[0], registry)
    label = layout(data, 80, 40)
    doc = svg.to_engraving_svg(label)
    root = ET.fromstring(doc)
    children = list(root)
    assert children and all(child.tag == f"{SVG_NS}path" for child in children)
    assert {child.get("fill") for child in children} == {"#000000"}
    for child in children:
        assert set(child.attrib) == {"fill", "d"}, "no stroke, transform, text or raster"
    assert "<image" not in doc and "<text" not in doc and "transform" not in doc
    assert root.get("width") == "80mm" and root.get("viewBox") == "0 0 80 40"
    assert decode_image(svg_to_gray(doc)).texts == [data.payload]


def test_chinese_text_is_drawn_with_the_cjk_face_as_glyph_outlines(registry):
    label = layout(data_for(BASES[0], registry), 70, 37)
    owner_line = label.texts[0]
    assert [f.name for f, _ in fonts.runs(owner_line.text)] == ["cjk"]
    notdef = fonts.face("sans").outline("\uffff", 3, 0, 0)
    outlines = {fonts.face("cjk").outline(ch, 3, 0, 0) for ch in "重庆渝安"}
    assert len(outlines) == 4 and notdef not in outlines
    assert svg.text_path(owner_line).count("Z") >= 4  # closed contours, one glyph or more each


def test_mixed_text_switches_faces_per_run():
    assert [(f.name, part) for f, part in fonts.runs("YSP35.5 液化气 15 kg")] == [
        ("sans", "YSP35.5 "),
        ("cjk", "液化气"),
        ("sans", " 15 kg"),
    ]


def test_the_code_is_printed_in_large_type_in_groups_of_four(registry):
    data = data_for(BASES[2], registry)
    label = layout(data, 70, 37)
    code_lines = [t for t in label.texts if t.primary == "mono"]
    assert "".join(t.text.replace(" ", "") for t in code_lines) == data.code
    assert code_groups("7G3KQ2M9XW4P") == ["7G3K", "Q2M9", "XW4P"]
    others = [t.size for t in label.texts if t.primary != "mono"]
    assert min(t.size for t in code_lines) > 1.5 * max(others)


@pytest.mark.parametrize("name", sorted(sheet_layouts.LAYOUTS))
@pytest.mark.parametrize("level", ["M", "Q", "H"])
def test_modules_are_at_least_half_a_millimetre_on_every_named_layout(name, level, registry):
    grid = sheet_layouts.LAYOUTS[name]
    label = layout(data_for(BASES[2], registry), grid.width_mm, grid.height_mm, level)
    assert label.module >= qr.MIN_MODULE_MM
    assert label.qr_side <= grid.height_mm


def test_a_label_too_small_for_half_millimetre_modules_is_refused_naming_the_size(registry):
    with pytest.raises(Invalid) as err:
        layout(data_for(BASES[2], registry), 60, 25)
    assert "0.5 mm" in err.value.detail and "QR modules" in err.value.detail


def test_a_label_too_narrow_for_its_text_is_refused():
    short = LabelData("AB", "https://x.cn/c/AB", "某燃气公司", "YSP12", 5.0)  # a small QR fits
    with pytest.raises(Invalid) as err:
        layout(short, 30, 37)
    assert "30×37 mm label leaves" in err.value.detail and "for the text" in err.value.detail


def test_the_default_level_is_the_measured_choice():
    assert qr.DEFAULT_LEVEL == "Q"
    assert qr.encode("https://ledger.test/c/X", "Q").level == "Q"


def test_png_out_of_range_dpi_is_refused(registry):
    label = layout(data_for(BASES[0], registry), 70, 37)
    with pytest.raises(Invalid, match="dpi"):
        png.to_png(label, 20)


def test_a_missing_font_names_the_package_to_install(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(fonts, "_SEARCH", (tmp_path,))
    fonts.face.cache_clear()
    try:
        with pytest.raises(fonts.FontMissing, match="fonts-droid-fallback"):
            fonts.face("cjk")
    finally:
        fonts.face.cache_clear()


owners = st.text(
    alphabet="重庆渝安燃气液化石油供应站有限责任公司山城北区ABC -·", min_size=0, max_size=40
)
models = st.text(alphabet="YSP0123456789.-II", min_size=1, max_size=16)
label_codes = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    owner=owners,
    model=models,
    code=label_codes,
    capacity=st.one_of(st.none(), st.floats(1, 100)),
    width=st.floats(30, 150),
    height=st.floats(20, 80),
)
def test_any_label_that_lays_out_keeps_its_text_inside_and_off_the_quiet_zone(
    owner, model, code, capacity, width, height
):
    data = LabelData(code, f"https://ledger.test/c/{code}?s={'x' * 86}", owner, model, capacity)
    try:
        label = layout(data, width, height)
    except Invalid as exc:
        assert exc.extra.get("field") == "layout"
        return
    assert label.module >= qr.MIN_MODULE_MM
    assert label.qr_x >= 0 and label.qr_y >= 0 and label.qr_y + label.qr_side <= height
    for text in label.texts:
        assert text.x >= label.qr_x + label.qr_side  # never inside the quiet zone
        assert text.x + fonts.text_width(text.text, text.size, text.primary) <= width + 1e-6
        assert text.size * 0.1 <= text.baseline <= height
    printed = "".join(t.text for t in label.texts if t.primary == "mono").replace(" ", "")
    assert printed == code


@settings(max_examples=6, deadline=None)
@given(owner=owners, code=label_codes, width=st.floats(64, 110), height=st.floats(36, 60))
def test_any_label_that_lays_out_decodes(owner, code, width, height, registry):
    data = LabelData(code, codes.qr_url(BASES[1], code, registry), owner, "YSP35.5", 15.0)
    label = layout(data, width, height)
    assert decode_png(png.to_png(label, 300)) == [data.payload]
