"""Retention of owners' webhook delivery records: the nightly ``purge_deliveries`` job deletes
those delivered or given up more than OWNER_DELIVERY_KEEP_DAYS ago, keeps every row still
being retried and every notification, and never makes a notification be sent again."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, update
from sqlmodel import Session, col

from app import jobs
from ledger import job_status, notifications, owner_delivery
from ledger.errors import Invalid
from ledger.model import UTCDateTime
from ledger.model_ops import JobRun, Notification
from ledger.model_webhooks import OwnerDelivery
from ledger.store import alembic_config, make_engine, transaction, upgrade
from tests.conftest import bearer
from tests.production.test_owner_webhooks import (
    HOOK_A,
    Receiver,
    _deliveries,
    _engine,
    _expire,
    _notes,
    _set_hook,
)


def _age(app: Any, nid: int, days: int) -> None:
    """Move a delivery record's times (queued, last tried, delivered) ``days`` back."""
    back = dt.timedelta(days=days)
    d = OwnerDelivery
    with transaction(_engine(app)) as s:
        row = s.get(d, nid)
        assert row is not None
        row.created_at -= back
        for name in ("delivered_at", "last_attempt_at"):
            if getattr(row, name) is not None:
                setattr(row, name, getattr(row, name) - back)


def _backlog(client: Any, demo: dict[str, Any], owner: int) -> dict[str, int]:
    doc = client.get(
        f"/api/v1/enterprises/{owner}/webhook", headers=bearer(demo["tokens"]["admin"])
    ).get_json()
    return {k: doc[k] for k in ("pending", "failed", "given_up")}


def test_the_job_deletes_finished_records_past_retention_and_sends_nothing_again(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    a = demo["enterprises"]["a"]
    secret = _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 4)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)
    jobs.expiry_sweep(app)  # four notifications queued, each refused once
    old_sent, recent_sent, given_up, retrying = nids = sorted(_deliveries(app))
    receiver = Receiver(app, {HOOK_A: secret}, {given_up: [503], retrying: [503]})
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    jobs.expiry_sweep(app)  # two delivered, two refused again
    d = OwnerDelivery
    with transaction(_engine(app)) as s:  # one refused until the sweep gave it up
        s.execute(
            update(d)
            .where(col(d.notification_id) == given_up)
            .values(attempts=notifications.MAX_ATTEMPTS)
        )
    rows = _deliveries(app)
    assert set(rows) == set(nids)
    assert rows[old_sent].delivered_at and rows[recent_sent].delivered_at
    assert rows[retrying].attempts == 2 and rows[retrying].delivered_at is None
    for nid, days in ((old_sent, 91), (recent_sent, 89), (given_up, 91), (retrying, 400)):
        _age(app, nid, days)
    assert _backlog(client, demo, a) == {"pending": 0, "failed": 1, "given_up": 1}
    notes_before = set(_notes(app, a))

    first = jobs.purge_deliveries(app)
    assert first["status"] == "done" and first["already"] is False and first["ok"] is True
    assert set(_deliveries(app)) == {recent_sent, retrying}
    assert set(_notes(app, a)) == notes_before  # the owner's notifications all stay
    assert _backlog(client, demo, a) == {"pending": 0, "failed": 1, "given_up": 0}
    with Session(_engine(app)) as s:
        run = s.execute(select(JobRun).where(col(JobRun.job) == "purge_deliveries")).scalar_one()
    assert json.loads(run.detail) == {"deleted": 2, "keep_days": 90}
    assert job_status.facts_of("purge_deliveries", run.detail) == {"deleted": 2, "keep_days": 90}
    assert jobs.purge_deliveries(app)["already"] is True  # once a day

    sent = len(receiver.sent)
    again = jobs.expiry_sweep(app)  # only the row still being retried is tried
    assert again["owner_queued"] == 0 and again["overdue"] == 0
    assert receiver.sent[sent:] == [(HOOK_A, retrying)]


