"""``flask db upgrade`` on a database in use rebuilds the state projection after a
migration (the new code may fold the events differently), and only then."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import select, update

from ledger.model_rules import CylinderStateRow
from ledger.store import alembic_config, current_revision, transaction
from tests.integration.cycle import full


def _projected_status(app: Any, cylinder_id: str, *, set_to: str | None = None) -> str:
    """The status column of the cylinder's projection row (edited first when ``set_to``)."""
    row = CylinderStateRow.cylinder_id == cylinder_id  # type: ignore[arg-type]
    with transaction(app.extensions["ledger"].engine) as s:
        if set_to is not None:
            s.execute(update(CylinderStateRow).where(row).values(status=set_to))
        return str(s.execute(select(CylinderStateRow.status).where(row)).scalar_one())


def test_an_upgrade_that_migrates_rebuilds_the_projection_and_one_that_does_not_leaves_it(
    app, client, demo, runner, db_url
):
    cylinder_id = client.get(f"/api/v1/cylinders/{full(client, demo)}").get_json()["id"]
    assert _projected_status(app, cylinder_id, set_to="scrapped") == "scrapped"  # gone stale
    nothing_to_do = runner.invoke(args=["db", "upgrade"])  # already at the newest schema
    assert nothing_to_do.exit_code == 0 and "rebuilt" not in nothing_to_do.output
    assert _projected_status(app, cylinder_id) == "scrapped"

    head = current_revision(db_url)
    command.downgrade(alembic_config(db_url), "-1")  # as if this release's code were new
    assert current_revision(db_url) != head
    migrated = runner.invoke(args=["db", "upgrade"])
    assert migrated.exit_code == 0, migrated.output
    assert "rebuilt the state of" in migrated.output and current_revision(db_url) == head
    assert _projected_status(app, cylinder_id) == "full"
