"""Bad input to label printing gets a clear error, never a 500 or a traceback: layouts with
NaN or infinities, malformed CSV, a missing or unreadable CJK font, noncharacters and
control characters in label text, and the base URL limit for the longest code."""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from labels import batch, fonts, sheet_layouts, svg
from labels.layout import LabelData, layout, longest_base_url
from ledger import codes, registry_input
from ledger.cylinders import parse_cylinder_spec
from ledger.errors import Invalid
from ledger.keys import load_or_create_signer
from tests.conftest import bearer, cylinder_body
from tests.labels.test_api_labels import assert_problem, register
from tests.labels.test_label_batch import HEADER, good

TODAY = dt.date(2026, 11, 23)
PAYLOAD = "https://ledger.test/c/7G3KQ2M9XW4P?s=" + "A" * 86
NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"]


# --- 1. layouts with NaN or infinities ---------------------------------------------------


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("name", ["width_mm", "height_mm", "left_mm", "top_mm", "gap_y_mm"])
def test_a_layout_option_that_is_not_a_finite_number_is_refused_naming_it(name, value):
    spec = {"columns": "1", "rows": "2", "width_mm": "90", "height_mm": "50", name: value}
    text = "custom:" + ",".join(f"{k}={v}" for k, v in spec.items())
    with pytest.raises(Invalid) as err:
        sheet_layouts.parse_layout_option(text)
    assert f"layout.{name}" in err.value.detail and "finite" in err.value.detail


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_a_layout_object_that_is_not_a_finite_number_is_refused(value):
    with pytest.raises(Invalid, match=r"layout\.width_mm"):
        sheet_layouts.custom_layout({"columns": 1, "rows": 1, "width_mm": value, "height_mm": 37})


@pytest.mark.parametrize(("width", "height"), [(math.nan, 37), (70, math.inf), (-70, 37)])
def test_laying_out_a_label_of_no_real_size_is_refused(width, height):
    with pytest.raises(Invalid, match="label size"):
        layout(LabelData("7G3KQ2M9XW4P", PAYLOAD, "某某燃气", "YSP35.5", 15), width, height)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
def test_a_sheet_layout_with_a_number_that_is_not_finite_is_422(client, demo, literal):
    doc = register(client, demo)
    raw = (
        f'{{"codes": ["{doc["code"]}"], '
        f'"layout": {{"columns": 1, "rows": 1, "width_mm": {literal}, "height_mm": 37}}}}'
    )
    resp = client.post(
        "/api/v1/labels/sheet",
        data=raw,
        content_type="application/json",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "layout.width_mm", "finite")


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_a_label_size_that_is_not_finite_is_422(client, demo, value):
    doc = register(client, demo)
    resp = client.get(
        f"/api/v1/cylinders/{doc['code']}/label.svg?width_mm={value}",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"


# --- 2. malformed CSV ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (HEADER + "\n" + good("S1") + '\n"' + "x" * 200_000 + '"\n', "line 3"),
        ('"' + "x" * 200_000 + '"\n', "line 1"),
        (HEADER + "\n" + good("S1") + "\nS2\x00,a\n", "NUL"),
        (HEADER + "\n", "no rows"),
        (HEADER + "\n\n  \n", "no rows"),
        ("", "missing column"),
    ],
)
def test_a_malformed_csv_is_refused_whole_with_a_readable_reason(text, named):
    with pytest.raises(Invalid) as err:
        batch.read_csv(text, TODAY)
    assert named in err.value.detail
    assert err.value.detail.isprintable() and len(err.value.detail) < 400


def test_a_header_naming_a_column_with_control_characters_prints_it_escaped():
    with pytest.raises(Invalid) as err:
        batch.read_csv(HEADER + ",\x1b[31mred\n" + good("S1") + ",x\n", TODAY)
    assert "\x1b" not in err.value.detail and "\\x1b[31mred" in err.value.detail


def test_a_non_ascii_code_cell_is_not_folded_into_an_ascii_code():
    rows, errors = batch.read_csv(f"{HEADER},code\n{good('S1')},ſ1\n", TODAY)  # "ſ".upper() == "S"
    assert rows == [] and "'code'" in errors[0].reason


# --- 3. a missing or unreadable CJK font ---------------------------------------------------


