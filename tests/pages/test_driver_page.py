"""/driver: the phone page's endpoints — queued scans recorded once, refusals recorded once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.flows import CHECKLIST_OK, customer, fill, history, register
from tests.pages.conftest import csrf_of, field


def _post(client: Any, token: str, key: str, code: str, kind: str, payload: dict[str, Any]) -> Any:
    return client.post(
        "/driver/api/events",
        json={
            "code": code,
            "type": kind,
            "payload": payload,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        },
        headers={"X-CSRFToken": token, "Idempotency-Key": key},
    )


def _driver(as_person: Any) -> tuple[Any, str]:
    client = as_person("driver_a")
    page = client.get("/driver/").get_data(as_text=True)
    return client, csrf_of(page)


def test_the_page_shows_the_vehicle_customers_and_checklist(as_person: Any, demo: Any) -> None:
    client = as_person("driver_a")
    html = client.get("/driver/").get_data(as_text=True)
    assert demo["vehicles"]["a"] in html
    assert "随瓶安检" in html and "检漏" in html
    assert "vendor/barcode-detector/polyfill.js" in html and "<script>" not in html


def test_a_retried_scan_is_recorded_once(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    driver, token = _driver(as_person)
    payload = {"vehicle": demo["vehicles"]["a"]}
    first = _post(driver, token, "key-1", code, "dispatched", payload)
    assert first.status_code == 201, first.get_json()
    again = _post(driver, token, "key-1", code, "dispatched", payload)
    assert again.status_code == 200 and again.get_json()["replay"] is True
    assert [e["type"] for e in history(client, demo, code)].count("dispatched") == 1


def test_a_qr_url_scanned_by_the_camera_is_accepted(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    qr = client.get(f"/api/v1/cylinders/{code}").get_json()["qr"]
    driver, token = _driver(as_person)
    resp = _post(driver, token, "k-url", qr, "dispatched", {"vehicle": demo["vehicles"]["a"]})
    assert resp.status_code == 201 and resp.get_json()["code"] == code


def test_a_failed_safety_check_is_refused_and_recorded_once(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    driver, token = _driver(as_person)
    assert (
        _post(
            driver, token, "d1", code, "dispatched", {"vehicle": demo["vehicles"]["a"]}
        ).status_code
        == 201
    )
    site = customer(client, demo, kind="household")
    payload = {"customer_id": site, "checklist": {**CHECKLIST_OK, "hose": False}}
    for _ in range(2):  # the phone retries: one refusal on the chain, the same answer
        resp = _post(driver, token, "deliver-1", code, "delivered", payload)
        assert resp.status_code == 409
        assert any("随瓶安检不合格" in r for r in resp.get_json()["reasons"])
    kinds = [e["type"] for e in history(client, demo, code)]
    assert kinds.count("delivery_blocked") == 1 and "delivered" not in kinds


def test_an_expired_session_answers_401_and_records_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    driver, token = _driver(as_person)
    with driver.session_transaction() as session:
        session["seen_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    resp = _post(driver, token, "late", code, "dispatched", {"vehicle": demo["vehicles"]["a"]})
    assert resp.status_code == 401
    assert "dispatched" not in [e["type"] for e in history(client, demo, code)]


def test_a_scan_without_an_idempotency_key_is_refused(as_person: Any) -> None:
    driver, token = _driver(as_person)
    resp = driver.post(
        "/driver/api/events",
        json={"code": "X", "type": "returned", "payload": {}},
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 422


def test_a_customer_file_is_opened_once(client: Any, demo: Any, as_person: Any) -> None:
    driver = as_person("driver_a")
    page = driver.get("/driver/").get_data(as_text=True)
    form = {
        "csrf_token": csrf_of(page),
        "once": field(page, "once"),
        "name": "山城面馆",
        "kind": "restaurant",
        "address": "渝北区龙溪街道99号",
    }
    first = driver.post("/driver/customers", data=form)
    assert first.status_code == 302 and "customer=" in first.location
    second = driver.post("/driver/customers", data=form)
    assert "未重复记录" in driver.get(second.location).get_data(as_text=True)
    listed = driver.get("/driver/").get_data(as_text=True)
    assert listed.count("山城面馆") == 1


def test_an_empty_is_collected_through_the_page(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    driver, token = _driver(as_person)
    vehicle = {"vehicle": demo["vehicles"]["a"]}
    assert _post(driver, token, "r-1", code, "dispatched", vehicle).status_code == 201
    site = customer(client, demo, kind="household")
    delivered = {"customer_id": site, "checklist": CHECKLIST_OK}
    assert _post(driver, token, "r-2", code, "delivered", delivered).status_code == 201
    resp = _post(driver, token, "r-3", code, "returned", {})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["type"] == "returned" and resp.get_json()["replay"] is False
    assert [e["type"] for e in history(client, demo, code)][-1] == "returned"


def test_a_scan_queued_by_another_login_is_not_recorded(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    driver, token = _driver(as_person)
    resp = driver.post(
        "/driver/api/events",
        json={
            "code": code,
            "type": "dispatched",
            "payload": {"vehicle": demo["vehicles"]["a"]},
            "actor": 999999,  # the queue of someone else on this phone
        },
        headers={"X-CSRFToken": token, "Idempotency-Key": "other-1"},
    )
    assert resp.status_code == 409 and resp.get_json()["error"] == "other_login"
    assert "dispatched" not in [e["type"] for e in history(client, demo, code)]


def test_the_page_scopes_its_queue_to_the_logged_in_driver(as_person: Any) -> None:
    html = as_person("driver_a").get("/driver/").get_data(as_text=True)
    assert re.search(r'id="driver"[^>]* data-actor="\d+"', html)
