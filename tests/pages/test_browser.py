"""Each page's main flow in a real headless Chromium; screenshots under tests/artifacts/.

/c/ and /driver run on a phone-sized viewport. These tests are skipped only when Debian's
chromium and chromium-driver are missing (``make install`` installs them).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import qrcode
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from app.pages import regulator_lists
from tests.flows import check, customer, fill, history, local_today, register
from tests.pages.conftest import browser_login, csrf_of, field, shot, until, y4m_of

WAIT = 20


def _wait_text(driver: Any, css: str, text: str) -> str:
    """Wait until the element's text contains ``text`` (across page loads); the text."""

    def seen(d: Any) -> str | bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        return str(found[0].text) if found and text in found[0].text else False

    return str(until(driver, seen, WAIT))


def _ready(driver: Any, css: str) -> None:
    """Wait until the page's script has set itself up (it marks an element ready)."""
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, css), WAIT)


def test_public_page_on_a_phone(client: Any, demo: Any, live_server: str, phone: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    qr = urlsplit(client.get(f"/api/v1/cylinders/{code}").get_json()["qr"])
    phone.get(f"{live_server}{qr.path}?{qr.query}")
    assert "可以使用" in phone.find_element(By.ID, "verdict").text
    assert "渝安龙溪充装站" in phone.find_element(By.ID, "last-filled").text
    assert phone.execute_script("return window.innerWidth") <= 400
    shot(phone, "c-safe-phone")
    phone.get(f"{live_server}{qr.path}?s={'A' * 86}")
    assert "假冒警告" in phone.find_element(By.ID, "forged").text
    shot(phone, "c-forged-phone")
    phone.get(f"{live_server}/c/NOSUCHCODE1")
    assert "未登记的气瓶码" in phone.find_element(By.ID, "verdict").text
    shot(phone, "c-unknown-phone")
    phone.get(f"{live_server}/c/{code}")
    Select(phone.find_element(By.ID, "report-kind")).select_by_value("damaged")
    phone.find_element(By.ID, "report-note").send_keys("二维码标签破损")
    phone.find_element(By.CSS_SELECTOR, "#report-form button").click()
    assert "已提交市场监管部门" in _wait_text(phone, ".flashes", "已提交")
    shot(phone, "c-reported-phone")
    phone.get(f"{live_server}/c/{code}?lang=en")
    assert "Safe to use" in phone.find_element(By.ID, "verdict").text
    shot(phone, "c-safe-phone-en")


def test_station_scans_with_a_wedge_and_records_the_fill(
    client: Any, demo: Any, live_server: str, desktop: Any
) -> None:
    code = register(client, demo)
    foreign = register(client, demo, who="enterprise_b")
    qr = client.get(f"/api/v1/cylinders/{code}").get_json()["qr"]
    desktop.get(f"{live_server}/station/")  # not logged in: to the login page, then a typo
    desktop.find_element(By.ID, "login").send_keys("station_a")
    desktop.find_element(By.ID, "password").send_keys("wrong password" + Keys.ENTER)
    assert "登录名或密码错误" in _wait_text(desktop, ".flashes", "错误")
    shot(desktop, "login-wrong-password")
    browser_login(desktop, live_server, demo, "station_a")
    _ready(desktop, "body[data-ready]")
    shot(desktop, "station-ready")
    # The wedge types into whatever has the focus, then presses Enter.
    desktop.switch_to.active_element.send_keys(qr + Keys.ENTER)
    assert "允许充装" in _wait_text(desktop, "#result", "允许")
    shot(desktop, "station-allow")
    _ready(desktop, "body[data-ready]")
    assert desktop.switch_to.active_element.get_attribute("id") == "gross"
    desktop.switch_to.active_element.send_keys("313" + Keys.ENTER)  # a slip: 313 for 31.3
    assert "请核对磅秤后重新输入" in _wait_text(desktop, "#weigh-error", "核对")
    shot(desktop, "station-weigh-again")
    _ready(desktop, "body[data-ready]")
    assert desktop.switch_to.active_element.get_attribute("id") == "gross"  # no rescan
    assert desktop.find_element(By.ID, "net").text == "296.2"  # what was typed, weighed
    desktop.switch_to.active_element.send_keys("31.3" + Keys.ENTER)  # replaces the slip
    assert "充装已记录" in _wait_text(desktop, "#result", "充装已记录")
    shot(desktop, "station-filled")
    _ready(desktop, "body[data-ready]")
    desktop.switch_to.active_element.send_keys(foreign + Keys.ENTER)
    text = _wait_text(desktop, "#result", "禁止")
    assert "非自有产权" in text
    shot(desktop, "station-block")
    kinds = [e["type"] for e in history(client, demo, code)]
    assert kinds.count("filled") == 1


def _qr_png(text: str, path: Path) -> Path:
    qrcode.make(text, border=4, box_size=8).save(path)
    return path


def test_driver_scans_on_a_phone_and_queues_through_an_outage(
    client: Any, demo: Any, live_server: str, phone: Any, tmp_path: Path
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    site = customer(client, demo, kind="household")
    qr = client.get(f"/api/v1/cylinders/{code}").get_json()["qr"]
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone, "#driver[data-ready]")
    shot(phone, "driver-ready-phone")
    # The person refuses the camera: a clear message in Chinese, nothing recorded.
    phone.execute_cdp_cmd(
        "Browser.setPermission",
        {"permission": {"name": "camera"}, "setting": "denied", "origin": live_server},
    )
    phone.find_element(By.ID, "camera-btn").click()
    assert "摄像头被拒绝" in _wait_text(phone, "#scan-status", "摄像头")
    shot(phone, "driver-camera-refused-phone")
    # Take-a-photo fallback: the vendored BarcodeDetector polyfill decodes the picture.
    photo = phone.find_element(By.ID, "photo")
    phone.execute_script("arguments[0].hidden = false", photo)
    photo.send_keys(str(_qr_png(qr, tmp_path / "label.png")))
    assert "已记录" in _wait_text(phone, "#results", "已记录")
    assert phone.find_element(By.ID, "pending-count").text == "0"
    shot(phone, "driver-dispatched-phone")
    # Deliver while the network is down: kept in IndexedDB, uploaded once it is back.
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    phone.find_element(By.CSS_SELECTOR, "details.new-customer summary").click()
    assert phone.find_element(By.ID, "customer-form").is_displayed()
    shot(phone, "driver-new-customer-phone")
    phone.find_element(By.CSS_SELECTOR, "details.new-customer summary").click()
    phone.find_element(By.CSS_SELECTOR, f'#customer-results button[data-id="{site}"]').click()
    assert "老火锅" in phone.find_element(By.ID, "customer-card").text
    for box in phone.find_elements(By.CSS_SELECTOR, ".check-item"):
        box.click()
    phone.execute_cdp_cmd("Network.enable", {})
    phone.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    phone.find_element(By.ID, "code-input").send_keys(code + Keys.ENTER)
    assert "网络不通" in _wait_text(phone, "#scan-status", "网络不通")
    assert phone.find_element(By.ID, "pending-count").text == "1"
    shot(phone, "driver-offline-pending-phone")
    # The queue is this driver's own, and logging out with a scan pending asks first.
    actor = phone.find_element(By.ID, "driver").get_attribute("data-actor")
    names = phone.execute_async_script(
        "var done = arguments[0];"
        "indexedDB.databases().then(function (d) {"
        "  done(d.map(function (x) { return x.name; })); });"
    )
    assert names == [f"cylinder-ledger-actor-{actor}"]
    # (the dialog answered "stay" by a stand-in for window.confirm, which records its text)
    phone.execute_script("window.confirm = function (m) { window.asked = m; return false; };")
    phone.execute_script("document.querySelector('form.logout').requestSubmit()")
    assert "1 条扫码未上传" in phone.execute_script("return window.asked || ''")
    assert phone.current_url.endswith("/driver/")  # still here, still logged in
    assert phone.find_element(By.ID, "pending-count").text == "1"
    assert "delivered" not in [e["type"] for e in history(client, demo, code)]
    phone.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    until(phone, lambda d: d.find_element(By.ID, "pending-count").text == "0", 30)
    assert "签收" in _wait_text(phone, "#results", "签收")
    shot(phone, "driver-delivered-phone")
    kinds = [e["type"] for e in history(client, demo, code)]
    assert kinds.count("dispatched") == 1 and kinds.count("delivered") == 1


LEGACY_SCAN = """
var scan = arguments[0], done = arguments[1];
var req = indexedDB.open("cylinder-ledger", 1);
req.onupgradeneeded = function () { req.result.createObjectStore("scans", { keyPath: "key" }); };
req.onsuccess = function () {
  var db = req.result, tx = db.transaction("scans", "readwrite");
  tx.objectStore("scans").put(scan);
  tx.oncomplete = function () { db.close(); done(true); };
};
"""


def test_a_scan_queued_before_the_per_login_queues_is_uploaded(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    phone.get(f"{live_server}/login")  # the origin, before the driver page opens its queue
    scan = {
        "key": "0b9c5a52-4d7e-4c1e-9a53-6f1d2c3b4a59",
        "code": code,
        "type": "dispatched",
        "payload": {"vehicle": demo["vehicles"]["a"]},
        "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "tries": 0,
    }  # as the old page queued it: no actor
    assert phone.execute_async_script(LEGACY_SCAN, scan)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone, "#driver[data-ready]")
    assert "已记录" in _wait_text(phone, "#results", "已记录")
    assert [e["type"] for e in history(client, demo, code)].count("dispatched") == 1
    actor = phone.find_element(By.ID, "driver").get_attribute("data-actor")
    names = phone.execute_async_script(
        "var done = arguments[0];"
        "indexedDB.databases().then(function (d) {"
        "  done(d.map(function (x) { return x.name; })); });"
    )
    assert names == [f"cylinder-ledger-actor-{actor}"]  # the legacy database is gone


def _seed_lists(client: Any, demo: Any) -> None:
    """Rows for every list's screenshot: overdue, falling due soon, a public report."""
    today = local_today()
    register(client, demo, manufactured_on="2010-01-01")
    soon = today - dt.timedelta(days=8 * 365 - 40)  # its 8-year service life ends in ~40 days
    register(client, demo, manufactured_on=soon.isoformat(), last_inspected_on=str(today))
    code = register(client, demo)
    page = client.get(f"/c/{code}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "token": field(page, "token"), "kind": "damaged"}
    assert client.post(f"/c/{code}/report", data={**form, "note": "标签破损"}).status_code == 302


class _Later:
    """The app's runtime with its clock half a year on (for the stale list's shot)."""

    def __init__(self, app: Any) -> None:
        self._rt = app.extensions["ledger"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rt, name)

    def now(self) -> dt.datetime:
        return self._rt.now() + dt.timedelta(days=180)  # type: ignore[no-any-return]


def test_regulator_dashboard_trace_and_registry(
    client: Any,
    demo: Any,
    live_server: str,
    desktop: Any,
    runner: Any,
    app: Any,
    monkeypatch: Any,
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    fill(client, demo, register(client, demo), net=12.0)
    check(client, demo, register(client, demo, who="enterprise_b"), "a")
    _seed_lists(client, demo)
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    browser_login(desktop, live_server, demo, "regulator")
    until(desktop, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-daily[data-ready]"), WAIT)
    assert desktop.find_elements(By.CSS_SELECTOR, "#chart-daily canvas")
    assert desktop.find_element(By.ID, "n-blocked").text == "1"
    shot(desktop, "regulator-overview")
    desktop.find_element(By.ID, "audit-btn").click()
    assert "通过" in _wait_text(desktop, "#last-audit", "通过")
    desktop.get(f"{live_server}/regulator/trace?code={code}")
    assert "✓" in desktop.find_element(By.ID, "chain").text
    assert "✓" in desktop.find_element(By.ID, "proof").text
    shot(desktop, "regulator-trace")
    for name, path, rows in (
        ("regulator-blocked", "/regulator/blocked", "#blocked-table tbody a"),
        ("regulator-short-weight", "/regulator/cylinders/short-weight", "#list-table tbody a"),
        ("regulator-overdue", "/regulator/cylinders/overdue", "#list-table tbody a"),
        ("regulator-expiring", "/regulator/cylinders/expiring", "#list-table tbody a"),
        ("regulator-stale", "/regulator/cylinders/stale", "#list-table tbody a"),
        ("regulator-enterprises", "/regulator/enterprises", "section.enterprise"),
        ("regulator-reports", "/regulator/reports", "#reports-table tbody tr[id]"),
    ):
        with monkeypatch.context() as patch:
            if name == "regulator-stale":  # the lists' clock half a year on: all go stale
                patch.setattr(regulator_lists, "runtime", lambda: _Later(app))
            desktop.get(live_server + path)
        assert desktop.find_elements(By.CSS_SELECTOR, "nav.tabs")
        assert desktop.find_elements(By.CSS_SELECTOR, rows), f"{name}: an empty list"
        shot(desktop, name)


def test_driver_scans_with_the_phone_camera(
    client: Any, demo: Any, live_server: str, phone_filming: Any, tmp_path: Path
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    qr = client.get(f"/api/v1/cylinders/{code}").get_json()["qr"]
    video = y4m_of(_qr_png(qr, tmp_path / "label.png"), tmp_path / "camera.y4m")
    phone = phone_filming(video)
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone, "#driver[data-ready]")
    phone.find_element(By.ID, "camera-btn").click()
    assert "已记录" in _wait_text(phone, "#results", "已记录")
    shot(phone, "driver-camera-scan-phone")
    assert [e["type"] for e in history(client, demo, code)].count("dispatched") == 1
