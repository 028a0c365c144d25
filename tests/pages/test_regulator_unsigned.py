"""The overview warns the regulator when events have waited minutes for a signed checkpoint
(the scheduler down, or refusing to sign a log that does not extend its last checkpoint);
ledger.unsigned finds the oldest such event, integrated or still pending."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlmodel import select

from ledger import service, unsigned
from ledger.model import Actor, Event, Role
from ledger.store import transaction
from tests.conftest import cylinder_body
from tests.flows import register

LATER = dt.timedelta(minutes=5)


def _engine(app: Any) -> Any:
    return app.extensions["ledger"].engine


def test_the_overview_warns_when_events_wait_minutes_for_a_checkpoint(
    app: Any, client: Any, demo: Any, runner: Any, as_person: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    register(client, demo)  # integrated at once, signed by no checkpoint yet
    regulator = as_person("regulator")
    assert 'id="unsigned"' not in regulator.get("/regulator/").get_data(as_text=True)  # fresh
    rt = app.extensions["ledger"]
    real_now = type(rt).now
    monkeypatch.setattr(type(rt), "now", lambda self: real_now(self) + LATER)
    html = regulator.get("/regulator/").get_data(as_text=True)
    assert 'id="unsigned"' in html and "尚未被任何检查点签名" in html
    monkeypatch.undo()
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0  # the scheduler is back
    monkeypatch.setattr(type(rt), "now", lambda self: real_now(self) + LATER)
    assert 'id="unsigned"' not in regulator.get("/regulator/").get_data(as_text=True)


def test_an_event_not_yet_integrated_counts_as_unsigned(app: Any, runner: Any) -> None:
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    with transaction(_engine(app), write=False) as s:
        assert unsigned.oldest_unsigned(s) is None
    rt = app.extensions["ledger"]
    with transaction(_engine(app)) as s:  # appended, not integrated (no scheduler ran)
        admin = s.execute(
            select(Actor).where(Actor.role == Role.ENTERPRISE_ADMIN).limit(1)
        ).scalar_one()
        cylinder, _ = service.register_cylinder(s, rt.authority, admin, cylinder_body(), rt.now())
        cylinder_id = cylinder.id
    with transaction(_engine(app), write=False) as s:
        at = unsigned.oldest_unsigned(s)
        event_at = s.execute(
            select(Event.recorded_at).where(Event.cylinder_id == cylinder_id)
        ).scalar_one()
        assert at == event_at
        assert unsigned.overdue(s, event_at + dt.timedelta(minutes=1)) is None
        assert unsigned.overdue(s, event_at + LATER) == event_at
