"""A4 sheets: every label on every page decodes back at 300 dpi; fonts are embedded."""

from __future__ import annotations

import pytest

from labels import sheet, sheet_layouts
from labels.layout import LabelData
from ledger import codes
from ledger.errors import Invalid
from ledger.keys import load_or_create_signer
from tests.labels.raster import decode_pdf, pdf_fonts

OWNERS = ("重庆渝安燃气有限公司", "重庆山城液化气有限公司")


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[LabelData]:
    registry = load_or_create_signer(tmp_path_factory.mktemp("keys") / "r.key", "registry")
    out = []
    for i in range(27):
        code = codes.new_code()
        url = codes.qr_url("https://gas.cq.gov.cn/yipingyima", code, registry)
        out.append(LabelData(code, url, OWNERS[i % 2], "YSP35.5", 15.0))
    return out


def test_a_3x8_sheet_of_27_labels_decodes_page_by_page_to_exactly_the_payloads(items):
    pdf = sheet.render_sheet(items, sheet_layouts.resolve_layout(None))
    pages = decode_pdf(pdf)
    assert len(pages) == 2
    assert sorted(pages[0]) == sorted(i.payload for i in items[:24])
    assert sorted(pages[1]) == sorted(i.payload for i in items[24:])


@pytest.mark.parametrize("name", ["3x7", "2x7", "2x4"])
def test_every_named_layout_decodes_fully(items, name):
    grid = sheet_layouts.LAYOUTS[name]
    batch = items[: grid.per_page]
    (page,) = decode_pdf(sheet.render_sheet(batch, grid))
    assert sorted(page) == sorted(i.payload for i in batch)


def test_a_custom_layout_prints_where_it_says(items):
    grid = sheet_layouts.resolve_layout(
        {
            "columns": 2,
            "rows": 3,
            "width_mm": 90,
            "height_mm": 45,
            "left_mm": 10,
            "top_mm": 20,
            "gap_x_mm": 5,
            "gap_y_mm": 8,
        }
    )
    assert grid.origin(3) == (105.0, 73.0)
    (page,) = decode_pdf(sheet.render_sheet(items[:6], grid))
    assert sorted(page) == sorted(i.payload for i in items[:6])


def test_the_pdf_embeds_every_font_it_uses_including_the_cjk_face(items):
    fonts = pdf_fonts(sheet.render_sheet(items[:3], sheet_layouts.LAYOUTS["3x8"]))
    names = {f["name"].split("+")[-1] for f in fonts}
    assert names == {"DroidSansFallback", "DejaVuSans", "DejaVuSansMono-Bold"}
    assert all(f["emb"] == "yes" and f["sub"] == "yes" for f in fonts), fonts


def test_a_layout_wider_than_a4_is_refused_naming_the_width():
    with pytest.raises(Invalid) as err:
        sheet_layouts.resolve_layout(
            {"columns": 3, "rows": 8, "width_mm": 72, "height_mm": 37, "left_mm": 0, "gap_x_mm": 2}
        )
    assert "3 columns of 72 mm" in err.value.detail
    assert "need 220 mm, A4 is 210 mm wide" in err.value.detail


def test_a_layout_taller_than_a4_is_refused_naming_the_height():
    with pytest.raises(Invalid) as err:
        sheet_layouts.resolve_layout(
            {"columns": 3, "rows": 8, "width_mm": 70, "height_mm": 37, "top_mm": 5}
        )
    assert "8 rows of 37 mm" in err.value.detail and "A4 is 297 mm tall" in err.value.detail


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"columns": 3, "rows": 8, "width_mm": 70}, "layout.height_mm is required"),
        ({"columns": 2.5, "rows": 8, "width_mm": 70, "height_mm": 30}, "layout.columns"),
        ({"columns": 3, "rows": 8, "width_mm": "70", "height_mm": 30}, "layout.width_mm"),
        ({"columns": 3, "rows": 8, "width_mm": 70, "height_mm": 30, "margin": 3}, "margin"),
        ({"columns": 0, "rows": 8, "width_mm": 70, "height_mm": 30}, "one column"),
        (
            {"columns": 3, "rows": 8, "width_mm": 70, "height_mm": 30, "gap_x_mm": -1},
            "layout.gap_x_mm",
        ),
    ],
)
def test_a_bad_custom_layout_names_the_field(spec, named):
    with pytest.raises(Invalid) as err:
        sheet_layouts.resolve_layout(spec)
    assert named in err.value.detail


def test_an_unknown_layout_name_lists_the_known_ones():
    with pytest.raises(Invalid) as err:
        sheet_layouts.resolve_layout("4x10")
    assert "'4x10'" in err.value.detail and "3x8" in err.value.detail


def test_labels_too_small_for_the_qr_are_refused_before_printing(items):
    grid = sheet_layouts.resolve_layout(
        {"columns": 4, "rows": 10, "width_mm": 48.5, "height_mm": 25.4}
    )
    with pytest.raises(Invalid) as err:
        sheet.render_sheet(items[:2], grid)
    assert err.value.detail.startswith(f"{items[0].code}: ") and "QR modules" in err.value.detail


def test_an_empty_sheet_is_refused():
    with pytest.raises(Invalid, match="no labels"):
        sheet.render_sheet([], sheet_layouts.LAYOUTS["3x8"])
