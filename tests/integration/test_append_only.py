"""The database itself refuses to change or delete the immutable tables."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import bearer, cylinder_body


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'scrapped'",
        "DELETE FROM events",
        "UPDATE log_leaves SET leaf_index = leaf_index + 1000",
        "DELETE FROM log_leaves",
        "UPDATE checkpoints SET note = 'forged'",
        "DELETE FROM checkpoints",
    ],
)
def test_the_immutable_tables_refuse_update_and_delete(app, client, demo, runner, statement):
    client.post(
        "/api/v1/cylinders", json=cylinder_body(), headers=bearer(demo["tokens"]["enterprise_a"])
    )
    runner.invoke(args=["ledger", "checkpoint"])
    engine = app.extensions["ledger"].engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 0, result.output
