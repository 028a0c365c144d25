"""Owners' own webhooks: the sweep queues only new notifications of owners with one, and the
scheduler sends each, signed, until a 2xx, beside (not instead of) the global webhook."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update
from sqlmodel import Session, SQLModel, col

from app import jobs
from ledger import notifications
from ledger.model_ops import Notification
from ledger.model_rules import CylinderStateRow
from ledger.model_webhooks import OwnerDelivery
from ledger.owner_delivery import HEADER, body_bytes, verify_signature
from tests.conftest import bearer
from tests.flows import local_today, register

HOOK_A = "https://oa.a.example/hooks/cylinders"
HOOK_B = "https://oa.b.example/hooks/cylinders"


def _engine(app: Any) -> Any:
    return app.extensions["ledger"].engine


def _expire(app: Any, owner: int, n: int, skip: int = 0) -> list[str]:
    """Move the inspection date of ``n`` of an owner's cylinders to yesterday."""
    yesterday = local_today() - dt.timedelta(days=1)
    s = CylinderStateRow
    with Session(_engine(app)) as session:
        query = select(col(s.cylinder_id)).where(col(s.owner_id) == owner)
        ids = list(
            session.execute(query.order_by(col(s.cylinder_id)).offset(skip).limit(n)).scalars()
        )
        assert len(ids) == n
        session.execute(
            update(s).where(col(s.cylinder_id).in_(ids)).values(next_inspection_due=yesterday)
        )
        session.commit()
    return ids


def _set_hook(client: Any, demo: dict[str, Any], key: str, url: str) -> str:
    """Set enterprise ``key``'s webhook as its administrator; the secret."""
    resp = client.put(
        f"/api/v1/enterprises/{demo['enterprises'][key]}/webhook",
        json={"url": url},
        headers=bearer(demo["tokens"][f"enterprise_{key}"]),
    )
    assert resp.status_code == 200, resp.get_json()
    secret: str = resp.get_json()["secret"]
    return secret


def _deliveries(app: Any) -> dict[int, OwnerDelivery]:
    with Session(_engine(app)) as s:
        return {d.notification_id: d for d in s.execute(select(OwnerDelivery)).scalars()}


def _notes(app: Any, owner: int) -> dict[int, Notification]:
    with Session(_engine(app)) as s:
        query = select(Notification).where(col(Notification.enterprise_id) == owner)
        return {n.id: n for n in s.execute(query).scalars() if n.id is not None}


class Receiver:
    """The owners' receivers: each POST checked as a receiver would, then answered from
    ``answers`` (by notification id; 204 once they run out)."""

    def __init__(self, app: Any, secrets: dict[str, str], answers: dict[int, list[Any]]) -> None:
        self.app, self.secrets, self.answers = app, secrets, answers
        self.sent: list[tuple[str, int]] = []  # (url, notification id)

    def __call__(self, url: str, body: bytes, headers: dict[str, str], private_ok: bool) -> int:
        assert not private_ok  # the default: owners' hosts must be public
        assert isinstance(body, bytes) and headers["Content-Type"] == "application/json"
        assert verify_signature(self.secrets[url], headers[HEADER], body, time.time())
        assert not verify_signature(self.secrets[url], headers[HEADER], body + b" ", time.time())
        doc = json.loads(body)
        assert headers["Idempotency-Key"] == f"notification-{doc['id']}"
        with Session(_engine(self.app)) as s:  # committed, and exactly its document's bytes
            note = s.get(Notification, doc["id"])
            assert note is not None and body == body_bytes(notifications.document(note))
        self.sent.append((url, doc["id"]))
        answer = (self.answers.get(doc["id"]) or [204]).pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)


@pytest.fixture
def ab(demo: dict[str, Any]) -> tuple[int, int]:
    return demo["enterprises"]["a"], demo["enterprises"]["b"]


