"""A relabelled cylinder's old code is dead: nothing is recorded on it, except a station's
record of a fill it blocked on that old label, which goes on the cylinder's chain (the
regulator sees the old label turn up at a nozzle)."""

from __future__ import annotations

from typing import Any

from tests import flows


def _relabelled(client: Any, demo: Any) -> tuple[str, str]:
    old = flows.register(client, demo)
    new = "RELABEL" + old[:6]
    resp = flows.event(client, demo, old, "enterprise_a", "relabelled", {"new_code": new})
    assert resp.status_code == 201, resp.get_json()
    return old, new


def test_a_block_on_a_retired_code_goes_on_its_cylinders_chain(client: Any, demo: Any) -> None:
    old, new = _relabelled(client, demo)
    payload = {"station_id": demo["stations"]["a"], "reasons": ["CODE_RETIRED"], "scan": old}
    resp = flows.event(client, demo, old, "station_a", "fill_blocked", payload)
    assert resp.status_code == 201, resp.get_json()
    history = flows.history(client, demo, new)
    assert [e["type"] for e in history] == ["registered", "relabelled", "fill_blocked"]
    assert history[-1]["payload"]["scan"] == old


def test_nothing_else_is_recorded_on_a_retired_code(client: Any, demo: Any) -> None:
    old, new = _relabelled(client, demo)
    resp = flows.event(client, demo, old, "regulator", "held", {"reason": "抽查"})
    assert resp.status_code == 404, resp.get_json()
    assert [e["type"] for e in flows.history(client, demo, new)] == ["registered", "relabelled"]
