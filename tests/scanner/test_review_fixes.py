"""Defects found in review: a retired label allowed offline, queued fills dropped on a
"try again" answer (401/408/429), typing slips recorded as overfills, server warnings
never shown, and an offline panel claiming a record was queued when none was."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from scanner.client import LedgerClient, Refused, Unavailable
from scanner.display import RichDisplay
from scanner.outcome import Outcome
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, make_rig, register_cylinder


def _relabel(client: Any, token: str, code: str) -> str:
    new = "RELABEL" + code[:6]
    done = client.post(
        f"/api/v1/cylinders/{code}/events", headers=bearer(token),
        json={"type": "relabelled", "payload": {"new_code": new}},
    )  # fmt: skip
    assert done.status_code == 201, done.get_json()
    return new


def test_an_old_label_is_refused_offline_after_an_incremental_sync(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    rig.station.start()  # full sync: the cache holds the cylinder under its code
    assert rig.cache.cylinder(cyl["code"]) is not None
    full_at = rig.cache.meta("full_synced_at")
    new = _relabel(client, owner, cyl["code"])
    assert rig.station.uplink.tick() is True  # an incremental sync (within the hour)
    assert rig.cache.meta("full_synced_at") == full_at  # it was not a full one
    assert rig.cache.retired(cyl["code"]) and rig.cache.cylinder(new) is not None
    assert rig.cache.cylinder(cyl["code"]) is None  # the old label's row is gone
    online = rig.station.scan(cyl["qr"])
    assert [r["code"] for r in online.reasons] == ["CODE_RETIRED"] and not online.offline
    live.stop()
    offline = rig.station.scan(cyl["qr"])
    assert offline.offline and not offline.allowed
    assert [r["code"] for r in offline.reasons] == ["CODE_RETIRED"]
    assert not rig.interlock.enabled


def test_offline_a_retired_code_is_refused_even_when_a_row_for_it_is_cached(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    live.stop()
    assert rig.station.scan(cyl["qr"]).allowed  # legal in the cache …
    with sqlite3.connect(rig.cache.path) as db:  # … until the retired list names it
        db.execute("INSERT INTO retired VALUES (?)", (cyl["code"],))
    assert rig.cache.cylinder(cyl["code"]) is not None
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed and [r["code"] for r in outcome.reasons] == ["CODE_RETIRED"]
    assert not rig.interlock.enabled


class Flaky(httpx.BaseTransport):
    """The real server behind a switch: down, or answering event posts with ``answers``."""

    def __init__(self) -> None:
        self.real = httpx.HTTPTransport()
        self.down = False
        self.answers: list[httpx.Response] = []
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if request.method == "POST" and request.url.path.endswith("/events"):
            self.keys.append(request.headers.get("Idempotency-Key"))
            if self.answers:
                return self.answers.pop(0)
        return self.real.handle_request(request)


def _problem(status: int, **headers: str) -> httpx.Response:
    body = {"title": "try again", "detail": "not now", "status": status}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    "answer",
    [_problem(401), _problem(408), _problem(429), _problem(403, **{"Retry-After": "5"})],
    ids=["401", "408", "429", "403-retry-after"],
)
def test_a_try_again_answer_keeps_the_offline_fill_queued_until_it_is_recorded(
    live: LiveServer, client: Any, demo: dict[str, Any], tmp_path: Path, answer: httpx.Response
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    flaky = Flaky()
    token, station_id = demo["tokens"]["station_a"], demo["stations"]["a"]
    rig = make_rig(live.url, token, station_id, tmp_path / "st", transport=flaky)
    rig.station.start()
    flaky.down = True
    assert rig.station.scan(cyl["qr"]).offline
    filled = rig.station.fill(31.7)
    assert filled is not None
    flaky.down = False
    flaky.answers = [answer, answer]
    for _ in range(2):
        assert rig.station.uplink.tick() is False
        (item,) = rig.cache.pending()  # kept, not rejected
        assert rig.cache.cylinder(cyl["code"])["status"] == "full"  # no sync over it
    assert item.attempts == 2
    token_alerts = [m for m in rig.display.messages if "401" in m[0]]
    assert len(token_alerts) == (1 if answer.status_code == 401 else 0)  # shown once
    assert rig.station.uplink.tick() is True
    assert [o.status for o in rig.cache.all()] == ["sent"]
    assert flaky.keys == [filled["id"]] * 3  # the same Idempotency-Key every time
    events = client.get(f"/api/v1/cylinders/{cyl['code']}/events", headers=bearer(owner))
    fills = [e for e in events.get_json()["events"] if e["type"] == "filled"]
    assert [e["id"] for e in fills] == [filled["id"]]
    rig.station.client.close()


def test_the_client_tells_try_again_from_no() -> None:
    answers = {
        "/api/v1/a": _problem(429),
        "/api/v1/b": _problem(401),
        "/api/v1/c": _problem(408),
        "/api/v1/d": _problem(403),
        "/api/v1/e": _problem(404),
    }
    transport = httpx.MockTransport(lambda request: answers[request.url.path])
    http = LedgerClient("http://ledger.invalid", "t", transport=transport)
    for path, status in (("/a", 429), ("/b", 401), ("/c", 408)):
        with pytest.raises(Unavailable) as unavailable:
            http._json("GET", path)
        assert unavailable.value.status == status
    for path, status in (("/d", 403), ("/e", 404)):
        with pytest.raises(Refused) as refused:
            http._json("GET", path)
        assert refused.value.status == status


def test_a_typing_slip_is_refused_and_asked_again_and_a_warning_is_shown(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])  # 15 kg, tare 16.8
    rig.station.start()
    assert rig.station.scan(cyl["qr"]).allowed
    assert rig.station.fill(316.0) is None  # meant 31.6
    zh, en, alert = rig.display.messages[-1]
    assert alert and "不合理" in zh and "implausible" in en
    assert rig.cache.all() == []  # nothing recorded
    assert rig.station.armed is not None  # asked again
    body = rig.station.fill(33.3)  # net 16.5: a real overfill, within what can be
    assert body is not None and body["payload"]["net_kg"] == 16.5
    assert [o.status for o in rig.cache.all()] == ["sent"]
    warned = [m for m in rig.display.messages if "OVERFILLED" in m[1]]
    assert warned and warned[0][2] and "服务器警告" in warned[0][0]


def test_offline_panel_says_queued_only_when_a_record_was_queued(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    live.stop()
    allowed = rig.station.scan(cyl["qr"])
    assert allowed.allowed and not allowed.queued and rig.cache.all() == []
    rig.station.fill(31.7)
    blocked = rig.station.scan(cyl["qr"])  # just filled: blocked, and the block queued
    assert not blocked.allowed and blocked.queued

    def shown(outcome: Outcome) -> str:
        out = io.StringIO()
        RichDisplay(Console(file=out, width=80, color_system=None)).decision(outcome)
        return out.getvalue()

    assert "记录已排队" not in shown(allowed) and "离线判定" in shown(allowed)
    assert "记录已排队" in shown(blocked)
