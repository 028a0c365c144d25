"""The regulator's charts count events per Beijing day, not per UTC day."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from sqlalchemy import insert, select

from ledger import daily
from ledger.model import Cylinder, Event
from ledger.store import transaction
from tests import flows

SHANGHAI = "Asia/Shanghai"


def _last_beijing_midnight(now: dt.datetime) -> dt.datetime:
    """The latest 16:00 UTC (00:00 in Beijing) at least an hour before ``now``."""
    midnight = now.replace(hour=16, minute=0, second=0, microsecond=0)
    return midnight if midnight <= now - dt.timedelta(hours=1) else midnight - dt.timedelta(days=1)


def _add_fills(app: Any, client: Any, demo: Any, times: list[dt.datetime]) -> None:
    """Store bare ``filled`` rows at these times (the counts read type and time alone)."""
    code = flows.register(client, demo)
    engine = app.extensions["ledger"].engine
    with transaction(engine) as s:
        cylinder = s.execute(select(Cylinder).where(Cylinder.code == code)).scalar_one()
        actor = s.execute(select(Event.actor_id).where(Event.cylinder_id == cylinder.id)).scalar()
        for i, when in enumerate(times):
            s.execute(
                insert(Event),
                {
                    "id": f"00000000-0000-4000-8000-{i:012d}", "cylinder_id": cylinder.id,
                    "seq": 100 + i, "type": "filled", "occurred_at": when, "recorded_at": when,
                    "actor_id": actor, "payload": "{}", "prev_hash": b"\0" * 32,
                    "hash": os.urandom(32), "key_id": "test", "signature": b"",
                },
            )  # fmt: skip


def test_a_morning_fill_counts_on_its_beijing_day_not_the_utc_day_before(
    app: Any, client: Any, demo: Any
) -> None:
    now = dt.datetime.now(dt.UTC)
    midnight = _last_beijing_midnight(now)
    before = midnight - dt.timedelta(minutes=30)  # 23:30 in Beijing
    after = midnight + dt.timedelta(minutes=30)  # 00:30 in Beijing, still the same UTC day
    _add_fills(app, client, demo, [before, after, after + dt.timedelta(minutes=1)])
    beijing_day = (midnight + dt.timedelta(hours=8)).date().isoformat()
    eve = (midnight + dt.timedelta(hours=8) - dt.timedelta(days=1)).date().isoformat()
    with transaction(app.extensions["ledger"].engine, write=False) as s:
        counted = daily.per_day(s, ("filled",), midnight - dt.timedelta(days=1), SHANGHAI)
        in_utc = daily.per_day(s, ("filled",), midnight - dt.timedelta(days=1), "UTC")
    assert counted["filled"] == {eve: 1, beijing_day: 2}
    # The same three fills by UTC day all fall on one day: the old chart's mistake.
    assert in_utc["filled"] == {before.date().isoformat(): 3}


def test_the_window_is_the_last_local_days_ending_today() -> None:
    now = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)  # 01:00 on Dec 4 in Beijing
    start, days = daily.window(now, 3, SHANGHAI)
    assert days == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert start == dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.UTC)  # Dec 2, 00:00 Beijing
