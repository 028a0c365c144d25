"""The driver's phone page in a real headless Chromium: what a review found.

The safety check is never carried over to the next customer; a scan made during an upload
is uploaded; a record the server keeps failing on holds back only its own cylinder (and
says "server error", not "no network"); a refusal stays in a red banner, across reloads,
until the driver acknowledges it; the controls are large enough for a thumb outdoors; a
scan queued after another person logged in on the phone waits for the driver's own login.
"""

from __future__ import annotations

import time
from typing import Any

from flask import request
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.flows import customer, fill, history, register
from tests.pages.conftest import browser_login, shot, until

WAIT = 30
TICKED = (
    "return Array.prototype.filter.call(document.querySelectorAll('.check-item'),"
    " function (x) { return x.checked; }).length"
)
STORED = """
var done = arguments[0];
ScanQueue(document.getElementById("driver").dataset.actor).all().then(function (rows) {
  done(rows.map(function (r) { return [r.type, !!r.refused]; }));
});
"""


def _ready(phone: Any) -> None:
    until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "#driver[data-ready]"), WAIT)


def _until(phone: Any, test: Any) -> Any:
    return until(phone, test, WAIT)


def _text(phone: Any, element_id: str) -> str:
    return str(phone.find_element(By.ID, element_id).text)


def _network(phone: Any, offline: bool, latency: int = 0) -> None:
    phone.execute_cdp_cmd("Network.enable", {})
    phone.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def _scan(phone: Any, code: str) -> None:
    phone.find_element(By.ID, "code-input").send_keys(code + Keys.ENTER)


def _kinds(client: Any, demo: Any, code: str) -> list[str]:
    return [e["type"] for e in history(client, demo, code)]


def _pick(phone: Any, site: int) -> None:
    phone.find_element(By.CSS_SELECTOR, f'#customer-results button[data-id="{site}"]').click()


def _tick_all(phone: Any) -> None:
    for box in phone.find_elements(By.CSS_SELECTOR, ".check-item"):
        box.click()
    assert phone.execute_script(TICKED) == 8