def test_the_sweep_queues_only_new_notifications_of_owners_with_a_webhook(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, b = ab
    register(client, demo, who="enterprise_b")
    _expire(app, a, 2)
    assert jobs.expiry_sweep(app)["owner_queued"] == 0  # nobody has a webhook yet
    before = set(_notes(app, a))
    secret = _set_hook(client, demo, "a", HOOK_A)
    receiver = Receiver(app, {HOOK_A: secret}, {})
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    assert jobs.expiry_sweep(app)["owner_queued"] == 0  # history is not sent
    assert _deliveries(app) == {} and receiver.sent == []

    _expire(app, a, 1, skip=2)
    _expire(app, b, 1)  # B has no webhook
    swept = jobs.expiry_sweep(app)
    new = set(_notes(app, a)) - before
    assert swept["overdue"] == 2 and swept["owner_queued"] == 1 and len(new) == 1
    assert set(_deliveries(app)) == new
    assert swept["owner_delivered"] == 1 and swept["owner_delivery_status"] == "done"
    assert receiver.sent == [(HOOK_A, *new)]
    again = jobs.expiry_sweep(app)
    assert again["overdue"] == again["owner_queued"] == again["owner_delivered"] == 0
    assert set(_deliveries(app)) == new and len(receiver.sent) == 1


def test_delivery_retries_until_accepted_and_never_resends(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, _ = ab
    secret = _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 3)
    answers: dict[int, list[Any]] = {}
    receiver = Receiver(app, {HOOK_A: secret}, answers)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)
    first = jobs.expiry_sweep(app)
    assert first["owner_queued"] == 3 and first["owner_delivery_failed"] == 3
    ids = sorted(_deliveries(app))
    answers[ids[0]] = [500, TimeoutError("timed out")]  # two more failures, then 204
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    second = jobs.expiry_sweep(app)
    assert second["owner_delivered"] == 2 and second["owner_delivery_failed"] == 1
    third = jobs.expiry_sweep(app)
    assert third["owner_delivered"] == 0 and third["owner_delivery_failed"] == 1
    rows = _deliveries(app)
    assert rows[ids[0]].last_error == "TimeoutError: timed out" and rows[ids[0]].attempts == 3
    fourth = jobs.expiry_sweep(app)
    assert fourth["owner_delivered"] == 1
    fifth = jobs.expiry_sweep(app)
    assert fifth["owner_delivered"] == fifth["owner_delivery_failed"] == 0
    assert sorted(n for _, n in receiver.sent) == sorted([*ids, ids[0], ids[0]])
    rows = _deliveries(app)
    assert all(d.delivered_at is not None and d.last_error is None for d in rows.values())
    assert [rows[i].attempts for i in ids] == [4, 2, 2]


def test_an_unreachable_receiver_keeps_the_rows_for_later(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int]
) -> None:
    a, _ = ab
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # a receiver on this host, for the test
    _set_hook(client, demo, "a", "http://127.0.0.1:9/hook")  # discard port: refused
    _expire(app, a, 1)
    result = jobs.expiry_sweep(app)  # the real client
    assert result["owner_delivery_status"] == "done" and result["owner_delivered"] == 0
    assert result["owner_delivery_failed"] == 1
    (row,) = _deliveries(app).values()
    assert row.delivered_at is None and row.attempts == 1 and row.last_error
    read = client.get(
        f"/api/v1/enterprises/{a}/webhook", headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert (read.get_json()["pending"], read.get_json()["failed"]) == (0, 1)


def test_a_delivery_is_given_up_after_max_attempts(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, _ = ab
    secret = _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 2)
    monkeypatch.setattr(notifications, "MAX_ATTEMPTS", 2)
    receiver = Receiver(app, {HOOK_A: secret}, {})
    monkeypatch.setattr(
        jobs, "_post_bytes", lambda *args: receiver(*args) and 500
    )  # checked, refused
    first = jobs.expiry_sweep(app)
    assert first["owner_delivery_failed"] == 2 and first["owner_delivery_given_up"] == 0
    second = jobs.expiry_sweep(app)
    assert second["owner_delivery_failed"] == 2 and second["owner_delivery_given_up"] == 2
    third = jobs.expiry_sweep(app)
    assert third["owner_delivery_failed"] == third["owner_delivered"] == 0
    assert len(receiver.sent) == 4
    rows = _deliveries(app).values()
    assert {(d.attempts, d.last_error, d.delivered_at) for d in rows} == {(2, "HTTP 500", None)}
    read = client.get(f"/api/v1/enterprises/{a}/webhook", headers=bearer(demo["tokens"]["admin"]))
    assert read.get_json()["given_up"] == 2 and read.get_json()["failed"] == 0


def test_removing_the_webhook_drops_its_unsent_deliveries_and_keeps_the_sent(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, _ = ab
    secret = _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 2)
    receiver = Receiver(app, {HOOK_A: secret}, {})
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)
    jobs.expiry_sweep(app)
    first, second = sorted(_deliveries(app))
    receiver.answers[second] = [503]
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    assert jobs.expiry_sweep(app)["owner_delivered"] == 1
    gone = client.delete(
        f"/api/v1/enterprises/{a}/webhook", headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert gone.status_code == 204
    rows = _deliveries(app)
    assert set(rows) == {first} and rows[first].delivered_at is not None
    sent = len(receiver.sent)
    after = jobs.expiry_sweep(app)
    assert after["owner_delivered"] == after["owner_delivery_failed"] == 0
    assert len(receiver.sent) == sent


def test_a_replaced_webhook_gets_the_backlog_signed_with_its_new_secret(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, _ = ab
    _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 1)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)
    assert jobs.expiry_sweep(app)["owner_delivery_failed"] == 1
    other = "https://new.a.example/hook"
    receiver = Receiver(app, {other: _set_hook(client, demo, "a", other)}, {})
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    assert jobs.expiry_sweep(app)["owner_delivered"] == 1
    assert [url for url, _ in receiver.sent] == [other]


