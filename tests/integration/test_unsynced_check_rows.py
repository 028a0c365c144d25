"""An allowing check's ``fill_checks`` row on PostgreSQL: written on the autocommit
connection beside the check's transaction, by one statement that does not wait for its WAL
to reach the disk, and that leaves the connection's own setting as it was (the pool hands
that connection to event appends next, which must wait)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from ledger import checks
from ledger.model import Actor
from ledger.model_rules import FillCheck
from tests.flows import check, register
from tests.sql_sent import statements_sent


def _postgresql_only(app: Any) -> Any:
    engine = app.extensions["ledger"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's synchronous_commit (SQLite's COMMIT never waits for the disk)")
    return engine


def test_the_statement_commits_unsynced_and_leaves_the_connection_as_it_was(
    app: Any, demo: dict[str, Any]
) -> None:
    engine = _postgresql_only(app)
    row = {
        "id": "unsynced-1", "cylinder_id": None, "station_id": demo["stations"]["a"],
        "actor_id": 0,
        "code": "X", "allowed": True, "decision": "{}", "event_id": None,
        "checked_at": func.now(),
    }  # fmt: skip
    statement = checks._INSERT_CHECK_UNSYNCED.returning(func.current_setting("synchronous_commit"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET synchronous_commit = on"))  # as in production (tests: off)
        row["checked_at"] = conn.execute(select(func.now())).scalar_one()
        row["actor_id"] = conn.execute(select(func.min(Actor.id))).scalar_one()
        during = conn.execute(statement, row).scalar_one()
        after = conn.execute(text("SHOW synchronous_commit")).scalar_one()
        kept = conn.execute(select(FillCheck.code).where(FillCheck.id == "unsynced-1"))
        assert kept.scalar_one() == "X"  # committed: another statement sees it
        conn.execute(text("RESET synchronous_commit"))
    assert (during, after) == ("off", "on")


def test_an_allowing_check_writes_its_row_with_that_statement(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    engine = _postgresql_only(app)
    code = register(client, demo)
    with statements_sent(engine) as every:
        resp = check(client, demo, code)
    sent = [" ".join(s.split()) for s in every if "INSERT INTO fill_checks" in s]
    assert resp.status_code == 200 and resp.get_json()["allowed"], resp.get_json()
    assert len(sent) == 1 and "set_config" in sent[0], sent
    with engine.connect() as conn:
        stored = conn.execute(select(FillCheck.allowed).where(FillCheck.code == code)).all()
    assert stored == [(True,)]