def test_the_safety_check_is_never_carried_over_to_the_next_customer(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    codes = [register(client, demo) for _ in range(2)]
    for code in codes:
        fill(client, demo, code)
    first = customer(client, demo, kind="household")
    second = customer(client, demo, kind="restaurant")
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    for code in codes:
        _scan(phone, code)
    _until(phone, lambda d: _text(d, "results").count("已记录") == 2)
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    _pick(phone, first)
    _tick_all(phone)
    _scan(phone, codes[0])
    assert phone.execute_script(TICKED) == 0  # cleared once the delivery is queued
    _until(phone, lambda d: "签收 · 已记录" in _text(d, "results"))
    _tick_all(phone)  # ticked, then the driver changes customer: cleared again
    phone.find_element(By.ID, "customer-change").click()
    assert phone.execute_script(TICKED) == 0
    _tick_all(phone)
    _pick(phone, second)  # (choosing clears too)
    assert phone.execute_script(TICKED) == 0
    _scan(phone, codes[1])  # no box ticked for this customer: the check is asked for first
    _until(phone, lambda d: "请先完成随瓶安检" in _text(d, "scan-status"))
    assert phone.execute_async_script(STORED) == []  # nothing queued, nothing sent
    phone.find_element(By.CSS_SELECTOR, ".check-item").click()  # one item passes, 7 do not
    _scan(phone, codes[1])
    _until(phone, lambda d: "被拒绝" in _text(d, "results"))
    assert "delivered" in _kinds(client, demo, codes[0])
    kinds = _kinds(client, demo, codes[1])
    assert "delivered" not in kinds and kinds.count("delivery_blocked") == 1


def test_a_scan_made_while_an_upload_is_in_flight_is_uploaded(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    codes = [register(client, demo) for _ in range(2)]
    for code in codes:
        fill(client, demo, code)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    _network(phone, offline=False, latency=1500)  # a slow mobile network, still online
    _scan(phone, codes[0])
    time.sleep(0.5)  # the first upload is on its way
    _scan(phone, codes[1])
    _until(phone, lambda d: _text(d, "results").count("已记录") == 2)
    assert _text(phone, "pending-count") == "0"
    for code in codes:
        assert _kinds(client, demo, code).count("dispatched") == 1


def test_a_record_the_server_fails_on_holds_back_only_its_own_cylinder(
    client: Any, demo: Any, live_server: str, phone: Any, app: Any, monkeypatch: Any
) -> None:
    poison, other = register(client, demo), register(client, demo)
    for code in (poison, other):
        fill(client, demo, code)
    view = app.view_functions["driver.record"]
    seen: list[tuple[str, str]] = []
    broken = {"on": True}

    def flaky(*args: Any, **kwargs: Any) -> Any:  # a server bug hitting one record
        body = request.get_json(silent=True) or {}
        seen.append((body.get("code", ""), body.get("type", "")))
        if broken["on"] and body.get("code") == poison:
            return {"error": "internal"}, 500
        return view(*args, **kwargs)

    monkeypatch.setitem(app.view_functions, "driver.record", flaky)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    _scan(phone, poison)  # loaded: the server fails on it
    _until(phone, lambda d: "服务器出错" in _text(d, "scan-status"))
    _scan(phone, other)  # another cylinder: goes on
    _until(phone, lambda d: "已记录" in _text(d, "results"))
    phone.find_element(By.CSS_SELECTOR, "input[value=returned]").click()
    _scan(phone, poison)  # the same cylinder's later record: stays behind the failed one
    _until(phone, lambda d: _text(d, "pending-count") == "2")
    _until(phone, lambda d: "服务器出错" in _text(d, "scan-status"))
    assert "网络不通" not in _text(phone, "scan-status")
    assert "服务器出错" in _text(phone, "pending")
    assert _kinds(client, demo, other).count("dispatched") == 1
    assert (poison, "returned") not in seen  # never sent ahead of its dispatch
    shot(phone, "driver-server-error-phone")
    broken["on"] = False  # the server is mended: the next pass uploads both, in order
    phone.execute_script("window.dispatchEvent(new Event('online'))")
    _until(phone, lambda d: _text(d, "pending-count") == "0")
    kinds = _kinds(client, demo, poison)
    assert kinds.count("dispatched") == 1 and kinds.count("returned") == 1
    assert kinds.index("dispatched") < kinds.index("returned")
    mine = [kind for code, kind in seen if code == poison]
    last_dispatch = max(i for i, kind in enumerate(mine) if kind == "dispatched")
    assert mine.index("returned") > last_dispatch  # sent only once its dispatch was recorded


def test_a_refusal_stays_in_a_red_banner_until_the_driver_acknowledges_it(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    refused, later = register(client, demo), register(client, demo)
    for code in (refused, later):
        fill(client, demo, code)
    foreign = register(client, demo, who="enterprise_b")
    fill(client, demo, foreign, station="b")
    basement = customer(client, demo, kind="household", basement=True)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    _scan(phone, refused)
    _until(phone, lambda d: "已记录" in _text(d, "results"))
    _network(phone, offline=True)
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    _pick(phone, basement)
    _tick_all(phone)
    _scan(phone, refused)  # delivered offline to a basement: will be refused
    _until(phone, lambda d: _text(d, "pending-count") == "1")
    phone.find_element(By.CSS_SELECTOR, "input[value=dispatched]").click()
    _scan(phone, foreign)  # another enterprise's cylinder: its loading will be refused
    _until(phone, lambda d: _text(d, "pending-count") == "2")
    _scan(phone, later)  # and one that will be recorded after the refusals
    _until(phone, lambda d: _text(d, "pending-count") == "3")
    _network(phone, offline=False)
    phone.execute_script("window.dispatchEvent(new Event('online'))")
    _until(phone, lambda d: _text(d, "pending-count") == "0")
    _until(phone, lambda d: "已记录" in _text(d, "scan-status"))  # a later success…

    def banner() -> str:
        box = phone.find_element(By.ID, "refusals")
        return str(box.text) if box.is_displayed() else ""

    for _ in range(2):  # …and after a reload: the refusals are still shown, in red
        text = banner()
        assert "禁止向地下或半地下场所配送" in text
        assert "此瓶未记录为送达，请收回气瓶并联系站点" in text
        assert "此瓶未记录为装车" in text
        assert foreign in text and refused in text
        colour = phone.find_element(By.ID, "refusals").value_of_css_property("background-color")
        assert colour == "rgba(179, 38, 30, 1)"
        assert sorted(phone.execute_async_script(STORED)) == [
            ["delivered", True],
            ["dispatched", True],
        ]
        shot(phone, "driver-refusals-phone")
        phone.refresh()
        _ready(phone)
        _until(phone, lambda d: "禁止" in banner())
    assert _text(phone, "pending-count") == "0"  # refusals are not waiting to upload
    assert "delivered" not in _kinds(client, demo, refused)
    buttons = phone.find_elements(By.CSS_SELECTOR, "#refusals button.ack")
    assert [b.text for b in buttons] == ["知道了 / OK"] * 2
    buttons[0].click()
    _until(phone, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#refusals .refusal")) == 1)
    phone.find_element(By.CSS_SELECTOR, "#refusals button.ack").click()
    _until(phone, lambda d: not banner())
    assert phone.execute_async_script(STORED) == []
    phone.refresh()
    _ready(phone)
    time.sleep(0.5)
    assert not banner()


def test_scans_queued_when_another_person_logs_in_on_the_phone_upload_after_the_driver_does(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    driver_tab = phone.current_window_handle
    phone.switch_to.new_window("tab")  # the station's operator logs in on this phone
    phone.get(f"{live_server}/healthz")
    phone.delete_all_cookies()
    browser_login(phone, live_server, demo, "station_a")
    _until(phone, lambda d: "/station/" in d.current_url)
    phone.close()
    phone.switch_to.window(driver_tab)
    _scan(phone, code)  # the driver's page, its session gone: the upload is refused
    _until(phone, lambda d: "页面已过期" in _text(d, "scan-status"))
    assert _text(phone, "scan-status") == "页面已过期，请刷新；待上传的扫码记录不会丢失。"
    assert phone.execute_async_script(STORED) == [["dispatched", False]]
    assert "dispatched" not in _kinds(client, demo, code)
    phone.refresh()  # as the page says: the operator's session may not use it
    assert "您的账号无权使用此页面" in phone.find_element(By.TAG_NAME, "main").text
    phone.find_element(By.CSS_SELECTOR, "form.logout button").click()
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)  # the driver's own page again: the queued scan uploads by itself
    _until(phone, lambda d: "已记录" in _text(d, "results"))
    assert _text(phone, "pending-count") == "0"
    assert _kinds(client, demo, code).count("dispatched") == 1


MEASURE = """
function sizes(css) {
  return Array.prototype.map.call(document.querySelectorAll(css), function (e) {
    var r = e.getBoundingClientRect(); return [r.width, r.height]; });
}
return {
  radios: sizes("input[name=action]"), rows: sizes(".actions label"),
  boxes: sizes(".check-item, .check-na"), items: sizes(".checklist label"),
  buttons: sizes("#manual button, #manual input, .scan-buttons button, .scan-buttons .button"),
  logout: sizes("form.logout button")
};
"""


def test_the_driver_pages_controls_are_large_enough_for_a_thumb(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    customer(client, demo, kind="household")
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    got = phone.execute_script(MEASURE)
    assert len(got["rows"]) == 3 and len(got["items"]) == 9 and len(got["buttons"]) == 4
    assert all(h >= 48 for _, h in got["rows"] + got["items"] + got["logout"]), got
    assert all(w >= 26 and h >= 26 for w, h in got["radios"] + got["boxes"]), got
    assert all(h >= 56 for _, h in got["buttons"]), got
    code = phone.find_element(By.ID, "code-input")
    assert code.get_attribute("autocapitalize") == "characters"
    assert code.get_attribute("aria-label") == "气瓶码"
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 390
    shot(phone, "driver-controls-phone")