def test_the_global_webhook_still_gets_everything_unsigned_and_independently(
    app: Any, client: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, b = ab
    register(client, demo, who="enterprise_b")
    secret = _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 2)
    _expire(app, b, 1)
    app.config["NOTIFY_WEBHOOK_URL"] = "https://city.example/hook"
    city: list[int] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        assert url == "https://city.example/hook" and HEADER not in headers
        city.append(body["id"])
        return 204

    receiver = Receiver(app, {HOOK_A: secret}, {})
    monkeypatch.setattr(jobs, "_post", post)
    monkeypatch.setattr(
        jobs, "_post_bytes", lambda *args: receiver(*args) and 503
    )  # checked, refused
    result = jobs.expiry_sweep(app)
    assert result["delivered"] == 3 and result["delivery_failed"] == 0  # A's and B's
    assert result["owner_delivered"] == 0 and result["owner_delivery_failed"] == 2  # A's only
    assert sorted(city) == sorted([*_notes(app, a), *_notes(app, b)])
    assert sorted(n for _, n in receiver.sent) == sorted(_notes(app, a))
    with Session(_engine(app)) as s:  # the global delivery's own record, untouched by A's
        assert all(n.delivered_at for n in s.execute(select(Notification)).scalars())
    app.config["NOTIFY_WEBHOOK_URL"] = None
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    later = jobs.expiry_sweep(app)  # no global URL: the owners' delivery runs all the same
    assert "delivered" not in later and later["owner_delivered"] == 2


def test_the_global_webhook_is_signed_with_the_citys_secret_when_set(
    app: Any, demo: dict[str, Any], ab: tuple[int, int], monkeypatch: Any
) -> None:
    a, _ = ab
    _expire(app, a, 2)
    city = "http://10.1.2.3/hook"  # the operator's own URL: an internal host is fine
    app.config.update(NOTIFY_WEBHOOK_URL=city, NOTIFY_WEBHOOK_SECRET="城市密钥-s3cret")
    sent: list[int] = []

    def post_bytes(url: str, body: bytes, headers: dict[str, str], private_ok: bool) -> int:
        assert url == city and private_ok and headers["Content-Type"] == "application/json"
        assert verify_signature("城市密钥-s3cret", headers[HEADER], body, time.time())
        assert not verify_signature("another", headers[HEADER], body, time.time())
        doc = json.loads(body)
        assert headers["Idempotency-Key"] == f"notification-{doc['id']}"
        with Session(_engine(app)) as s:
            note = s.get(Notification, doc["id"])
            assert note is not None and body == body_bytes(notifications.document(note))
        sent.append(doc["id"])
        return 204

    def unsigned(*_: Any) -> int:
        raise AssertionError("the unsigned POST is not used once a secret is set")

    monkeypatch.setattr(jobs, "_post", unsigned)
    monkeypatch.setattr(jobs, "_post_bytes", post_bytes)
    result = jobs.expiry_sweep(app)
    assert result["delivered"] == 2 and result["delivery_failed"] == 0
    assert sorted(sent) == sorted(_notes(app, a))


def test_the_migration_makes_the_tables_the_models_describe(app: Any) -> None:
    with _engine(app).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    ours = [d for d in diff if "owner_" in repr(d)]
    assert ours == []
