"""Test factories for a cylinder's life through the API: register, check, fill, deliver…"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.params import DEFAULT
from tests.conftest import bearer, cylinder_body

CHECKLIST_OK = {
    "valve": True, "hose": True, "regulator": True, "leak_test": True, "ventilation": True,
    "single_gas_source": True, "storage_room": True, "not_basement": True,
}  # fmt: skip


def local_today() -> dt.date:
    """Today where the demo's rules count days (Asia/Shanghai): from 16:00 UTC on, that is
    UTC's tomorrow, so a test's dates must come from here, not from UTC's date."""
    return DEFAULT.today(dt.datetime.now(dt.UTC))


def register(client: Any, demo: dict[str, Any], who: str = "enterprise_a", **body: Any) -> str:
    """Register a cylinder (legal today unless ``body`` says otherwise); its code."""
    body.setdefault("manufactured_on", "2024-03-01")
    resp = client.post(
        "/api/v1/cylinders", json=cylinder_body(**body), headers=bearer(demo["tokens"][who])
    )
    assert resp.status_code == 201, resp.get_json()
    code: str = resp.get_json()["code"]
    return code


def check(client: Any, demo: dict[str, Any], scan: str, station: str = "a", **headers: str) -> Any:
    """A fill check at a demo station; the response."""
    return client.post(
        "/api/v1/fill-checks",
        json={"station_id": demo["stations"][station], "scan": scan},
        headers={**bearer(demo["tokens"][f"station_{station}"]), **headers},
    )


def event(
    client: Any,
    demo: dict[str, Any],
    code: str,
    who: str,
    kind: str,
    payload: dict[str, Any],
    **extra: Any,
) -> Any:
    """POST an event as a demo actor; the response."""
    return client.post(
        f"/api/v1/cylinders/{code}/events",
        json={"type": kind, "payload": payload, **extra},
        headers=bearer(demo["tokens"][who]),
    )


def fill(
    client: Any, demo: dict[str, Any], code: str, net: float = 15.0, station: str = "a"
) -> Any:
    """Check, then record a fill at a demo station; the fill's response."""
    resp = check(client, demo, code, station)
    assert resp.status_code == 200 and resp.get_json()["allowed"], resp.get_json()
    payload = {
        "station_id": demo["stations"][station],
        "gross_kg": round(16.8 + net, 2),
        "tare_kg": 16.8,
        "net_kg": net,
    }
    return event(client, demo, code, f"station_{station}", "filled", payload)


def customer(
    client: Any, demo: dict[str, Any], kind: str = "restaurant", basement: bool = False
) -> int:
    """A customer file of enterprise A; its id."""
    resp = client.post(
        "/api/v1/customers",
        json={"name": "老火锅", "kind": kind, "address": "渝北区龙溪街道1号", "basement": basement},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 201, resp.get_json()
    cid: int = resp.get_json()["id"]
    return cid


def history(client: Any, demo: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """A cylinder's events, as the regulator reads them."""
    resp = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    )
    assert resp.status_code == 200, resp.get_json()
    events: list[dict[str, Any]] = resp.get_json()["events"]
    return events


def database_refusals(client: Any) -> dict[str, float]:
    """``ledger_database_refusals_total`` by cause, as ``/metrics`` says now (a counter of
    the test process: compare before and after)."""
    text = client.get("/metrics").get_data(as_text=True)
    prefix = 'ledger_database_refusals_total{cause="'
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            cause, _, value = line.removeprefix(prefix).partition('"} ')
            out[cause] = float(value)
    return out