def test_the_retention_comes_from_the_config(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    a = demo["enterprises"]["a"]
    _set_hook(client, demo, "a", HOOK_A)
    _expire(app, a, 1)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)  # no network in tests
    jobs.expiry_sweep(app)
    (nid,) = _deliveries(app)
    with transaction(_engine(app)) as s:
        s.execute(
            update(OwnerDelivery)
            .where(col(OwnerDelivery.notification_id) == nid)
            .values(delivered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
        )
    app.config["OWNER_DELIVERY_KEEP_DAYS"] = 30
    assert jobs.purge_deliveries(app)["status"] == "done"
    assert set(_deliveries(app)) == {nid}
    with transaction(_engine(app)) as s:
        assert owner_delivery.purge_finished(s, dt.datetime.now(dt.UTC), keep_days=7) == 1
    assert _deliveries(app) == {}


@pytest.mark.parametrize("keep_days", [-1, True, "90", 1.5, None])
def test_a_retention_that_is_not_a_whole_number_of_days_deletes_nothing(
    app: Any, keep_days: Any
) -> None:
    with transaction(_engine(app)) as s:
        note = Notification(
            enterprise_id=1, cylinder_id="c", code="GZ0000000001", kind="overdue",
            due_on=dt.date(2020, 1, 1), message="m",
        )  # fmt: skip
        s.add(note)
        s.flush()
        assert note.id is not None
        nid = note.id
        s.add(OwnerDelivery(
            notification_id=nid, enterprise_id=1, generation="g",
            created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            delivered_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
        ))  # fmt: skip
    with pytest.raises(Invalid), transaction(_engine(app)) as s:
        owner_delivery.purge_finished(s, dt.datetime.now(dt.UTC), keep_days)
    assert set(_deliveries(app)) == {nid}


def _row(app: Any, queued_days_ago: int, tried_days_ago: int | None) -> int:
    """A notification given up, queued and last tried so many days ago; its id."""
    now = dt.datetime.now(dt.UTC)
    with transaction(_engine(app)) as s:
        note = Notification(
            enterprise_id=1, cylinder_id=f"c{queued_days_ago}-{tried_days_ago}",
            code="GZ0000000001", kind="overdue", due_on=dt.date(2020, 1, 1), message="m",
        )  # fmt: skip
        s.add(note)
        s.flush()
        assert note.id is not None
        s.add(OwnerDelivery(
            notification_id=note.id, enterprise_id=1, generation="g",
            attempts=notifications.MAX_ATTEMPTS,
            created_at=now - dt.timedelta(days=queued_days_ago),
            last_attempt_at=(
                None if tried_days_ago is None else now - dt.timedelta(days=tried_days_ago)
            ),
        ))  # fmt: skip
        return note.id


def test_a_delivery_given_up_is_kept_from_its_last_attempt_not_from_its_queueing(
    app: Any,
) -> None:
    late = _row(app, queued_days_ago=400, tried_days_ago=10)  # a dead receiver's backlog
    done = _row(app, queued_days_ago=400, tried_days_ago=91)
    unknown = _row(app, queued_days_ago=91, tried_days_ago=None)  # never stamped: queued
    kept = _row(app, queued_days_ago=89, tried_days_ago=None)
    with transaction(_engine(app)) as s:
        assert owner_delivery.purge_finished(s, dt.datetime.now(dt.UTC), keep_days=90) == 2
    rows = _deliveries(app)
    assert late in rows and kept in rows and done not in rows and unknown not in rows


def test_the_migration_stamps_the_rows_already_tried_with_its_own_time(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0010")
    engine = make_engine(db_url)
    old = sa.table(
        "owner_deliveries", *(sa.column(c) for c in ("notification_id", "enterprise_id",
        "generation", "attempts")), sa.column("created_at", UTCDateTime()),
    )  # fmt: skip
    queued = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(old.insert(), [
            {"notification_id": 1, "enterprise_id": 1, "generation": "g", "attempts": 0,
             "created_at": queued},
            {"notification_id": 2, "enterprise_id": 1, "generation": "g", "attempts": 72,
             "created_at": queued},
        ])  # fmt: skip
    before = dt.datetime.now(dt.UTC)
    upgrade(db_url)
    with Session(engine) as s:
        rows = {r.notification_id: r for r in s.execute(select(OwnerDelivery)).scalars()}
    assert rows[1].last_attempt_at is None  # never tried
    stamped = rows[2].last_attempt_at
    assert stamped is not None and before <= stamped <= dt.datetime.now(dt.UTC)
    command.downgrade(alembic_config(db_url), "0010")
    assert "last_attempt_at" not in {c["name"] for c in sa.inspect(engine).get_columns(
        "owner_deliveries")}  # fmt: skip
    upgrade(db_url)
    engine.dispose()
