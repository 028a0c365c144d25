"""Offline: the server stopped and restarted; nothing lost, nothing sent twice."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, make_rig, register_cylinder


def events_of(client: Any, code: str, token: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/cylinders/{code}/events", headers=bearer(token))
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.get_json()["events"]
    return events


def test_offline_fills_and_blocks_are_queued_and_sent_once_in_order_on_reconnect(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    rig.station.start()  # online: key registered, cache synced
    live.stop()

    first = rig.station.scan(cyl["qr"])
    assert first.allowed and first.offline
    assert rig.interlock.enabled
    filled = rig.station.fill(31.7)
    assert filled is not None and filled["payload"]["offline"] is True
    assert not rig.interlock.enabled
    again = rig.station.scan(cyl["qr"])  # the cache knows it was just filled, here
    assert not again.allowed and again.offline
    assert "ALREADY_FILLED" in [r["code"] for r in again.reasons]
    forged = rig.station.scan(cyl["qr"].split("?s=")[0] + "?s=" + "B" * 86)
    assert forged.reasons[0]["code"] == "FORGED_CODE"
    unknown = rig.station.scan("ZZZZZZZZZZZ0")
    assert not unknown.allowed and unknown.reasons[0]["code"] == "OFFLINE_NOT_CACHED"
    queued = rig.cache.pending()
    assert [(q.kind, q.body.get("type")) for q in queued] == [
        ("event", "filled"), ("event", "fill_blocked"), ("event", "fill_blocked"),
        ("event", "fill_blocked"),
    ]  # fmt: skip
    assert rig.station.uplink.tick() is False  # still down: nothing lost
    assert len(rig.cache.pending()) == 4

    live.start()
    assert rig.station.uplink.tick() is True
    assert rig.cache.pending() == []
    assert [o.status for o in rig.cache.all()] == ["sent"] * 3 + ["unrecordable"]
    history = events_of(client, cyl["code"], owner)
    fills = [e for e in history if e["type"] == "filled"]
    assert len(fills) == 1 and fills[0]["id"] == filled["id"]
    assert fills[0]["payload"]["offline"] is True
    assert fills[0]["key_id"] == rig.station.uplink.key.key_id
    blocked = [e for e in history if e["type"] == "fill_blocked"]
    assert [e["payload"]["reasons"][0] for e in blocked] == ["ALREADY_FILLED", "FORGED_CODE"]
    assert all(e["payload"]["offline"] is True for e in blocked)
    assert history.index(fills[0]) < history.index(blocked[0])  # sent in order

    # Answers lost in transit: every write is sent again; the server records nothing new.
    with sqlite3.connect(rig.cache.path) as db:
        db.execute("UPDATE outbox SET status = 'pending'")
    assert rig.station.uplink.tick() is True
    assert len(events_of(client, cyl["code"], owner)) == len(history)
    assert rig.station.uplink.tick() is True
    assert len(events_of(client, cyl["code"], owner)) == len(history)


def test_an_offline_fill_the_server_would_have_blocked_is_reported_as_a_conflict(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    live.stop()
    held = client.post(
        f"/api/v1/cylinders/{cyl['code']}/events",
        json={"type": "held", "payload": {"reason": "涉案查扣"}},
        headers=bearer(demo["tokens"]["regulator"]),
    )  # the regulator holds it while the station is cut off
    assert held.status_code == 201, held.get_json()
    outcome = rig.station.scan(cyl["qr"])
    assert outcome.allowed and outcome.offline  # the cache could not know
    assert rig.station.fill(32.0) is not None
    live.start()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "conflict"
    assert item.answer is not None
    assert "HELD" in [r["code"] for r in item.answer["offline_conflict"]]
    assert any("冲突" in zh and alert for zh, _, alert in rig.display.messages)
    history = events_of(client, cyl["code"], demo["tokens"]["regulator"])
    assert [e["type"] for e in history].count("filled") == 1
    reports = [e for e in history if e["type"] == "reported"]
    assert reports and reports[-1]["payload"]["kind"] == "offline_conflict"


def test_a_server_answering_5xx_or_garbage_keeps_the_scale_locked(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, text="<html>proxy</html>")] * 10)
    transport = httpx.MockTransport(lambda request: next(answers))
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path / "st", transport=transport)
    rig.station.start()  # no answer, no cache yet
    for _ in range(3):
        outcome = rig.station.scan("https://ledger.test/c/7KQ2MX9D4RTZ")
        assert not outcome.allowed and outcome.offline
        assert outcome.reasons[0]["code"] == "OFFLINE_NO_CACHE"
    assert not rig.interlock.enabled
    assert rig.interlock.calls and set(rig.interlock.calls) == {"deny"}
    assert rig.station.fill(31.0) is None


def test_an_old_cache_is_not_trusted(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    live.stop()
    rig.clock.offset = dt.timedelta(hours=25)
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed and outcome.reasons[0]["code"] == "OFFLINE_CACHE_TOO_OLD"
    assert not rig.interlock.enabled
    assert rig.cache.all() == []  # it judges the station's cache, not the cylinder: no record


def test_a_malformed_answer_is_no_answer_and_a_fault_locks_the_scale(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    from scanner.sources import Input

    held = {"code": "HELD", "message_zh": "扣", "message_en": "held"}
    answers: list[dict[str, Any]] = [
        {"foo": 1}, {"allowed": "yes", "reasons": []}, {"allowed": True, "reasons": [held]},
    ]  # fmt: skip
    for answer in answers:
        transport = httpx.MockTransport(lambda request, a=answer: httpx.Response(200, json=a))
        rig = make_rig("http://ledger.invalid", "t", 1, tmp_path / "st", transport=transport)
        rig.station.start()
        outcome = rig.station.scan("7KQ2MX9D4RTZ")
        assert not outcome.allowed and outcome.offline  # decided offline (no cache: blocked)
        assert not rig.interlock.enabled

    def broken(*args: Any) -> Any:
        raise RuntimeError("disk full")

    rig.station.decide = broken  # type: ignore[method-assign]
    faulty = rig.station.handle(Input("scan", "stdin", "7KQ2MX9D4RTZ"))
    assert faulty is not None and not faulty.allowed
    assert faulty.reasons[0]["code"] == "STATION_ERROR"
    assert rig.interlock.calls[-1] == "deny"
    assert rig.station.handle(Input("weight", "stdin", "30", kg=30.0)) is None  # still running


def test_an_online_fill_sent_after_its_check_expired_is_resent_as_offline_once(
    live: LiveServer, rig: Rig, app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    rig.station.start()
    assert rig.station.scan(cyl["qr"]).allowed  # online
    live.stop()  # the network drops while the cylinder is being filled
    body = rig.station.fill(31.4)
    assert body is not None and "offline" not in body["payload"]
    assert len(rig.cache.pending()) == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    monkeypatch.setattr(app.extensions["ledger"], "now", lambda: later)
    live.start()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "sent" and item.body["payload"]["offline"] is True
    fills = [e for e in events_of(client, cyl["code"], owner) if e["type"] == "filled"]
    assert len(fills) == 1 and fills[0]["id"] == body["id"]
    assert fills[0]["payload"]["offline"] is True
    assert fills[0]["key_id"] == rig.station.uplink.key.key_id  # re-signed by the station


def test_a_clock_set_back_after_the_sync_is_not_trusted_offline(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()  # synced with the clock right
    live.stop()
    rig.clock.offset = -dt.timedelta(days=3)  # then set back: due dates would pass as not due
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed and outcome.reasons[0]["code"] == "OFFLINE_CLOCK_WRONG"
    message = outcome.reasons[0]["message_zh"]
    assert "-3d" in message and "请校准时钟" in message
    assert not rig.interlock.enabled


def test_a_clock_wrong_at_the_sync_is_not_trusted_offline(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.clock.offset = -dt.timedelta(days=400)  # a dead RTC battery, before the sync
    rig.station.start()
    live.stop()
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed and outcome.reasons[0]["code"] == "OFFLINE_CLOCK_WRONG"
    assert "-400d" in outcome.reasons[0]["message_en"]


def test_a_clock_a_little_off_still_decides_offline(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.clock.offset = dt.timedelta(minutes=2)
    rig.station.start()
    live.stop()
    rig.clock.offset = dt.timedelta(minutes=-1)  # NTP stepped it back a little
    outcome = rig.station.scan(cyl["qr"])
    assert outcome.allowed and outcome.offline


def test_a_fault_of_the_display_itself_never_escapes_the_station(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``handle`` never raises, also when what failed is the display (the terminal gone):
    the scale is locked, the refusal returned, the operator's message on stderr."""
    from scanner.sources import Input

    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path / "st", transport=transport)
    rig.station.start()

    class GoneTerminal:
        def decision(self, outcome: Any) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def message(self, zh: str, en: str, *, alert: bool = False) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    rig.station.display = GoneTerminal()  # type: ignore[assignment]
    faulty = rig.station.handle(Input("scan", "stdin", "7KQ2MX9D4RTZ"))
    assert faulty is not None and not faulty.allowed
    assert faulty.reasons[0]["code"] == "STATION_ERROR"
    assert rig.interlock.calls[-1] == "deny" and not rig.interlock.enabled
    err = capsys.readouterr().err
    assert "本机程序错误" in err and "BrokenPipeError" in err
