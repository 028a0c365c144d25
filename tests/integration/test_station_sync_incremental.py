"""A station's incremental sync (``?since=`` its last snapshot's time) carries every
cylinder whose record changed since on the server, whatever time its events claim, and the
cylinders its enterprise transferred away since: the offline cache is never left allowing
what the server now refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import bearer
from tests.flows import event, register


def _sync(client: Any, demo: dict[str, Any], since: str | None = None) -> dict[str, Any]:
    resp = client.get(
        f"/api/v1/stations/{demo['stations']['a']}/sync",
        query_string={"since": since} if since else None,
        headers=bearer(demo["tokens"]["station_a"]),
    )
    assert resp.status_code == 200, resp.get_json()
    doc: dict[str, Any] = resp.get_json()
    return doc


def _by_code(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in doc["cylinders"]}


def test_a_backdated_event_reaches_the_next_incremental_sync(
    client: Any, demo: dict[str, Any]
) -> None:
    code = register(client, demo)
    full = _sync(client, demo)
    assert _by_code(full)[code]["status"] != "condemned"
    # Claimed 5 minutes ago: before the last sync, after the registration (within the clock
    # skew allowed: nothing happens to a cylinder before it is registered).
    before_the_sync = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    resp = event(
        client, demo, code, "inspector", "inspected", {"result": "fail"},
        occurred_at=before_the_sync.isoformat(),
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    changed = _by_code(_sync(client, demo, full["generated_at"]))
    assert changed[code]["status"] == "condemned"  # claimed before the last sync


def test_a_cylinder_transferred_away_comes_with_its_new_owner(
    client: Any, demo: dict[str, Any]
) -> None:
    code = register(client, demo)
    full = _sync(client, demo)
    assert _by_code(full)[code]["owner_id"] == demo["enterprises"]["a"]
    b = demo["enterprises"]["b"]
    resp = event(client, demo, code, "enterprise_a", "ownership_transferred", {"to_enterprise": b})
    assert resp.status_code == 201, resp.get_json()
    changed = _by_code(_sync(client, demo, full["generated_at"]))
    assert changed[code]["owner_id"] == b  # offline, the station now refuses it: NOT_OWNED
    assert code not in _by_code(_sync(client, demo))  # a full sync: A's cylinders only
