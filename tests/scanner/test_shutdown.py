"""The station's last round at shutdown when the terminal is gone: no traceback, the queue
still sent, a clean exit."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from scanner import runner
from scanner.cli import parser
from scanner.client import LedgerClient, Unavailable
from scanner.outcome import Outcome
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, register_cylinder


class TerminalThatCloses:
    """A display that works until the terminal closes (after the fill is queued, stdin
    ends), then every write fails as writing to a closed pipe does."""

    closed = False
    queued = threading.Event()  # the fill could not be sent: it waits in the queue

    def decision(self, outcome: Outcome) -> None:
        if TerminalThatCloses.closed:
            raise BrokenPipeError(32, "Broken pipe")

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        if zh.startswith("记录已排队"):
            TerminalThatCloses.queued.set()
        if TerminalThatCloses.closed:
            raise BrokenPipeError(32, "Broken pipe")


class Keyboard(io.StringIO):
    """The wedge's lines; at their end, once the fill is queued, the terminal is gone."""

    def __next__(self) -> str:
        try:
            return super().__next__()
        except StopIteration:
            assert TerminalThatCloses.queued.wait(60)
            TerminalThatCloses.closed = True
            raise


@pytest.mark.parametrize("relay", ["none", "cmd:true;;false"])  # the second cannot lock
def test_the_last_round_at_shutdown_sends_the_queue_though_the_display_fails(
    relay: str,
    live: LiveServer,
    client: Any,
    demo: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    monkeypatch.setattr(TerminalThatCloses, "closed", False)
    monkeypatch.setattr(TerminalThatCloses, "queued", threading.Event())
    monkeypatch.setattr(runner, "JsonDisplay", TerminalThatCloses)
    monkeypatch.setattr("sys.stdin", Keyboard(f"{cyl['qr']}\n33.3\n"))  # net 16.5: overfilled
    post = LedgerClient.post_event

    def network(self: LedgerClient, *args: Any) -> Any:  # down until the terminal closes
        if not TerminalThatCloses.closed:
            raise Unavailable("network down")
        return post(self, *args)

    monkeypatch.setattr(LedgerClient, "post_event", network)
    args = parser().parse_args([
        "run", "--server", live.url, "--token", demo["tokens"]["station_a"], "--json",
        "--station", str(demo["stations"]["a"]), "--source", "stdin", "--sync-seconds", "3600",
        "--interlock", relay,
        "--data-dir", str(tmp_path / "station"), "--timeout", "30",
    ])  # fmt: skip

    assert runner.run_station(args) == 0  # no traceback out of the shutdown

    events = client.get(f"/api/v1/cylinders/{cyl['code']}/events", headers=bearer(owner))
    filled = [e for e in events.get_json()["events"] if e["type"] == "filled"]
    assert len(filled) == 1 and filled[0]["payload"]["net_kg"] == 16.5  # the last round sent it
    err = capsys.readouterr().err  # what the closed terminal could not show went to stderr
    assert "服务器警告" in err and "BrokenPipeError" in err
    assert ("联锁输出故障" in err) == (relay != "none")  # the lock's alert at shutdown too
