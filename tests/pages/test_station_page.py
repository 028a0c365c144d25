"""/station: scan, ALLOW / BLOCK with reasons, record the fill once."""

from __future__ import annotations

from typing import Any

from tests.flows import history, register
from tests.pages.conftest import csrf_of, field


def _check(client: Any, scan: str) -> Any:
    page = client.get("/station/").get_data(as_text=True)
    return client.post(
        "/station/check",
        data={"csrf_token": csrf_of(page), "token": field(page, "token"), "scan": scan},
    )


def test_an_allowed_cylinder_is_filled_once_even_when_submitted_twice(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    station = as_person("station_a")
    resp = _check(station, code)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-result="allow"' in html and "允许充装" in html
    form = {
        "csrf_token": csrf_of(html),
        "token": field(html, "token"),
        "code": code,
        "tare_kg": field(html, "tare_kg"),
        "gross_kg": "31.3",
    }
    first = station.post("/station/fill", data=form)
    assert 'data-result="filled"' in first.get_data(as_text=True)
    second = station.post("/station/fill", data=form)
    assert "不会重复记录" in second.get_data(as_text=True)
    fills = [e for e in history(client, demo, code) if e["type"] == "filled"]
    assert len(fills) == 1
    assert '"net_kg":14.5' in fills[0]["payload"] or fills[0]["payload"]["net_kg"] == 14.5


def test_a_cylinder_of_another_enterprise_is_blocked_with_reasons(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo, who="enterprise_b")
    resp = _check(as_person("station_a"), code)
    html = resp.get_data(as_text=True)
    assert 'data-result="block"' in html and "禁止充装" in html
    assert "非自有产权" in html
    blocked = [e for e in history(client, demo, code) if e["type"] == "fill_blocked"]
    assert len(blocked) == 1


def test_an_unknown_code_is_blocked(as_person: Any) -> None:
    html = _check(as_person("station_a"), "ZZZZZZZZZZ9").get_data(as_text=True)
    assert 'data-result="block"' in html and "未登记的气瓶码" in html


def test_garbage_from_the_scanner_is_a_clear_message(as_person: Any) -> None:
    resp = _check(as_person("station_a"), "hello world!")
    assert resp.status_code == 422 and "不是气瓶码" in resp.get_data(as_text=True)


def test_a_fill_without_an_allowing_check_is_refused(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    station = as_person("station_a")
    page = station.get("/station/").get_data(as_text=True)
    resp = station.post(
        "/station/fill",
        data={
            "csrf_token": csrf_of(page),
            "token": "t" * 20,
            "code": code,
            "tare_kg": "16.8",
            "gross_kg": "31.3",
        },
    )
    assert resp.status_code == 409 and "未经充装前检查放行" in resp.get_data(as_text=True)
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]


def test_a_bad_scale_reading_records_nothing(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    station = as_person("station_a")
    html = _check(station, code).get_data(as_text=True)
    resp = station.post(
        "/station/fill",
        data={
            "csrf_token": csrf_of(html),
            "code": code,
            "token": field(html, "token"),
            "tare_kg": "16.8",
            "gross_kg": "abc",
        },
    )
    assert resp.status_code == 422 and "毛重" in resp.get_data(as_text=True)
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]
