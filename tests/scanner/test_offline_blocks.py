"""An offline BLOCK is sent on reconnect as what it was: a signed `fill_blocked` at the
time of the scan, never as a live fill check (which could allow, and open a fill)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from sqlalchemy import func, select

from ledger.events import parse_rfc3339
from ledger.model_rules import FillCheck
from ledger.store import transaction
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, register_cylinder


def _events(client: Any, code: str, token: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/cylinders/{code}/events", headers=bearer(token))
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.get_json()["events"]
    return events


def _checks_of(app: Any, code: str) -> int:
    with transaction(app.extensions["ledger"].engine, write=False) as session:
        query = select(func.count()).select_from(FillCheck).where(FillCheck.code == code)
        return int(session.execute(query).scalar_one())


def test_an_offline_block_of_an_uncached_cylinder_is_sent_as_fill_blocked_at_its_time(
    live: LiveServer, rig: Rig, app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    rig.station.start()  # synced before the cylinder exists: the cache does not hold it
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    live.stop()
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed and outcome.offline
    assert [r["code"] for r in outcome.reasons] == ["OFFLINE_NOT_CACHED"]
    (queued,) = rig.cache.pending()
    assert queued.kind == "event" and queued.body["type"] == "fill_blocked"
    scanned_at = parse_rfc3339(queued.body["occurred_at"])

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    monkeypatch.setattr(app.extensions["ledger"], "now", lambda: later)
    live.start()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "sent", item.answer
    assert item.answer is not None and "check_id" not in item.answer
    assert "allowed" not in item.answer

    history = _events(client, cyl["code"], demo["tokens"]["enterprise_a"])
    (blocked,) = [e for e in history if e["type"] == "fill_blocked"]
    assert blocked["payload"] == {
        "station_id": demo["stations"]["a"], "reasons": ["OFFLINE_NOT_CACHED"],
        "scan": cyl["code"], "offline": True,
        "check_key": queued.body["payload"]["check_key"],  # the check that failed first
    }  # fmt: skip
    assert parse_rfc3339(blocked["occurred_at"]) == scanned_at  # the scan's time, not now
    assert blocked["key_id"] == rig.station.uplink.key.key_id  # signed by the station
    assert _checks_of(app, cyl["code"]) == 0  # no fill check, allowing or not, was made

    tare = float(cyl["tare_kg"])
    fill = client.post(
        f"/api/v1/cylinders/{cyl['code']}/events",
        headers=bearer(demo["tokens"]["station_a"]),
        json={"type": "filled", "payload": {"station_id": demo["stations"]["a"],
                                           "gross_kg": round(tare + 14.0, 2), "tare_kg": tare,
                                           "net_kg": 14.0}},
    )  # fmt: skip
    assert fill.status_code == 409, fill.get_json()
    assert "NO_ALLOWING_CHECK" in [r["code"] for r in fill.get_json()["reasons"]]

    with sqlite3.connect(rig.cache.path) as db:  # its answer lost: sent again, recorded once
        db.execute("UPDATE outbox SET status = 'pending'")
    assert rig.station.uplink.tick() is True
    assert len(_events(client, cyl["code"], demo["tokens"]["enterprise_a"])) == len(history)


def test_an_offline_block_of_a_code_the_server_does_not_know_is_kept_as_unrecordable(
    live: LiveServer, rig: Rig, app: Any, demo: dict[str, Any]
) -> None:
    rig.station.start()
    live.stop()
    outcome = rig.station.scan("ZZZZZZZZZZZ0")
    assert not outcome.allowed and outcome.reasons[0]["code"] == "OFFLINE_NOT_CACHED"
    live.start()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "unrecordable" and item.kind == "event"
    assert _checks_of(app, "ZZZZZZZZZZZ0") == 0
    assert any("无法记入台账" in zh and alert for zh, _, alert in rig.display.messages)
    rig.station.start()  # the station's status says so at every start
    assert any("scanner queue" in zh and alert for zh, _, alert in rig.display.messages[-1:])


def test_a_check_queued_by_an_older_version_is_never_replayed_as_a_live_check(
    live: LiveServer, rig: Rig, app: Any, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    rig.cache.enqueue("check", cyl["code"], {"scan": cyl["qr"]}, "legacy-1", rig.clock())
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "unrecordable"
    assert _checks_of(app, cyl["code"]) == 0


def test_an_offline_block_of_a_retired_label_is_recorded_on_its_cylinder(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    new = "RELABEL" + cyl["code"][:6]
    relabel = client.post(
        f"/api/v1/cylinders/{cyl['code']}/events", headers=bearer(demo["tokens"]["enterprise_a"]),
        json={"type": "relabelled", "payload": {"new_code": new}},
    )  # fmt: skip
    assert relabel.status_code == 201, relabel.get_json()
    rig.station.start()  # the cache learns the retired code and its cylinder
    live.stop()
    outcome = rig.station.scan(cyl["qr"])  # the old label, still on the cylinder
    assert not outcome.allowed and [r["code"] for r in outcome.reasons] == ["CODE_RETIRED"]
    live.start()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "sent", item.answer
    history = _events(client, new, demo["tokens"]["enterprise_a"])
    (blocked,) = [e for e in history if e["type"] == "fill_blocked"]
    assert blocked["payload"]["scan"] == cyl["code"]
    assert blocked["payload"]["reasons"] == ["CODE_RETIRED"]
    assert blocked["key_id"] == rig.station.uplink.key.key_id  # signed by the station
