"""Put a cylinder at a point of its life through the API (for the lifecycle tests)."""

from __future__ import annotations

from typing import Any

from tests import flows

OK = flows.CHECKLIST_OK


def full(client: Any, demo: Any, **body: Any) -> str:
    """A cylinder checked and filled at station A."""
    code = flows.register(client, demo, **body)
    assert flows.fill(client, demo, code).status_code == 201
    return code


def dispatch(client: Any, demo: Any, code: str) -> None:
    """Load it on enterprise A's vehicle."""
    resp = flows.event(
        client, demo, code, "driver_a", "dispatched", {"vehicle": demo["vehicles"]["a"]}
    )
    assert resp.status_code == 201, resp.get_json()


def on_truck(client: Any, demo: Any, **body: Any) -> str:
    """A full cylinder dispatched on enterprise A's vehicle."""
    code = full(client, demo, **body)
    dispatch(client, demo, code)
    return code


def delivered(client: Any, demo: Any) -> str:
    """A cylinder delivered to a restaurant of enterprise A."""
    code = on_truck(client, demo)
    payload = {"customer_id": flows.customer(client, demo), "checklist": OK}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 201, resp.get_json()
    return code


def scrapped(client: Any, demo: Any) -> str:
    """A registered cylinder scrapped by the inspector."""
    code = flows.register(client, demo)
    assert flows.event(client, demo, code, "inspector", "scrapped", {}).status_code == 201
    return code


def condemned(client: Any, demo: Any) -> str:
    """A registered cylinder that failed its inspection."""
    code = flows.register(client, demo)
    resp = flows.event(client, demo, code, "inspector", "inspected", {"result": "fail"})
    assert resp.status_code == 201, resp.get_json()
    return code


def held(client: Any, demo: Any) -> str:
    """A registered cylinder held by the regulator."""
    code = flows.register(client, demo)
    assert flows.event(client, demo, code, "regulator", "held", {"reason": "x"}).status_code == 201
    return code


def types(client: Any, demo: Any, code: str) -> list[str]:
    """The types of a cylinder's events, in order."""
    return [e["type"] for e in flows.history(client, demo, code)]
