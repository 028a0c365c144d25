"""Fixes after a review of the pages' bad input: an address's own errors (404, 405, 413) as
pages, a form refused for its content sent again after Back, a code typed as printed, and
a Referer that is not an address at all (a ``next`` that is none: tests/pages/test_login.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.flows import register
from tests.pages.conftest import csrf_of, field


def _page(resp: Any) -> str:
    assert resp.mimetype == "text/html", (resp.status_code, resp.get_data(as_text=True)[:300])
    return str(resp.get_data(as_text=True))


def test_an_unknown_page_address_is_a_page_and_an_unknown_api_address_stays_json(
    client: Any,
) -> None:
    resp = client.get("/regulator/no-such-list")
    assert resp.status_code == 404 and "页面不存在" in _page(resp)
    assert "Page not found" in _page(client.get("/regulator/no-such-list?lang=en"))
    for machine in ("/api/v1/no-such-thing", "/driver/api/no-such-thing"):
        resp = client.get(machine)
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
        assert resp.get_json()["status"] == 404


def test_a_get_of_an_address_that_takes_only_a_form_goes_to_the_form_s_page(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    # The public report's answer, reloaded on a phone: back to the cylinder's page.
    resp = client.get(f"/c/{code}/report")
    assert resp.status_code == 303 and resp.location == f"/c/{code}"
    station = as_person("station_a")
    resp = station.get("/station/check")  # the address bar after a scan, Enter pressed
    assert resp.status_code == 303 and resp.location == "/station/"
    assert station.get(resp.location).status_code == 200
    # Another method than a page takes: a page saying so, with the way back.
    resp = station.put("/station/check")
    assert resp.status_code == 405
    text = _page(resp)
    assert "此地址不能这样打开" in text and 'href="/station/"' in text


def test_too_much_sent_to_a_page_is_a_page(client: Any, demo: Any) -> None:
    code = register(client, demo)
    resp = client.post(f"/c/{code}/report", data={"note": "x" * (300 * 1024)})
    assert resp.status_code == 413
    assert "提交的内容过大（最多 256 KB）" in _page(resp)


def test_a_form_sent_without_a_session_and_a_referer_that_is_no_address(client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)  # a CSRF token, no one logged in
    resp = client.post(
        "/station/check",
        data={"csrf_token": csrf_of(page), "scan": "X"},
        headers={"Referer": "http://[::1"},
    )
    assert resp.status_code == 302 and resp.location.startswith("/login?next=/station/")


def test_a_form_refused_for_its_content_is_sent_again_after_back(demo: Any, as_person: Any) -> None:
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    form = {
        "csrf_token": csrf_of(page),
        "once": field(page, "once"),
        "kind": "gas_business",
        "number": "TS-BACK-1",
        "valid_from": "2027-01-01",
        "valid_until": "2026-01-01",  # before it starts: refused
    }
    enterprise = demo["enterprises"]["a"]
    resp = regulator.post(f"/regulator/enterprises/{enterprise}/licences", data=form)
    assert "有效期止不能早于起" in regulator.get(resp.location).get_data(as_text=True)
    # Back, the date corrected, the same form (and its one-time token) sent again.
    resp = regulator.post(
        f"/regulator/enterprises/{enterprise}/licences", data={**form, "valid_until": "2031-01-01"}
    )
    after = regulator.get(resp.location).get_data(as_text=True)
    assert "未重复记录" not in after and "TS-BACK-1" in after
    # Sent a third time: recorded already, refused as before.
    resp = regulator.post(
        f"/regulator/enterprises/{enterprise}/licences", data={**form, "valid_until": "2031-01-01"}
    )
    again = regulator.get(resp.location).get_data(as_text=True)
    assert "未重复记录" in again and again.count("TS-BACK-1") == 1


def test_a_refused_choice_names_the_choices_in_chinese_and_a_status_in_chinese(
    demo: Any, as_person: Any
) -> None:
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    enterprise = demo["enterprises"]["a"]
    form = {"csrf_token": csrf_of(page), "once": field(page, "once"), "kind": "bogus",
            "number": "X-1", "valid_from": "2026-01-01", "valid_until": "2030-01-01"}  # fmt: skip
    resp = regulator.post(f"/regulator/enterprises/{enterprise}/licences", data=form)
    shown = regulator.get(resp.location).get_data(as_text=True)
    assert re.search(r"&#39;kind&#39; 须为以下之一：gas_business, ", shown), shown[-2000:]
    licence = re.search(r'id="lic(\d+)"', page)
    assert licence
    for action in ("revoke", "suspend"):
        resp = regulator.post(
            f"/regulator/licences/{licence.group(1)}",
            data={"csrf_token": csrf_of(page), "action": action},
        )
    assert "许可证状态为已吊销，不能暂停" in regulator.get(resp.location).get_data(as_text=True)


def test_a_code_typed_as_printed_or_pasted_as_the_label_s_address_is_traced(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    regulator = as_person("regulator")
    printed = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    for typed in (printed, code.lower(), f"https://ledger.test/c/{code}?s=abc"):
        resp = regulator.get("/regulator/trace", query_string={"code": typed})
        assert resp.status_code == 200 and code in _page(resp), typed
    resp = regulator.get(f"/regulator/trace/{printed}/epcis.jsonld")
    assert resp.status_code == 200 and resp.mimetype == "application/ld+json"


def test_what_postgresql_cannot_store_is_a_page_on_a_page_address(
    as_person: Any, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's text holds no NUL and its integers have a range")
    regulator = as_person("regulator")
    resp = regulator.get("/regulator/trace", query_string={"code": "A\x00B"})
    assert resp.status_code == 422 and "无法保存的字符" in _page(resp)
    page = regulator.get("/regulator/reports").get_data(as_text=True)
    resp = regulator.post(
        "/regulator/reports/2147483648", data={"csrf_token": csrf_of(page), "action": "hold"}
    )
    assert resp.status_code == 422 and "数字超出可保存的范围" in _page(resp)


def test_a_filter_value_none_of_its_choices_is_named(as_person: Any) -> None:
    regulator = as_person("regulator")
    for address in ("/regulator/blocked?reason=BOGUS", "/regulator/blocked.csv?reason=BOGUS"):
        resp = regulator.get(address)
        assert resp.status_code == 400
        assert "没有名为“BOGUS”的“reason”" in _page(resp), address


def test_a_cylinder_s_address_with_a_trailing_slash_is_its_page(client: Any, demo: Any) -> None:
    code = register(client, demo)
    resp = client.get(f"/c/{code}/")
    assert resp.status_code == 200 and code in _page(resp)


def test_a_page_script_sent_by_another_role_s_login_gets_json_it_can_read(
    demo: Any, as_person: Any
) -> None:
    station = as_person("station_a")  # on the phone the driver queued scans on
    token = csrf_of(station.get("/station/").get_data(as_text=True))
    resp = station.post(
        "/driver/api/events",
        json={"code": "X", "type": "delivered", "payload": {}},
        headers={"Idempotency-Key": "k" * 24, "X-CSRFToken": token},
    )
    assert resp.status_code == 403 and resp.get_json()["error"] == "other_login"
    assert "登录" in resp.get_json()["detail"]  # the page's language
