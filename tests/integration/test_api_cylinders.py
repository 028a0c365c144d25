"""Registering cylinders and recording events through the API."""

from __future__ import annotations

import json
from typing import Any

from tests import flows
from tests.conftest import bearer, cylinder_body


def register(client: Any, demo: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/cylinders",
        json=cylinder_body(**overrides),
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 201, resp.get_json()
    doc: dict[str, Any] = resp.get_json()
    return doc


def test_an_enterprise_registers_a_cylinder_and_gets_a_signed_qr(client, demo):
    doc = register(client, demo)
    assert doc["qr"].startswith(f"https://ledger.test/c/{doc['code']}?s=")
    assert doc["owner"]["id"] == demo["enterprises"]["a"]
    assert doc["next_inspection_due"] == "2026-05-01"
    assert doc["events"] == 1


def test_registration_with_bad_input_is_a_problem_and_changes_nothing(client, demo):
    before = client.get("/api/v1/ledger/proofs/consistency?old=0&new=0").status_code
    resp = client.post(
        "/api/v1/cylinders",
        json=cylinder_body(capacity_kg=-3),
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.get_json()
    assert problem["status"] == 422 and "capacity_kg" in problem["detail"]
    assert before == 200


def test_a_future_manufacture_date_is_refused(client, demo):
    resp = client.post(
        "/api/v1/cylinders",
        json=cylinder_body(manufactured_on="2099-01-01"),
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 422
    assert "manufactured_on" in resp.get_json()["detail"]


def test_only_enterprise_admins_register(client, demo):
    for who in ("station_a", "driver_a", "regulator", "inspector"):
        resp = client.post(
            "/api/v1/cylinders", json=cylinder_body(), headers=bearer(demo["tokens"][who])
        )
        assert resp.status_code == 403, who
    assert client.post("/api/v1/cylinders", json=cylinder_body()).status_code == 401
    resp = client.post("/api/v1/cylinders", json=cylinder_body(), headers=bearer("nonsense"))
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_a_code_is_never_reused(client, demo):
    register(client, demo, code="CQ0000000001")
    resp = client.post(
        "/api/v1/cylinders",
        json=cylinder_body(code="CQ0000000001"),
        headers=bearer(demo["tokens"]["enterprise_b"]),
    )
    assert resp.status_code == 409


def test_a_retried_registration_with_the_same_idempotency_key_registers_once(client, demo):
    body = cylinder_body()
    headers = {**bearer(demo["tokens"]["enterprise_a"]), "Idempotency-Key": "batch-7-row-3"}
    first = client.post("/api/v1/cylinders", json=body, headers=headers)
    again = client.post("/api/v1/cylinders", json=body, headers=headers)
    # a retry gets the original answer back (issue 8: the 24 h Idempotency-Key store)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["code"] == again.get_json()["code"]


def test_the_public_sees_public_fields_and_the_owner_sees_more(client, demo):
    doc = register(client, demo)
    public = client.get(f"/api/v1/cylinders/{doc['code']}").get_json()
    assert "serial" not in public and public["model"] == "YSP35.5"
    other = client.get(
        f"/api/v1/cylinders/{doc['code']}", headers=bearer(demo["tokens"]["enterprise_b"])
    ).get_json()
    assert "serial" not in other
    owner = client.get(
        f"/api/v1/cylinders/{doc['code']}", headers=bearer(demo["tokens"]["enterprise_a"])
    ).get_json()
    assert owner["serial"] == doc["serial"]
    assert client.get("/api/v1/cylinders/NOSUCHCODE").status_code == 404


def test_events_chain_onto_each_other_and_verify(client, demo):
    code = flows.register(client, demo)
    resp = flows.fill(client, demo, code)
    assert resp.status_code == 201, resp.get_json()
    filled = resp.get_json()
    history = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()
    assert history["chain_valid"] is True
    assert [e["type"] for e in history["events"]] == ["registered", "filled"]
    assert filled["prev_hash"] == history["events"][0]["hash"]
    assert history["events"][0]["prev_hash"] == "00" * 32
    # Integrated right after the write: both events now have their leaf in the global log.
    assert all(isinstance(e["leaf_index"], int) for e in history["events"])


def test_another_enterprise_can_neither_read_nor_write_the_history(client, demo):
    code = register(client, demo)["code"]
    assert (
        client.get(
            f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["enterprise_b"])
        ).status_code
        == 403
    )
    resp = client.post(
        f"/api/v1/cylinders/{code}/events",
        headers=bearer(demo["tokens"]["station_b"]),
        json={
            "type": "filled",
            "payload": {"station_id": demo["stations"]["b"], "gross_kg": 31.8, "net_kg": 15.0},
        },
    )
    assert resp.status_code == 403


def test_malformed_events_are_refused_and_nothing_is_recorded(client, demo):
    code = register(client, demo)["code"]
    headers = bearer(demo["tokens"]["driver_a"])
    bad = [
        {"type": "teleported", "payload": {}},
        {"type": "delivered", "payload": {"customer_id": 1, "checklist": {"valve": True}}},
        {"type": "dispatched", "payload": {"vehicle": ""}},
        {"type": "dispatched", "payload": {"vehicle": "渝A·D12345", "extra": 1}},
        {"type": "dispatched", "payload": "not an object"},
        {"type": "dispatched", "occurred_at": "yesterday", "payload": {"vehicle": "渝A·D12345"}},
        {"type": "dispatched", "occurred_at": "2099-01-01T00:00:00Z", "payload": {"vehicle": "x"}},
    ]
    for body in bad:
        resp = client.post(f"/api/v1/cylinders/{code}/events", headers=headers, json=body)
        assert resp.status_code == 422, (body, resp.get_json())
        assert resp.headers["Content-Type"] == "application/problem+json"
    assert client.post(
        f"/api/v1/cylinders/{code}/events",
        headers=headers,
        data="{not json",
        content_type="application/json",
    ).status_code in (400, 422)
    history = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()
    assert len(history["events"]) == 1


def test_a_retried_event_with_the_same_idempotency_key_is_recorded_once(client, demo):
    code = flows.register(client, demo)
    flows.fill(client, demo, code)
    headers = {**bearer(demo["tokens"]["driver_a"]), "Idempotency-Key": "scan-42"}
    body = {"type": "dispatched", "payload": {"vehicle": demo["vehicles"]["a"]}}
    first = client.post(f"/api/v1/cylinders/{code}/events", headers=headers, json=body)
    again = client.post(f"/api/v1/cylinders/{code}/events", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)  # the original answer
    assert first.get_json() == again.get_json()
    other = client.post(
        f"/api/v1/cylinders/{code}/events",
        headers=headers,
        json={"type": "returned", "payload": {}},
    )
    assert other.status_code == 409


def test_an_oversized_body_is_413(client, demo):
    resp = client.post(
        "/api/v1/cylinders",
        data="x" * 300_000,
        content_type="application/json",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_a_database_that_is_down_is_a_503_problem_not_a_crash(tmp_path):
    from app import create_app

    app = create_app({
        "TESTING": True, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "INSTANCE_PATH": str(tmp_path / "instance"), "KEYS_DIR": str(tmp_path / "keys"),
    })  # fmt: skip
    resp = app.test_client().get("/api/v1/cylinders/ABC123")
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["Retry-After"] and "nothing was recorded" in resp.get_json()["detail"]


def test_broken_text_is_refused_in_registrations_and_events_never_a_500(client, demo):
    body = json.dumps(cylinder_body(serial="CQ\ud8002022"))
    resp = client.post(
        "/api/v1/cylinders",
        data=body,
        content_type="application/json",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 422 and "serial" in resp.get_json()["detail"]
    code = flows.register(client, demo)
    event = json.dumps({"type": "held", "payload": {"reason": "x\udfff"}})
    resp = client.post(
        f"/api/v1/cylinders/{code}/events",
        data=event,
        content_type="application/json",
        headers=bearer(demo["tokens"]["regulator"]),
    )
    assert resp.status_code == 422, resp.get_json()
