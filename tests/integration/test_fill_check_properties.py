"""Properties of fill checks on a real database: any scan sequence leaves exactly one
``fill_blocked`` event per blocked check of a known cylinder, and answers the same way
twice for the same state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger import checks, registry
from ledger.model import Event
from ledger.store import transaction
from tests import flows

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["check", "check", "check", "fill", "hold", "release", "return"]),
        st.integers(0, 3),  # which cylinder (3: a code nobody registered)
        st.integers(0, 90),  # minutes after the previous action
    ),
    min_size=1,
    max_size=12,
)


def count_blocked(session: Any) -> int:
    return int(session.execute(select(func.count()).where(Event.type == "fill_blocked")).scalar())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_every_blocked_check_leaves_exactly_one_fill_blocked_event(app, client, demo, actions):
    rt = app.extensions["ledger"]
    codes = [
        flows.register(client, demo),
        flows.register(client, demo, manufactured_on="2022-05-01"),  # overdue
        flows.register(client, demo, who="enterprise_b"),  # not owned by station A
        "NOBODY12345",
    ]
    now = dt.datetime.now(dt.UTC)
    blocked_known = 0
    with transaction(rt.engine) as s:
        station = registry.actor_for_token(s, demo["tokens"]["station_a"])
        before = count_blocked(s)
    for action, which, minutes in actions:
        now += dt.timedelta(minutes=minutes)
        code = codes[which]
        if action == "check" or which == 3:
            with transaction(rt.engine) as s:
                result = checks.fill_check(
                    s, rt.authority, station, demo["stations"]["a"], code, now, rt.params
                )
                again = checks.fill_check(  # the same state, a moment later: the same answer
                    s, rt.authority, station, demo["stations"]["a"], code, now, rt.params
                ) if result.decision.allowed else result  # fmt: skip
            assert again.decision == result.decision
            blocked_known += (not result.decision.allowed) and result.state is not None
        else:
            blocked_known += _act(client, demo, action, code)
    with transaction(rt.engine) as s:
        assert count_blocked(s) - before == blocked_known


def _act(client: Any, demo: Any, action: str, code: str) -> int:
    """Change a cylinder's state through the API; 1 when its fill check was blocked.

    A refused event is fine here: it changes nothing.
    """
    if action == "fill":
        doc = flows.check(client, demo, code).get_json()
        payload = {"station_id": demo["stations"]["a"], "gross_kg": 31.8, "net_kg": 15.0}
        flows.event(client, demo, code, "station_a", "filled", payload)
        return int(not doc["allowed"])
    if action == "hold":
        flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    elif action == "release":
        flows.event(client, demo, code, "regulator", "released", {})
    else:
        flows.event(client, demo, code, "station_a", "returned", {})
    return 0
