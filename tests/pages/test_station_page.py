"""/station: scan, ALLOW / BLOCK with reasons, record the fill once."""

from __future__ import annotations

import re
from typing import Any

from ledger import codes
from tests.flows import event, history, register
from tests.pages.conftest import csrf_of, field


def _fill_token(html: str) -> str:
    """The fill form's own token (the scan form above it has another)."""
    found = re.search(r'id="fill-form".*?name="token" value="([^"]+)"', html, re.S)
    assert found, "no fill form"
    return found.group(1)


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
    assert _fill_token(html) != field(html, "token")  # each form its own key
    form = {
        "csrf_token": csrf_of(html),
        "token": _fill_token(html),
        "code": code,
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
            "token": _fill_token(html),
            "gross_kg": "abc",
        },
    )
    assert resp.status_code == 422 and "毛重" in resp.get_data(as_text=True)
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]


def test_the_tare_is_the_registered_one_whatever_the_form_says(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)  # registered with a 16.8 kg tare
    station = as_person("station_a")
    html = _check(station, code).get_data(as_text=True)
    assert 'name="tare_kg"' not in html and 'data-tare="16.8"' in html
    forged = {
        "csrf_token": csrf_of(html),
        "token": _fill_token(html),
        "code": code,
        "gross_kg": "31.3",
        "tare_kg": "1.0",  # a forged field: 30.3 kg "net" for a 15 kg cylinder
    }
    resp = station.post("/station/fill", data=forged)
    assert resp.status_code == 200, resp.get_data(as_text=True)[-600:]
    fills = [e for e in history(client, demo, code) if e["type"] == "filled"]
    assert len(fills) == 1
    payload = fills[0]["payload"]
    assert payload["tare_kg"] == 16.8 and payload["net_kg"] == 14.5


def test_a_gross_reading_below_the_registered_tare_records_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    station = as_person("station_a")
    html = _check(station, code).get_data(as_text=True)
    form = {"csrf_token": csrf_of(html), "token": _fill_token(html), "code": code}
    resp = station.post("/station/fill", data={**form, "gross_kg": "10", "tare_kg": "1"})
    assert resp.status_code == 422 and "16.8" in resp.get_data(as_text=True)
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]


def test_a_scan_key_sent_again_with_another_code_is_refused(
    client: Any, demo: Any, as_person: Any
) -> None:
    first, other = register(client, demo), register(client, demo, who="enterprise_b")
    station = as_person("station_a")
    page = station.get("/station/").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "token": field(page, "token")}
    allowed = station.post("/station/check", data={**form, "scan": first})
    assert 'data-result="allow"' in allowed.get_data(as_text=True)
    again = station.post("/station/check", data={**form, "scan": first})  # a real retry
    assert "与上次扫码相同" in again.get_data(as_text=True)
    # Back to the idle page, then another cylinder scanned with the same page's key:
    # never the first cylinder's verdict.
    resp = station.post("/station/check", data={**form, "scan": other})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "请重新扫码" in html
    assert 'data-result="allow"' not in html and first not in html
    assert not [e for e in history(client, demo, other) if e["type"] == "fill_blocked"]
    rescan = station.post("/station/check", data={**form, "token": "f" * 24, "scan": other})
    assert 'data-result="block"' in rescan.get_data(as_text=True)


def test_the_page_shows_the_code_on_the_label_scanned_never_another(
    client: Any, demo: Any, as_person: Any
) -> None:
    old = register(client, demo)
    new = codes.new_code()
    resp = event(client, demo, old, "enterprise_a", "relabelled", {"new_code": new})
    assert resp.status_code == 201, resp.get_json()
    station = as_person("station_a")
    html = _check(station, old).get_data(as_text=True)
    assert 'data-result="block"' in html and "此码已因换码注销" in html
    assert old in html and new not in html  # the old label in the operator's hand
    html = _check(station, "https://evil.example/c/ZZZZZZZZZZ9").get_data(as_text=True)
    assert "ZZZZZZZZZZ9" in html and "evil.example" not in html


def test_a_slip_of_the_finger_on_the_scale_reading_records_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)  # 15 kg rated, tare 16.8: at most 16.8 + 22.5 = 39.3 kg
    station = as_person("station_a")
    html = _check(station, code).get_data(as_text=True)
    form = {"csrf_token": csrf_of(html), "token": _fill_token(html), "code": code}
    slip = station.post("/station/fill", data={**form, "gross_kg": "61.3"})  # for 31.6
    text = slip.get_data(as_text=True)
    assert slip.status_code == 422 and "39.3" in text and "请核对磅秤后重新输入" in text
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]
    ok = station.post("/station/fill", data={**form, "gross_kg": "31,6"})  # a decimal comma
    assert 'data-result="filled"' in ok.get_data(as_text=True)
    (fill,) = [e for e in history(client, demo, code) if e["type"] == "filled"]
    assert fill["payload"]["gross_kg"] == 31.6


def test_a_weight_that_cannot_be_recorded_shows_the_weighing_form_again(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    station = as_person("station_a")
    html = _check(station, code).get_data(as_text=True)
    token = _fill_token(html)
    form = {"csrf_token": csrf_of(html), "token": token, "code": code}
    for typed, says in (("316", "请核对磅秤后重新输入"), ("3l.6", "毛重"), ("10", "16.8")):
        again = station.post("/station/fill", data={**form, "gross_kg": typed})
        page = again.get_data(as_text=True)
        assert again.status_code == 422 and 'data-result="weigh"' in page
        assert says in re.search(r'id="weigh-error"[^>]*>([^<]*)<', page).group(1)  # type: ignore[union-attr]
        assert f'value="{typed}"' in page and _fill_token(page) == token  # as typed, same key
        assert 'data-tare="16.8"' in page and code in page
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]
    done = station.post("/station/fill", data={**form, "gross_kg": "31.6"})  # corrected
    assert 'data-result="filled"' in done.get_data(as_text=True)
    assert len([e for e in history(client, demo, code) if e["type"] == "filled"]) == 1


def test_the_next_cylinder_scanned_into_the_weight_field_is_checked_not_refused(
    client: Any, demo: Any, as_person: Any
) -> None:
    first, second = register(client, demo), register(client, demo)
    station = as_person("station_a")
    html = _check(station, first).get_data(as_text=True)
    form = {"csrf_token": csrf_of(html), "token": _fill_token(html), "code": first}
    bare = station.post("/station/fill", data={**form, "gross_kg": second.lower()})
    assert f"{first} 未记录充装" in bare.get_data(as_text=True)  # a bare code, as typed
    url = f"https://ledger.example/c/{second}"  # as the wedge types the label's URL
    resp = station.post("/station/fill", data={**form, "gross_kg": url})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-result="allow"' in page, page[-800:]
    assert f'<div class="code">{second}</div>' in page  # the new cylinder's check
    assert f"{first} 未记录充装" in page  # and the one before was not filled
    assert not [e for e in history(client, demo, first) if e["type"] == "filled"]
    fill = {"csrf_token": csrf_of(page), "token": _fill_token(page), "code": second}
    assert 'data-result="filled"' in station.post(
        "/station/fill", data={**fill, "gross_kg": "31.3"}
    ).get_data(as_text=True)