@pytest.fixture
def font_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The only font folder: the Latin faces; a test adds (or not) a CJK file to it."""
    folder = tmp_path / "fonts"
    folder.mkdir()
    for name in ("sans", "mono"):
        source = fonts.face(name).path
        (folder / source.name).symlink_to(source)
    monkeypatch.setattr(fonts, "_SEARCH", (folder,))
    monkeypatch.delenv("LABEL_FONT_DIRS", raising=False)
    fonts.face.cache_clear()
    yield folder
    fonts.face.cache_clear()


CJK_FILE = "DroidSansFallbackFull.ttf"
INSTALLED = fonts.font_dirs()  # before any test narrows the search


def _real_cjk() -> Path:
    return next(d / CJK_FILE for d in INSTALLED if (d / CJK_FILE).is_file())


def break_font(folder: Path, how: str) -> None:
    """Leave the CJK font missing, garbage, or cut short."""
    if how == "garbage":
        (folder / CJK_FILE).write_bytes(b"not a font at all" * 100)
    elif how == "truncated":
        (folder / CJK_FILE).write_bytes(_real_cjk().read_bytes()[:4096])


@pytest.mark.parametrize("how", ["missing", "garbage", "truncated"])
def test_a_missing_or_unreadable_cjk_font_is_font_missing_naming_the_package(font_dir, how):
    break_font(font_dir, how)
    with pytest.raises(fonts.FontMissing) as err:
        layout(LabelData("7G3KQ2M9XW4P", PAYLOAD, "某某燃气", "YSP35.5", 15), 70, 37)
    assert "标签字体缺失 / label font missing" in str(err.value)
    assert "apt-get install fonts-droid-fallback" in str(err.value)


@pytest.mark.parametrize("how", ["missing", "garbage", "truncated"])
def test_the_label_routes_answer_503_naming_the_font_to_install(client, demo, font_dir, how):
    doc = register(client, demo)
    break_font(font_dir, how)
    headers = bearer(demo["tokens"]["enterprise_a"])
    for resp in (
        client.get(f"/api/v1/cylinders/{doc['code']}/label.png", headers=headers),
        client.get(f"/api/v1/cylinders/{doc['code']}/label.svg", headers=headers),
        client.post("/api/v1/labels/sheet", json={"codes": [doc["code"]]}, headers=headers),
    ):
        assert_problem(resp, 503, "标签字体缺失", "label font missing", "fonts-droid-fallback")
        assert str(font_dir) not in resp.get_data(as_text=True)  # no server paths


# --- 5. the base URL limit is for the longest code --------------------------------------


def test_the_base_url_limit_holds_for_a_20_character_code(tmp_path):
    key = load_or_create_signer(tmp_path / "registry.key", "registry")
    code = "A" * 8 + codes.new_code()
    assert len(code) == 20 and codes.is_valid_code(code)  # codes may be this long

    def label(length: int) -> object:
        url = codes.qr_url("https://" + "x" * (length - len("https://")), code, key)
        return layout(LabelData(code, url, "某某燃气有限公司", "YSP35.5", 15), 70, 37)

    label(longest_base_url())  # prints
    with pytest.raises(Invalid, match="QR modules"):
        label(73)  # the limit computed for 12-character codes does not


# --- 6. noncharacters and control characters ---------------------------------------------

REFUSED = ["\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\x85", "\x9f"]
REFUSED += ["\u202e", "\u2066", "\u2028", "\x00", "\x1b", "\x7f"]


@pytest.mark.parametrize("char", REFUSED)
@pytest.mark.parametrize("name", ["serial", "manufacturer", "model"])
def test_noncharacters_and_controls_in_registration_text_are_refused(name, char):
    body = cylinder_body(**{name: f"YSP{char}35"})
    with pytest.raises(Invalid) as err:
        parse_cylinder_spec(body, TODAY)
    assert err.value.extra["field"] == name


@pytest.mark.parametrize("char", REFUSED)
def test_noncharacters_in_registry_text_such_as_an_enterprise_name_are_refused(char):
    with pytest.raises(Invalid):
        registry_input.text({"name": f"某某{char}燃气"}, "name", 100)


@pytest.mark.parametrize("char", ["\ufdd0", "\uffff", "\x85", "\u202e"])
def test_the_api_refuses_a_cylinder_with_such_a_model(client, demo, char):
    resp = client.post(
        "/api/v1/cylinders",
        json=cylinder_body(model=f"YSP{char}35"),
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "model")


@pytest.mark.parametrize("engrave", [False, True])
def test_an_svg_never_carries_noncharacters_or_controls_already_stored(engrave):
    dirty = "".join(REFUSED)
    data = LabelData("7G3KQ2M9XW4P", PAYLOAD, f"某某{dirty}燃气", f"YSP{dirty}35.5", 15)
    label = layout(data, 70, 37)
    text = svg.to_engraving_svg(label) if engrave else svg.to_svg(label)
    assert not any(ch in text for ch in REFUSED)
    ET.fromstring(text.encode())  # well-formed XML
    if not engrave:
        assert "某某燃气" in text and "YSP35.5" in text


@pytest.mark.parametrize("name", ["columns", "rows"])
def test_a_sheet_layout_with_a_huge_count_is_422(client, demo, name):
    doc = register(client, demo)
    spec = {"columns": "1", "rows": "1", "width_mm": "70", "height_mm": "37", name: "9" * 400}
    raw = f'{{"codes": ["{doc["code"]}"], "layout": {{'
    raw += ", ".join(f'"{k}": {v}' for k, v in spec.items()) + "}}"
    resp = client.post(
        "/api/v1/labels/sheet",
        data=raw,
        content_type="application/json",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "does not fit the page")
    with pytest.raises(Invalid, match="does not fit the page"):
        sheet_layouts.parse_layout_option("custom:" + ",".join(f"{k}={v}" for k, v in spec.items()))
