"""Refused checks of one cylinder from many threads at once: every answer is what was
recorded, and the projection stays the fold of the chain (PostgreSQL: concurrent writers
wait on the chain head's row lock; a statement that waited sees the head as it is now)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from ledger import checks, registry
from ledger.model import Event
from ledger.model_rules import FillCheck
from ledger.store import reads_beside, transaction
from tests import flows

THREADS, CHECKS = 6, 8


def test_concurrent_blocks_answer_what_they_record(
    app: Any, client: Any, demo: Any, runner: Any
) -> None:
    rt = app.extensions["ledger"]
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no check waits on a row lock")
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    results: list[checks.CheckResult] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def station() -> None:
        try:
            for _ in range(CHECKS):
                with transaction(rt.engine) as s, reads_beside(s) as reads:
                    actor = registry.actor_for_token(reads, demo["tokens"]["station_a"])
                    assert actor is not None
                    result = checks.fill_check(
                        s, rt.authority, actor, demo["stations"]["a"], code,
                        dt.datetime.now(dt.UTC), rt.params, reads=reads,
                    )  # fmt: skip
                with guard:
                    results.append(result)
        except BaseException as exc:  # reported below, with the others
            with guard:
                errors.append(exc)

    threads = [threading.Thread(target=station) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(results) == THREADS * CHECKS
    with transaction(rt.engine, write=False) as s:
        for result in results:
            assert "HELD" in result.decision.codes
            kept = s.get(FillCheck, result.check_id)
            assert kept is not None and kept.event_id is not None
            event = s.get(Event, kept.event_id)
            assert event is not None and result.state is not None
            assert (result.state.seq, result.cylinder and result.cylinder.head_hash) == (
                event.seq, event.hash,
            )  # fmt: skip
    audited = runner.invoke(args=["ledger", "audit"])  # the projection is the fold, too
    assert audited.exit_code == 0, audited.output
