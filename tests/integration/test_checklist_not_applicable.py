"""Only the cylinder-room item may be answered "not applicable" (null); every other item is
true or false, and a failed room is still a failed safety check."""

from __future__ import annotations

from typing import Any

import pytest

from tests import flows
from tests.integration.cycle import OK, on_truck


def _deliver(client: Any, demo: Any, checklist: dict[str, Any]) -> tuple[str, Any]:
    code = on_truck(client, demo)
    site = flows.customer(client, demo, kind="household")
    resp = flows.event(client, demo, code, "driver_a", "delivered",
                       {"customer_id": site, "checklist": checklist})  # fmt: skip
    return code, resp


def test_a_cylinder_room_not_applicable_is_delivered_and_kept_as_null(client, demo):
    code, resp = _deliver(client, demo, {**OK, "storage_room": None})
    assert resp.status_code == 201, resp.get_json()
    last = flows.history(client, demo, code)[-1]
    assert last["type"] == "delivered" and last["payload"]["checklist"]["storage_room"] is None


@pytest.mark.parametrize(
    "answer", [{"valve": None}, {"storage_room": "n/a"}, {"storage_room": 0}], ids=str
)
def test_other_answers_are_refused_and_nothing_recorded(client, demo, answer):
    code, resp = _deliver(client, demo, {**OK, **answer})
    assert resp.status_code == 422, resp.get_json()
    assert "安全检查项目" in resp.get_json()["detail"]
    assert flows.history(client, demo, code)[-1]["type"] == "dispatched"


def test_a_failed_cylinder_room_is_still_a_failed_check(client, demo):
    _, resp = _deliver(client, demo, {**OK, "storage_room": False})
    assert resp.status_code == 409
    assert "SAFETY_CHECK_FAILED" in [r["code"] for r in resp.get_json()["reasons"]]
