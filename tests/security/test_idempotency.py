"""Idempotency-Key on every write: a retry returns the original answer and records nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from app.runtime import runtime
from ledger import idempotency
from ledger.errors import Conflict
from ledger.model import Customer, Station
from ledger.model_idempotency import IdempotentAnswer
from ledger.store import transaction
from tests.conftest import bearer


def count(app: Any, table: Any) -> int:
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


def keyed(demo: dict[str, Any], who: str, key: str) -> dict[str, str]:
    return {**bearer(demo["tokens"][who]), "Idempotency-Key": key}


CUSTOMER = {"name": "老火锅", "kind": "restaurant", "address": "渝北区1号", "basement": False}


def test_a_retried_customer_creation_returns_the_first_answer_and_opens_one_file(app, client, demo):
    before = count(app, Customer)
    first = client.post("/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "driver_a", "k1"))
    again = client.post("/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "driver_a", "k1"))
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(app, Customer) == before + 1


def test_a_retried_station_creation_records_one_station(app, client, demo):
    body = {"name": "二号充装站", "address": "江北区", "enterprise_id": demo["enterprises"]["a"]}
    before = count(app, Station)
    answers = [
        client.post("/api/v1/stations", json=body, headers=keyed(demo, "admin", "st-1"))
        for _ in range(3)
    ]
    assert len({(a.status_code, a.get_data()) for a in answers}) == 1
    assert count(app, Station) == before + (1 if answers[0].status_code == 201 else 0)


def test_the_same_key_on_a_different_request_is_a_conflict_and_changes_nothing(app, client, demo):
    headers = keyed(demo, "driver_a", "k2")
    assert client.post("/api/v1/customers", json=CUSTOMER, headers=headers).status_code == 201
    before = count(app, Customer)
    other = client.post("/api/v1/customers", json={**CUSTOMER, "name": "别家"}, headers=headers)
    assert other.status_code == 409
    assert other.content_type == "application/problem+json"
    assert count(app, Customer) == before


def test_keys_are_per_actor(app, client, demo):
    before = count(app, Customer)
    mine = client.post("/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "driver_a", "k3"))
    theirs = client.post(
        "/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "enterprise_b", "k3")
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert count(app, Customer) == before + 2


def test_a_refusal_is_replayed_too(app, client, demo):
    body = {**CUSTOMER, "kind": "castle"}
    first = client.post("/api/v1/customers", json=body, headers=keyed(demo, "driver_a", "k4"))
    again = client.post("/api/v1/customers", json=body, headers=keyed(demo, "driver_a", "k4"))
    assert first.status_code == again.status_code == 422
    assert first.get_json() == again.get_json()


def test_an_unauthenticated_write_is_not_remembered(app, client, demo):
    bad = {"Authorization": "Bearer nope", "Idempotency-Key": "k5"}
    assert client.post("/api/v1/customers", json=CUSTOMER, headers=bad).status_code == 401
    assert count(app, IdempotentAnswer) == 0


def test_an_erasure_retried_returns_its_first_answer(app, client, demo):
    cid = client.post(
        "/api/v1/customers", json=CUSTOMER, headers=bearer(demo["tokens"]["enterprise_a"])
    ).get_json()["id"]
    first = client.delete(f"/api/v1/customers/{cid}", headers=keyed(demo, "enterprise_a", "e1"))
    again = client.delete(f"/api/v1/customers/{cid}", headers=keyed(demo, "enterprise_a", "e1"))
    assert first.status_code == again.status_code
    assert first.status_code < 300


def test_a_bad_key_is_refused(client, demo):
    resp = client.post(
        "/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "driver_a", "x" * 300)
    )
    assert resp.status_code == 422


def test_answers_expire_after_24_hours_and_a_dead_claim_is_taken_over(app):
    now = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    print_ = idempotency.fingerprint("POST", "/x", b"{}")
    with app.app_context(), transaction(runtime().engine) as s:
        assert idempotency.claim(s, 1, "a", print_, now) is None
        with pytest.raises(Conflict):  # the first request is still running
            idempotency.claim(s, 1, "a", print_, now + dt.timedelta(seconds=5))
        # the first request died without an answer: after a minute the claim is free again
        assert idempotency.claim(s, 1, "a", print_, now + dt.timedelta(seconds=61)) is None
        answer = idempotency.Answer(201, "application/json", b'{"id": 1}')
        assert idempotency.remember(s, 1, "a", answer)
        later = now + dt.timedelta(hours=23)
        assert idempotency.claim(s, 1, "a", print_, later) == answer
        assert idempotency.claim(s, 1, "a", print_, now + dt.timedelta(hours=25)) is None
        assert idempotency.purge(s, now + dt.timedelta(hours=50)) == 1


def test_a_retried_actor_creation_makes_one_actor_and_never_stores_its_token(app, client, demo):
    headers = keyed(demo, "enterprise_a", "new-driver")
    body = {"name": "新司机", "role": "driver"}
    first = client.post("/api/v1/actors", json=body, headers=headers)
    again = client.post("/api/v1/actors", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    token = first.get_json()["token"]
    assert token and again.get_json()["token"] is None
    assert again.get_json()["id"] == first.get_json()["id"]
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        kept = [r.body or b"" for r in s.execute(select(IdempotentAnswer)).scalars()]
    assert kept and all(token.encode() not in b for b in kept)


def test_a_keyed_write_purges_answers_older_than_24_hours(app, client, demo):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    with app.app_context(), transaction(runtime().engine) as s:
        s.add(IdempotentAnswer(actor_id=1, key="old", fingerprint="x", status=201, created_at=old))
    assert count(app, IdempotentAnswer) == 1
    client.post("/api/v1/customers", json=CUSTOMER, headers=keyed(demo, "driver_a", "fresh"))
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        keys = [r.key for r in s.execute(select(IdempotentAnswer)).scalars()]
    assert keys == ["fresh"]
