"""Enterprises are isolated; public answers carry public fields only; pages by role."""

from __future__ import annotations

from typing import Any

import pytest

from tests import flows
from tests.conftest import bearer
from tests.pages.conftest import login
from tests.security.matrix import ROLES

PUBLIC_FIELDS = {
    "capacity_kg", "code", "dual_phase", "end_of_life", "events", "id", "last_filled_at",
    "last_inspected_on", "manufactured_on", "model", "next_inspection_due", "owner", "qr",
    "status",
}  # fmt: skip
SECRET_NAME, SECRET_ADDRESS, SECRET_PHONE = "秘密火锅店", "秘密路8号", "023-6000 0001"


def delivered(client: Any, demo: Any) -> str:
    """A cylinder of A delivered to a customer file with a name, address and phone."""
    code = flows.register(client, demo)
    assert flows.fill(client, demo, code).status_code == 201
    ok = flows.event(
        client, demo, code, "driver_a", "dispatched", {"vehicle": demo["vehicles"]["a"]}
    )
    assert ok.status_code == 201, ok.get_json()
    cid = client.post(
        "/api/v1/customers",
        json={"name": SECRET_NAME, "kind": "household", "address": SECRET_ADDRESS,
              "basement": False, "phone": SECRET_PHONE},
        headers=bearer(demo["tokens"]["driver_a"]),
    ).get_json()["id"]  # fmt: skip
    payload = {"customer_id": cid, "checklist": flows.CHECKLIST_OK}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 201, resp.get_json()
    return code


def test_public_and_other_enterprises_see_only_public_fields(client: Any, demo: Any) -> None:
    code = delivered(client, demo)
    for who in (None, "enterprise_b", "station_b"):
        headers = bearer(demo["tokens"][who]) if who else {}
        doc = client.get(f"/api/v1/cylinders/{code}", headers=headers).get_json()
        assert set(doc) <= PUBLIC_FIELDS, (who, set(doc) - PUBLIC_FIELDS)
        text = str(doc)
        assert SECRET_NAME not in text and SECRET_ADDRESS not in text
    owner = client.get(f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["enterprise_a"]))
    assert "serial" in owner.get_json()


def test_the_public_page_shows_no_personal_data(client: Any, demo: Any) -> None:
    code = delivered(client, demo)
    page = client.get(f"/c/{code}").get_data(as_text=True)
    for secret in (SECRET_NAME, SECRET_ADDRESS, SECRET_PHONE, "张师傅"):
        assert secret not in page
    assert code in page


def test_the_immutable_log_holds_no_personal_data(client: Any, demo: Any) -> None:
    code = delivered(client, demo)
    events = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()["events"]
    text = str(events)
    assert "customer_id" in text
    for secret in (SECRET_NAME, SECRET_ADDRESS, SECRET_PHONE):
        assert secret not in text


@pytest.mark.parametrize(
    "path", ["/customers", "/vehicles", "/stations", "/actors", "/enterprises"]
)
def test_an_enterprise_lists_only_its_own_records(client: Any, demo: Any, path: str) -> None:
    flows.customer(client, demo)  # A has at least one customer file
    for who, own in (("enterprise_b", demo["enterprises"]["b"]),
                     ("enterprise_a", demo["enterprises"]["a"])):  # fmt: skip
        doc = client.get(f"/api/v1{path}", headers=bearer(demo["tokens"][who])).get_json()
        rows = next(v for v in doc.values() if isinstance(v, list))
        assert rows, (who, path)
        ids = {r.get("enterprise_id", r.get("id")) for r in rows}
        assert ids == {own}, (who, path, ids)


PAGES = {
    "/station/": {"station_a", "station_b"},
    "/driver/": {"driver_a"},
    "/regulator/": {"regulator", "admin"},
    "/regulator/blocked": {"regulator", "admin"},
    "/regulator/blocked.csv": {"regulator", "admin"},
    "/regulator/cylinders/overdue": {"regulator", "admin"},
    "/regulator/cylinders/overdue.csv": {"regulator", "admin"},
    "/regulator/enterprises": {"regulator", "admin"},
    "/regulator/reports": {"regulator", "admin"},
    "/regulator/trace": {"regulator", "admin"},
    "/regulator/charts.json": {"regulator", "admin"},
}


@pytest.mark.parametrize("who", ROLES)
def test_each_page_opens_only_for_its_roles(app: Any, demo: Any, who: str | None) -> None:
    client = app.test_client()
    if who is not None:
        login(client, demo, who)
    wrong = []
    for path, allowed in PAGES.items():
        status = client.get(path).status_code
        expected = 200 if who in allowed else (302 if who is None else 403)
        if status != expected:
            wrong.append((path, status, expected))
    assert not wrong


def test_erasing_a_customer_file_leaves_the_log_untouched_and_verifiable(
    client: Any, demo: Any, runner: Any
) -> None:
    code = delivered(client, demo)
    regulator = bearer(demo["tokens"]["regulator"])
    before = client.get(f"/api/v1/cylinders/{code}/events", headers=regulator).get_json()
    cid = next(e for e in before["events"] if e["type"] == "delivered")["site"]
    owner = bearer(demo["tokens"]["enterprise_a"])
    fixed = client.patch(f"/api/v1/customers/{cid}", json={"phone": "023-6000 0002"}, headers=owner)
    assert fixed.status_code == 200 and fixed.get_json()["phone"] == "023-6000 0002"
    assert client.delete(f"/api/v1/customers/{cid}", headers=owner).status_code < 300
    erased = client.get(f"/api/v1/customers/{cid}", headers=owner).get_json()
    assert erased["name"] == "" and erased["address"] == "" and erased["phone"] is None
    after = client.get(f"/api/v1/cylinders/{code}/events", headers=regulator).get_json()
    assert after["events"] == before["events"] and after["chain_valid"]
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0
