"""A refused fill check signs and hashes its ``fill_blocked`` event on the chain head it
read, before it locks that head (``ledger.blocks.sealed``): on SQLite the one write lock is
then held for the writes alone. The event stored is the one sealed, and the chain, the log
and the audit agree; a chain that moved between the read and the lock is covered by
tests/integration/test_fill_check_race.py (the sealed event is dropped, made again)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import writer
from tests import flows
from tests.conftest import bearer
from tests.sqlite_lock import write_lock_is_free


def test_a_block_is_signed_while_sqliteswrite_lock_is_free(
    app: Any, client: Any, demo: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = app.extensions["ledger"].engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's one write lock (PostgreSQL blocks in one statement)")
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    real, sealed = writer.seal_event, []

    def watched(*args: Any, **kwargs: Any) -> Any:
        event = real(*args, **kwargs)
        sealed.append((event, write_lock_is_free(engine.url.database)))
        return event

    monkeypatch.setattr(writer, "seal_event", watched)
    answer = flows.check(client, demo, code)
    assert answer.status_code == 200 and not answer.get_json()["allowed"]
    assert [free for _, free in sealed] == [True]  # sealed once, nobody's lock held
    event = sealed[0][0]
    regulator = bearer(demo["tokens"]["regulator"])
    stored = client.get(f"/api/v1/cylinders/{code}/events", headers=regulator).get_json()
    assert stored["chain_valid"] is True
    assert [(e["id"], e["hash"]) for e in stored["events"][-1:]] == [(event.id, event.hash.hex())]
    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 0, audited.output
