"""The deny list offline, the periodic uplink loop, and what the operator sees and hears."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from scanner.display import RichDisplay
from scanner.outcome import Outcome
from scanner.runner import UPLINK_ROUND_FAILED, uplink_loop
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, register_cylinder, uplink_rounds


def test_offline_the_deny_list_blocks_even_a_cylinder_the_cache_would_allow(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    scrapped = register_cylinder(client, demo["tokens"]["enterprise_b"])  # another's
    done = client.post(
        f"/api/v1/cylinders/{scrapped['code']}/events",
        json={"type": "scrapped", "payload": {"reason": "鼓包"}},
        headers=bearer(demo["tokens"]["inspector"]),
    )
    assert done.status_code == 201, done.get_json()
    own = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    assert rig.cache.denied(scrapped["code"])  # the sync brought the deny list
    live.stop()

    outcome = rig.station.scan(scrapped["qr"])
    assert not outcome.allowed and outcome.offline
    assert outcome.reasons[-1]["code"] == "HELD" and "禁止名单" in outcome.reasons[-1]["message_zh"]
    assert not rig.interlock.enabled

    assert rig.station.scan(own["qr"]).allowed  # legal in the cache …
    with sqlite3.connect(rig.cache.path) as db:
        db.execute("INSERT INTO deny VALUES (?)", (own["code"],))
    denied = rig.station.scan(own["qr"])  # … until the deny list names it
    assert not denied.allowed and [r["code"] for r in denied.reasons] == ["HELD"]
    assert not rig.interlock.enabled and rig.interlock.calls[-1] == "deny"


def test_the_uplink_loop_sends_the_queue_once_the_server_is_back(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    rig.station.start()
    live.stop()
    assert rig.station.scan(cyl["qr"]).allowed
    assert rig.station.fill(31.7) is not None
    rig.station.uplink.online = False
    live.start()

    stop = threading.Event()
    back = threading.Event()
    display = rig.display
    original = display.message

    def message(zh: str, en: str, *, alert: bool = False) -> None:
        original(zh, en, alert=alert)
        if "已恢复连接" in zh:
            back.set()
            stop.set()  # one round is enough

    display.message = message  # type: ignore[method-assign]
    loop = threading.Thread(target=uplink_loop, args=(rig.station, stop, 0.05), daemon=True)
    loop.start()
    assert back.wait(60), rig.display.messages
    loop.join(60)
    assert not loop.is_alive()  # the loop ends when told to stop
    assert rig.station.uplink.online
    assert [o.status for o in rig.cache.all()] == ["sent"]


def test_the_verdict_is_shown_in_big_chinese_letters_and_beeps() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    display = RichDisplay(console)
    display.decision(Outcome("X", True, [], code="7KQ2MX9D4RTZ"))
    allowed = out.getvalue()
    assert allowed.count("\a") == 1  # one beep for ALLOW
    assert "允许充装" in allowed and allowed.count("█") > 100  # block letters
    out.truncate(0)
    out.seek(0)
    reason = {"code": "HELD", "message_zh": "扣留", "message_en": "held"}
    display.decision(Outcome("Y", False, [reason], code="7KQ2MX9D4RTZ"))
    blocked = out.getvalue()
    assert blocked.count("\a") == 3  # three for BLOCK
    assert "禁止充装" in blocked
    display.message("联锁故障", "interlock fault", alert=True)
    assert out.getvalue().count("\a") == 4  # an alert beeps too


def test_the_big_chinese_banners_differ_and_fit_a_station_screen() -> None:
    from scanner.banner import CHINESE

    assert CHINESE[True] != CHINESE[False]
    assert max(len(line) for lines in CHINESE.values() for line in lines) <= 90
    narrow = io.StringIO()
    RichDisplay(Console(file=narrow, width=60, color_system=None)).decision(
        Outcome("X", False, [], code="A")
    )
    assert "禁止充装" in narrow.getvalue()  # a narrow screen still reads the verdict


def test_the_uplink_loop_outlives_a_round_that_fails_unexpectedly(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def first(_real: Callable[[], bool]) -> bool:
        raise RuntimeError("a bug in one round")

    assert uplink_rounds(rig, monkeypatch, first) == 2  # the round after the failure ran
    _, en, alert = next(m for m in rig.display.messages if m[0] == UPLINK_ROUND_FAILED[0])
    assert alert and "RuntimeError: a bug in one round" in en
    assert rig.station.uplink.online  # the second round reached the server
