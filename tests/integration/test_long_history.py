"""A cylinder's history read whole: its cost must not grow by a query per event.

A cylinder filled weekly for 20 years has ~4,000 events; ``GET /cylinders/{code}/events``
read each event's leaf index with a query of its own (2.3 s at 4,000 events on SQLite,
bench/long_chain.py). Now one query reads them all.
"""

from __future__ import annotations

from typing import Any

from ledger import log, service
from ledger.registry import actor_for_token
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer
from tests.sql_sent import statements_sent


def history(client: Any, demo: dict[str, Any], code: str) -> dict[str, Any]:
    resp = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    )
    assert resp.status_code == 200, resp.get_json()
    doc: dict[str, Any] = resp.get_json()
    return doc


def test_reading_a_history_takes_as_many_queries_for_twelve_events_as_for_two(app, client, demo):
    code = flows.register(client, demo)
    assert flows.fill(client, demo, code).status_code == 201
    engine = app.extensions["ledger"].engine
    with statements_sent(engine) as short:
        assert len(history(client, demo, code)["events"]) == 2
    for _ in range(5):  # a regulator's hold and release: two more events each time
        for kind, payload in (("held", {"reason": "抽查"}), ("released", {})):
            assert flows.event(client, demo, code, "regulator", kind, payload).status_code == 201
    with statements_sent(engine) as long:
        assert len(history(client, demo, code)["events"]) == 12
    assert len(long) == len(short), long


def test_each_event_shows_its_own_leaf_and_one_not_yet_in_the_log_shows_none(app, client, demo):
    code = flows.register(client, demo)
    other = flows.register(client, demo)  # its events lie between this one's in the log
    for scanned in (code, other):
        assert flows.fill(client, demo, scanned).status_code == 201
    assert (
        flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"}).status_code == 201
    )
    rt = app.extensions["ledger"]
    engine = rt.engine
    with transaction(engine) as s:  # appended, not integrated: no leaf yet
        regulator = actor_for_token(s, demo["tokens"]["regulator"])
        assert regulator is not None
        service.append_event(
            s, rt.authority, regulator, code, "released", {}, rt.now(),
        )  # fmt: skip
    events = history(client, demo, code)["events"]
    assert [e["type"] for e in events] == ["registered", "filled", "held", "released"]
    with transaction(engine, write=False) as s:
        expected = [log.leaf_index_of(s, e["id"]) for e in events]
        cylinder_id = service.find_cylinder(s, code).id
        assert log.leaf_indexes_of_cylinder(s, cylinder_id) == {
            e["id"]: i for e, i in zip(events, expected, strict=True) if i is not None
        }
    assert [e["leaf_index"] for e in events] == expected
    assert all(isinstance(i, int) for i in expected[:3]) and expected[3] is None
    assert len(set(expected[:3])) == 3
