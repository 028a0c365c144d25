"""``ledger audit`` checks ``event_ids`` against ``events``; ``ledger register-event-ids``
registers what a repair with the registering trigger off left out (ledger/event_ids.py).

The demo ledger of the ``app`` fixture, tampered as an insider would (PostgreSQL: SQLite
keeps no ``event_ids``, its ``events`` is keyed by id).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.audits import run_and_keep
from ledger import event_ids
from ledger.event_ids import stored_event
from tests.integration.test_audit_cli import DEMO_OK, engine_of, logged_events

SWITCH_OFF = "ALTER TABLE events DISABLE TRIGGER events_append_only"
SWITCH_ON = "ALTER TABLE events ENABLE TRIGGER events_append_only"


@pytest.fixture
def pg_app(app: Any) -> Any:
    if engine_of(app).dialect.name != "postgresql":
        pytest.skip("event_ids is PostgreSQL's (SQLite's events are keyed by id)")
    return app


def as_insider(app: Any, sql: str, *, replica: bool = False, **params: Any) -> None:
    """One statement with the append-only switch off (``replica``: no trigger fires at all,
    the registering one included, as a careless repair would run it)."""
    with engine_of(app).begin() as conn:
        conn.exec_driver_sql(SWITCH_OFF)
        if replica:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(text(sql), params)
        conn.exec_driver_sql(SWITCH_ON)


def found_by_id(app: Any, event_id: str) -> bool:
    with Session(engine_of(app)) as session:
        return stored_event(session, event_id) is not None


def test_an_unregistered_event_is_reported_registered_again_and_then_found(pg_app, runner):
    event, _code = logged_events(pg_app)[2]
    as_insider(pg_app, "DELETE FROM event_ids WHERE id = :id", id=event.id)
    assert not found_by_id(pg_app, event.id)  # a retry of its id would record it again

    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 1, audited.output
    lines = audited.output.splitlines()
    assert lines[0].startswith("OK 账本完整: 5 events")  # the evidence itself verifies
    assert lines[1].startswith("EVENT_IDS 事件编号登记不一致: 1 finding(s)")
    assert "ledger register-event-ids" in lines[1]
    assert lines[2] == (
        f"  event_ids: event {event.id}: 未登记 not in event_ids (stored while its registering "
        "trigger was off): flask --app wsgi ledger register-event-ids"
    )

    mended = runner.invoke(args=["ledger", "register-event-ids"])
    assert mended.exit_code == 0, mended.output
    assert mended.output == "登记 / registered: 1 event id(s)\n"
    assert found_by_id(pg_app, event.id)
    assert runner.invoke(args=["ledger", "audit"]).output == DEMO_OK
    again = runner.invoke(args=["ledger", "register-event-ids"])
    assert again.output == "登记 / registered: 0 event id(s)\n"


def test_a_registration_at_another_time_is_reported_and_left_for_a_hand_repair(pg_app, runner):
    event, _code = logged_events(pg_app)[1]
    moved = event.recorded_at - dt.timedelta(days=40)
    as_insider(
        pg_app, "UPDATE event_ids SET recorded_at = :at WHERE id = :id", at=moved, id=event.id
    )

    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 1
    assert "EVENT_IDS 事件编号登记不一致: 1 finding(s)" in audited.output  # one, not two
    assert (
        f"  event_ids: event {event.id}: 登记时间不符 registered in event_ids at "
        f"{moved.isoformat()} but stored at {event.recorded_at.isoformat()} (a recorded_at was "
        "changed by hand)\n"
    ) in audited.output

    mended = runner.invoke(args=["ledger", "register-event-ids"])
    assert mended.exit_code == 1
    assert mended.output.startswith("登记 / registered: 0 event id(s)\n")
    assert (
        "0 id(s) stored by two events or more, 1 registered at another recorded_at, 0 "
        "registration(s) naming no event"
    ) in mended.output
    assert found_by_id(pg_app, event.id)  # ledger.event_ids falls back to every month


def test_a_registration_naming_no_event_is_in_the_nightly_verdict(pg_app):
    with engine_of(pg_app).begin() as conn:  # an INSERT needs no switch: the table only grows
        conn.execute(
            text("INSERT INTO event_ids VALUES ('00000000-0000-7000-8000-00000000dead', now())")
        )
    with pg_app.app_context():
        verdict = run_and_keep(pg_app.extensions["ledger"], pg_app.instance_path)
    assert verdict["ok"] is False and verdict["ledger_ok"] is True
    assert verdict["event_id_findings"] == 1
    assert verdict["first_bad"].startswith("event_ids 00000000-0000-7000-8000-00000000dead (")
    assert verdict["first_bad"].endswith("无此事件 names no stored event (an event was deleted, "
                                         "or the row was added by hand)")  # fmt: skip


def test_an_id_stored_by_two_events_fails_the_audit_and_is_not_guessed_at(pg_app, runner):
    event, _code = logged_events(pg_app)[3]
    copy = (
        "INSERT INTO events SELECT id, cylinder_id, seq, type, occurred_at, :at, actor_id, "
        "station_id, site_id, payload, prev_hash, hash, key_id, signature FROM events "
        "WHERE id = :id"
    )  # the same event again a month earlier, its registration refused only by the trigger
    as_insider(
        pg_app, copy, replica=True, at=event.recorded_at - dt.timedelta(days=31), id=event.id
    )

    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 1
    assert audited.output.startswith("FAILED 审计未通过")
    assert f"event {event.id}: 事件编号重复 its id is stored by 2 events" in audited.output

    mended = runner.invoke(args=["ledger", "register-event-ids"])
    assert mended.exit_code == 1
    assert "1 id(s) stored by two events or more, 0 registered at another" in mended.output


def test_on_sqlite_there_is_nothing_to_register(app, runner):
    if engine_of(app).dialect.name != "sqlite":
        pytest.skip("SQLite's answer")
    out = runner.invoke(args=["ledger", "register-event-ids"])
    assert out.exit_code == 0
    assert out.output.startswith("SQLite：事件编号即 events 的主键，无需登记")
    assert runner.invoke(args=["ledger", "audit"]).output == DEMO_OK


def test_a_long_drift_is_listed_up_to_a_limit_counted_in_full_and_never_misnamed(
    pg_app, runner, monkeypatch
):
    monkeypatch.setattr("ledger.audit_event_ids.LISTED", 1)
    events = [event for event, _code in logged_events(pg_app)]
    missing = [events[0].id, events[1].id, events[2].id]
    as_insider(pg_app, "DELETE FROM event_ids WHERE id = ANY(:ids)", ids=missing)
    for event, days in ((events[3], 400), (events[4], -400)):  # beyond the list, both ways
        shift = "UPDATE event_ids SET recorded_at = recorded_at + make_interval(days => :d) "
        as_insider(pg_app, shift + "WHERE id = :id", d=days, id=event.id)

    audited = runner.invoke(args=["ledger", "audit"])
    assert "EVENT_IDS 事件编号登记不一致: 5 finding(s)" in audited.output  # 3 + 2, in full
    listed = [line for line in audited.output.splitlines() if line.startswith("  event_ids:")]
    assert len(listed) == 2  # one of each kind found: the earliest missing, the earliest moved
    assert listed[0].startswith(f"  event_ids: event {missing[0]}: 未登记")
    assert "登记时间不符" in listed[1] and "无此事件" not in audited.output
    with pg_app.app_context():
        verdict = run_and_keep(pg_app.extensions["ledger"], pg_app.instance_path)
    assert verdict["event_id_findings"] == 5 and verdict["ok"] is False

    mended = runner.invoke(args=["ledger", "register-event-ids"])
    assert mended.output.startswith("登记 / registered: 3 event id(s)\n")
    assert "2 registered at another recorded_at, 0 registration(s) naming no event" in (
        mended.output
    )


def test_times_are_given_in_utc_whatever_the_sessions_time_zone(pg_app):
    event, _code = logged_events(pg_app)[0]
    as_insider(pg_app, "DELETE FROM event_ids WHERE id = :id", id=event.id)
    with Session(engine_of(pg_app)) as session:
        session.execute(text("SET TIME ZONE 'Asia/Shanghai'"))
        found = event_ids.drift(session)
    assert found.unregistered == {event.id: event.recorded_at}
    assert found.unregistered[event.id].utcoffset() == dt.timedelta(0)
    assert found.counts == {"twice": 0, "unregistered": 1, "moved": 0, "unmatched": 0}


def test_a_postgresql_database_before_0012_is_told_to_upgrade(pg_app, runner):
    with engine_of(pg_app).begin() as conn:
        conn.exec_driver_sql("DROP TABLE event_ids CASCADE")
    out = runner.invoke(args=["ledger", "register-event-ids"])
    assert out.exit_code == 1
    assert "没有 event_ids 表，请先运行 flask --app wsgi db upgrade" in out.output


def test_two_repairs_at_once_register_each_event_once(pg_app):
    ids = [event.id for event, _code in logged_events(pg_app)[:2]]
    as_insider(pg_app, "DELETE FROM event_ids WHERE id = ANY(:ids)", ids=ids)
    engine = engine_of(pg_app)
    second: list[int] = []
    with Session(engine) as first:
        with first.begin():
            assert event_ids.register_missing(first) == 2  # holds its lock until it commits

            def other() -> None:
                with Session(engine) as session, session.begin():
                    second.append(event_ids.register_missing(session))

            waiting = threading.Thread(target=other)
            waiting.start()
            waiting.join(timeout=1)
            assert waiting.is_alive()  # it waits for the first's lock, it does not fail
        waiting.join(timeout=10)
    assert second == [0]
    assert all(found_by_id(pg_app, event_id) for event_id in ids)
