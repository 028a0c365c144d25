"""A station's retry that meets its own still-running request waits; it is not refused."""

from __future__ import annotations

import httpx
import pytest

from scanner.client import LedgerClient, Refused, Unavailable


def client_answering(status: int, headers: dict[str, str]) -> LedgerClient:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"type": "x", "title": "Conflict", "status": status, "detail": "d"}
        return httpx.Response(status, json=body, headers=headers)

    return LedgerClient("http://ledger.test", "t", transport=httpx.MockTransport(answer))


def test_a_409_with_retry_after_is_retried_later_by_the_station() -> None:
    station = client_answering(409, {"Retry-After": "1"})
    with pytest.raises(Unavailable):
        station.post_event("AB12CD34EF56", {"type": "filled", "payload": {}}, "k")
    station.close()


def test_a_409_without_retry_after_is_a_refusal() -> None:
    station = client_answering(409, {})
    with pytest.raises(Refused):
        station.post_event("AB12CD34EF56", {"type": "filled", "payload": {}}, "k")
    station.close()


def test_the_server_answers_a_retry_during_a_running_request_with_retry_after(app, demo) -> None:
    from app.runtime import runtime
    from ledger import idempotency
    from ledger.store import transaction

    token = demo["tokens"]["driver_a"]
    body = b'{"name": "x", "kind": "other", "address": "y", "basement": false}'
    with app.app_context(), transaction(runtime().engine) as s:
        actor_id = (
            app.test_client()
            .get("/api/v1/actors/me", headers={"Authorization": f"Bearer {token}"})
            .get_json()["id"]
        )
        print_ = idempotency.fingerprint("POST", "/api/v1/customers", body)
        assert idempotency.claim(s, actor_id, "busy", print_, runtime().now()) is None
    resp = app.test_client().post(
        "/api/v1/customers",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "busy"},
    )
    assert resp.status_code == 409 and resp.headers["Retry-After"] == "1"
    assert resp.content_type == "application/problem+json"
