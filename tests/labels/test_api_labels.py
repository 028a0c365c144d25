"""The label API: who may print what, and every label decodes to its cylinder's signed URL."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.decode import decode_image
from tests.conftest import bearer, cylinder_body
from tests.labels.raster import decode_pdf, decode_png, pdf_fonts, svg_to_gray


def register(client: Any, demo: dict[str, Any], who: str = "enterprise_a") -> dict[str, Any]:
    resp = client.post(
        "/api/v1/cylinders", json=cylinder_body(), headers=bearer(demo["tokens"][who])
    )
    assert resp.status_code == 201, resp.get_json()
    doc: dict[str, Any] = resp.get_json()
    return doc


def assert_problem(resp: Any, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    detail = resp.get_json()["detail"]
    for word in words:
        assert word in detail, detail


def test_the_owner_gets_a_png_label_that_decodes_to_the_cylinders_qr(client, demo):
    doc = register(client, demo)
    resp = client.get(
        f"/api/v1/cylinders/{doc['code']}/label.png", headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert decode_png(resp.data) == [doc["qr"]]


@pytest.mark.parametrize("engrave", [False, True])
def test_the_owner_gets_the_svg_label_and_it_decodes(client, demo, engrave):
    doc = register(client, demo)
    resp = client.get(
        f"/api/v1/cylinders/{doc['code']}/label.svg?engrave={str(engrave).lower()}",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    text = resp.get_data(as_text=True)
    assert ("<rect" in text) is not engrave
    assert decode_image(svg_to_gray(text)).texts == [doc["qr"]]


# DESIGN §8: label.png/.svg are for the "owner", the sheet for the "enterprise" (the role
# that registers): the owner enterprise's administrator. Everyone else is refused.
ANSWERS = {
    "enterprise_a": (200, None),
    "enterprise_b": (403, "another enterprise"),
    "admin": (403, "only the administrator of the enterprise"),
    "regulator": (403, "only the administrator of the enterprise"),
    "inspector": (403, "only the administrator of the enterprise"),
    "station_a": (403, "only the administrator of the enterprise"),
    "station_b": (403, "only the administrator of the enterprise"),
    "driver_a": (403, "only the administrator of the enterprise"),
    None: (401, None),
}


@pytest.mark.parametrize("who", list(ANSWERS))
def test_each_role_gets_its_answer_for_labels_and_sheets(client, demo, who):
    doc = register(client, demo)
    status, words = ANSWERS[who]
    headers = bearer(demo["tokens"][who]) if who else {}
    code = doc["code"]
    for resp in (
        client.get(f"/api/v1/cylinders/{code}/label.png", headers=headers),
        client.get(f"/api/v1/cylinders/{code}/label.svg", headers=headers),
        client.post("/api/v1/labels/sheet", json={"codes": [code]}, headers=headers),
    ):
        if status == 200:
            assert resp.status_code == 200, resp.get_json()
        elif status == 401:
            assert resp.status_code == 401
        else:
            assert_problem(resp, status, words)
            assert (code in resp.get_json()["detail"]) is (who == "enterprise_b")


@pytest.mark.parametrize("who", list(ANSWERS))
def test_the_lookup_by_serial_finds_the_callers_own_cylinder_only(client, demo, who):
    doc = register(client, demo)
    headers = bearer(demo["tokens"][who]) if who else {}
    query = {"manufacturer": "浙江金盾压力容器有限公司", "serial": doc["serial"]}
    resp = client.get("/api/v1/labels/registered", query_string=query, headers=headers)
    status, words = ANSWERS[who]
    if who == "enterprise_a":
        assert resp.status_code == 200
        assert resp.get_json()["cylinder"] == {
            "code": doc["code"],
            "qr": doc["qr"],
            "owner": {"name": doc["owner"]["name"]},
            "model": doc["model"],
            "capacity_kg": doc["capacity_kg"],
            "status": "empty",
        }
        other = client.get(
            "/api/v1/labels/registered",
            query_string={**query, "serial": doc["serial"] + "X"},
            headers=headers,
        )
        assert other.get_json() == {"cylinder": None}
    elif who == "enterprise_b":  # another enterprise's serial: not theirs, not found
        assert resp.status_code == 200 and resp.get_json() == {"cylinder": None}
    elif status == 401:
        assert resp.status_code == 401
    else:
        assert_problem(resp, status, words)


def test_another_enterprise_gets_403_naming_the_code(client, demo):
    doc = register(client, demo)
    for ext in ("png", "svg"):
        resp = client.get(
            f"/api/v1/cylinders/{doc['code']}/label.{ext}",
            headers=bearer(demo["tokens"]["enterprise_b"]),
        )
        assert_problem(resp, 403, doc["code"], "another enterprise")


def test_an_unknown_code_is_404_naming_it(client, demo):
    resp = client.get(
        "/api/v1/cylinders/NOSUCHCODE1/label.png", headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert_problem(resp, 404, "NOSUCHCODE1")


def test_labels_need_a_token(client, demo):
    doc = register(client, demo)
    assert client.get(f"/api/v1/cylinders/{doc['code']}/label.png").status_code == 401


def test_a_label_size_too_small_for_the_qr_is_422(client, demo):
    doc = register(client, demo)
    resp = client.get(
        f"/api/v1/cylinders/{doc['code']}/label.png?width_mm=40&height_mm=20",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "QR modules", "0.5 mm")


def test_a_sheet_pdf_decodes_to_exactly_the_requested_cylinders(client, demo):
    docs = [register(client, demo) for _ in range(4)]
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [d["code"] for d in docs]},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    (page,) = decode_pdf(resp.data)
    assert sorted(page) == sorted(d["qr"] for d in docs)
    assert all(f["emb"] == "yes" for f in pdf_fonts(resp.data))


def test_a_sheet_with_a_custom_layout(client, demo):
    docs = [register(client, demo) for _ in range(3)]
    layout = {
        "columns": 1,
        "rows": 3,
        "width_mm": 100,
        "height_mm": 50,
        "left_mm": 50,
        "top_mm": 30,
    }
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [d["code"] for d in docs], "layout": layout},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 200
    (page,) = decode_pdf(resp.data)
    assert sorted(page) == sorted(d["qr"] for d in docs)


def test_a_layout_that_does_not_fit_the_page_is_422_naming_it(client, demo):
    doc = register(client, demo)
    layout = {"columns": 4, "rows": 8, "width_mm": 70, "height_mm": 37}
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [doc["code"]], "layout": layout},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "4 columns of 70 mm", "A4 is 210 mm wide")
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [doc["code"]], "layout": 7},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 422, "layout")


def test_a_sheet_with_a_code_of_another_enterprise_is_403_naming_that_code(client, demo):
    mine, theirs = register(client, demo), register(client, demo, "enterprise_b")
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [mine["code"], theirs["code"]]},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 403, theirs["code"])
    assert mine["code"] not in resp.get_json()["detail"]


def test_a_sheet_with_unknown_codes_is_404_naming_them(client, demo):
    mine = register(client, demo)
    resp = client.post(
        "/api/v1/labels/sheet",
        json={"codes": [mine["code"], "NOSUCH1", "NOSUCH2"]},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert_problem(resp, 404, "NOSUCH1", "NOSUCH2")
    assert resp.get_json()["codes"] == ["NOSUCH1", "NOSUCH2"]


def test_an_empty_code_list_is_422(client, demo):
    resp = client.post(
        "/api/v1/labels/sheet", json={"codes": []}, headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert_problem(resp, 422, "codes")


def test_after_relabelling_the_new_code_prints_and_the_retired_one_is_named(client, demo):
    doc = register(client, demo)
    owner = bearer(demo["tokens"]["enterprise_a"])
    new = "RL" + doc["code"][:10]
    resp = client.post(
        f"/api/v1/cylinders/{doc['code']}/events",
        json={"type": "relabelled", "payload": {"new_code": new}},
        headers=owner,
    )
    assert resp.status_code == 201, resp.get_json()
    fresh = client.get(f"/api/v1/cylinders/{new}/label.png", headers=owner)
    assert fresh.status_code == 200
    (text,) = decode_png(fresh.data)
    assert text.startswith(f"https://ledger.test/c/{new}?s=")
    old = client.get(f"/api/v1/cylinders/{doc['code']}/label.png", headers=owner)
    assert_problem(old, 404, doc["code"], "retired by relabelling")
