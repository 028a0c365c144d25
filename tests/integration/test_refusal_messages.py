"""A refusal a driver or a station sees says, in Chinese first, what is wrong and what to do
with the cylinder: an unknown code, another enterprise's cylinder, a role's limits."""

from __future__ import annotations

from typing import Any

from tests import flows
from tests.conftest import bearer
from tests.integration.cycle import OK


def test_an_unknown_code_is_refused_in_chinese_with_what_to_do(client: Any, demo: Any) -> None:
    site = flows.customer(client, demo, kind="restaurant")
    resp = flows.event(client, demo, "ZZZZ-9999-0000", "driver_a", "delivered",
                       {"customer_id": site, "checklist": OK})  # fmt: skip
    assert resp.status_code == 404
    detail = resp.get_json()["detail"]
    assert detail.startswith("查无此码 ZZZZ-9999-0000")
    assert "交回站点" in detail and "return it to the station" in detail


def test_a_long_unknown_code_is_not_echoed_whole(client: Any, demo: Any) -> None:
    code = "Q" * 200
    resp = client.get(f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["regulator"]))
    assert resp.status_code == 404
    assert code not in resp.get_json()["detail"] and "Q" * 40 in resp.get_json()["detail"]


def test_another_enterprises_cylinder_is_named_as_such(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)  # enterprise a's
    payload = {"station_id": demo["stations"]["b"], "gross_kg": 31.8, "tare_kg": 16.8,
               "net_kg": 15.0}  # fmt: skip
    resp = flows.event(client, demo, code, "station_b", "filled", payload)
    assert resp.status_code == 403, resp.get_json()
    detail = resp.get_json()["detail"]
    assert "其他企业" in detail and "another enterprise" in detail


def test_a_role_refusal_names_the_role_in_both_languages(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)
    resp = flows.event(client, demo, code, "driver_a", "scrapped", {"reason": "dented"})
    assert resp.status_code == 403, resp.get_json()
    detail = resp.get_json()["detail"]
    assert detail.startswith("你的角色（driver）不能记录「scrapped」")
    assert "role driver may not record 'scrapped'" in detail


def test_a_record_dated_before_the_cylinder_was_registered_is_refused(
    client: Any, demo: Any
) -> None:
    code = flows.register(client, demo)
    before = flows.history(client, demo, code)
    resp = flows.event(
        client,
        demo,
        code,
        "enterprise_a",
        "reported",
        {"kind": "lost"},
        occurred_at="1970-01-01T08:00:00+08:00",
    )  # a phone reset to 1970
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["detail"].startswith("发生时间早于气瓶登记时间")
    assert "check the device clock" in resp.get_json()["detail"]
    assert flows.history(client, demo, code) == before
    future = flows.event(client, demo, code, "enterprise_a", "reported", {"kind": "lost"},
                         occurred_at="2100-01-01T08:00:00+08:00")  # fmt: skip
    assert future.status_code == 422 and "in the future" in future.get_json()["detail"]


def test_another_enterprise_learns_nothing_of_the_registration_time(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)  # enterprise a's
    payload = {"station_id": demo["stations"]["b"], "gross_kg": 31.8, "tare_kg": 16.8,
               "net_kg": 15.0}  # fmt: skip
    resp = flows.event(client, demo, code, "station_b", "filled", payload,
                       occurred_at="1970-01-01T08:00:00+08:00")  # fmt: skip
    assert resp.status_code == 403, resp.get_json()
    detail = resp.get_json()["detail"]
    assert "其他企业" in detail and "登记时间" not in detail
