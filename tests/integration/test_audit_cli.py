"""`flask ledger audit` and `flask ledger checkpoint` on the demo ledger, clean and tampered."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

import ledger.audit
from ledger import log, service
from ledger.chain import recompute_hash
from ledger.checkpoint import open_checkpoint
from ledger.model import Actor, Checkpoint, Cylinder, Event, LogLeaf, Role
from ledger.note import generate_signer_key, signer_from_key, verifier_from_key, verifier_key_for
from ledger.store import transaction
from tests.conftest import cylinder_body

ORIGIN = "ledger.test/log"  # LEDGER_ORIGIN of the app fixture
DEMO_OK = "OK 审计通过: 5 events, 5 leaves, 1 checkpoints verified\n"
DEMO_FAILED = "FAILED 审计未通过: 1 problem(s) in 5 events, 5 leaves, 1 checkpoints\n"


def engine_of(app: Any) -> Any:
    return app.extensions["ledger"].engine


def logged_events(app: Any) -> list[tuple[Event, str]]:
    """The demo's events in log order, each with its cylinder's code."""
    with Session(engine_of(app)) as s:
        query = (
            select(Event, Cylinder.code)
            .join(Cylinder, Cylinder.id == Event.cylinder_id)
            .join(LogLeaf, LogLeaf.event_id == Event.id)
            .order_by(LogLeaf.leaf_index)
        )
        return [(event, code) for event, code in s.execute(query)]


def tamper(app: Any, event_id: str, **values: Any) -> Event:
    """Edit a stored event as an insider would: switch the append-only trigger off first."""
    engine = engine_of(app)
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql("DROP TRIGGER events_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        table = Event.__table__
        conn.execute(update(table).where(table.c.id == event_id).values(**values))
        if not sqlite:
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
    with Session(engine) as s:
        edited = s.get(Event, event_id)
        assert edited is not None
        return edited


def test_the_audit_of_the_demo_ledger_passes(runner):
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 0, result.output
    assert result.output == DEMO_OK


@pytest.mark.parametrize("column", ["payload", "type", "occurred_at", "actor_id"])
def test_a_tampered_event_fails_the_audit_naming_the_event_its_cylinder_and_the_hash(
    app, runner, column
):
    event, code = logged_events(app)[2]
    before = event.hash
    if column == "payload":  # the registered serial, one digit changed
        serial = cylinder_serial(app, event.cylinder_id)
        change: Any = event.payload.replace(f'"{serial}"', f'"{serial[:-1]}9"')
        assert change != event.payload
    elif column == "type":
        change = "scrapped"
    elif column == "occurred_at":
        change = event.occurred_at + dt.timedelta(microseconds=1)
    else:
        with Session(engine_of(app)) as s:
            change = s.execute(select(Actor.id).where(Actor.role == Role.REGULATOR)).scalar_one()
    edited = tamper(app, event.id, **{column: change})
    recomputed = recompute_hash(edited)
    assert recomputed != before

    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    assert result.output == (
        DEMO_FAILED + f"first bad: event {event.id} (cylinder {code}, #1): stored hash "
        f"{before.hex()[:16]}… differs from the recomputed {recomputed.hex()[:16]}… "
        f"(a hashed field was changed)\n"
    )


def cylinder_serial(app: Any, cylinder_id: str) -> str:
    with Session(engine_of(app)) as s:
        cylinder = s.get(Cylinder, cylinder_id)
        assert cylinder is not None
        return cylinder.serial


def test_ledger_checkpoint_integrates_and_prints_a_signed_note_of_the_whole_log(app, runner):
    rt = app.extensions["ledger"]
    with transaction(rt.engine) as s:  # a sixth event, waiting to be integrated
        admin = (
            s.execute(
                select(Actor).where(
                    Actor.role == Role.ENTERPRISE_ADMIN, Actor.enterprise_id.is_not(None)
                )
            )
            .scalars()
            .first()
        )
        service.register_cylinder(s, rt.authority, admin, cylinder_body(), rt.now())

    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0, result.output
    first_line, _, note = result.output.partition("\n")
    assert first_line == "integrated 1 events; tree size 6"
    verifier = verifier_from_key(verifier_key_for(rt.authority.server))
    body = open_checkpoint(note, verifier, ORIGIN)
    assert body.size == 6
    with Session(rt.engine) as s:
        assert body.root == log.root_at(s, 6)
        newest = log.latest_checkpoint(s)
        assert newest is not None and newest.note == note and newest.size == 6
        assert len(s.execute(select(Checkpoint)).all()) == 2

    again = runner.invoke(args=["ledger", "checkpoint"])  # nothing new: the same note
    assert again.output == f"integrated 0 events; tree size 6\n{note}"
    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 0
    assert audited.output == "OK 审计通过: 6 events, 6 leaves, 2 checkpoints verified\n"


def test_the_parallel_audit_runs_in_worker_processes_and_catches_a_forged_signature(
    app, runner, monkeypatch
):
    pools: list[int | None] = []

    class CountingPool(ProcessPoolExecutor):
        def __init__(self, max_workers: int | None = None, **kwargs: Any) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(ledger.audit, "PARALLEL_THRESHOLD", 1)  # 5 events are enough
    monkeypatch.setattr(ledger.audit, "ProcessPoolExecutor", CountingPool)
    clean = runner.invoke(args=["ledger", "audit", "--workers", "2"])
    assert clean.exit_code == 0, clean.output
    assert clean.output == DEMO_OK
    assert pools == [2]

    event, code = logged_events(app)[3]
    forged = bytes([event.signature[0] ^ 0x80]) + event.signature[1:]
    tamper(app, event.id, signature=forged)
    verdict = (
        DEMO_FAILED + f"first bad: event {event.id} (cylinder {code}, #1): "
        f"signature by key {event.key_id} does not verify\n"
    )
    parallel = runner.invoke(args=["ledger", "audit", "--workers", "2"])
    assert (parallel.exit_code, parallel.output) == (1, verdict)
    assert pools == [2, 2]
    serial = runner.invoke(args=["ledger", "audit", "--workers", "1"])
    assert (serial.exit_code, serial.output) == (1, verdict)
    assert pools == [2, 2]  # one worker: checked in this process


def test_the_audit_with_another_logs_key_rejects_the_checkpoint(runner):
    stranger = verifier_key_for(signer_from_key(generate_signer_key(ORIGIN)))
    result = runner.invoke(args=["ledger", "audit", "--key", stranger])
    assert result.exit_code == 1
    assert result.output == (
        DEMO_FAILED + "first bad: checkpoint #1 (size 5) does not verify: checkpoint "
        "signature: note is not signed by any known verifier\n"
    )


def test_the_audit_refuses_a_malformed_key(runner):
    result = runner.invoke(args=["ledger", "audit", "--key", "not-a-key"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("验证公钥有误 bad --key: verifier key must look like")
