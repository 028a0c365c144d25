"""A live ledger server on a free local port (stoppable and restartable), and a station."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from scanner.cache import StationCache
from scanner.client import LedgerClient
from scanner.device import load_or_create
from scanner.interlock import InterlockError
from scanner.outcome import Outcome
from scanner.station import Station
from scanner.uplink import Uplink
from tests.conftest import bearer, cylinder_body
from tests.live_wsgi import ServedApp


class LiveServer:
    """The Flask app served by werkzeug in a thread on 127.0.0.1; stop() and start() again.
    A stop waits for the requests in flight (tests/live_wsgi.py)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self.served: ServedApp | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve (on the same port as before, after a stop)."""
        self.served = ServedApp(self.app, self.port)
        self.port = self.served.port

    def stop(self) -> None:
        """Stop serving: connections are refused until start()."""
        assert self.served is not None
        self.served.stop()
        self.served = None


@pytest.fixture
def live(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    yield server
    if server.served is not None:
        server.stop()


class FakeInterlock:
    """Records every allow/deny; can be told to fail."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    def allow(self, code: str) -> None:
        if self.fail:
            raise InterlockError("relay not answering")
        self.calls.append(f"allow:{code}")

    def deny(self) -> None:
        self.calls.append("deny")

    @property
    def enabled(self) -> bool:
        """True when the last call enabled the scale."""
        return bool(self.calls) and self.calls[-1].startswith("allow")


@dataclass
class RecordingDisplay:
    """Keeps every decision and message."""

    outcomes: list[Outcome] = field(default_factory=list)
    messages: list[tuple[str, str, bool]] = field(default_factory=list)

    def decision(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        self.messages.append((zh, en, alert))


@dataclass
class Clock:
    """A settable clock (real time by default)."""

    offset: dt.timedelta = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@dataclass
class Rig:
    """A station wired to the live server, with its fakes."""

    station: Station
    interlock: FakeInterlock
    display: RecordingDisplay
    cache: StationCache
    clock: Clock


def make_rig(url: str, token: str, station_id: int, data: Path, **client_kw: Any) -> Rig:
    """A station for ``station_id`` whose state lives under ``data``."""
    display, interlock, clock = RecordingDisplay(), FakeInterlock(), Clock()
    cache = StationCache(data / "station.sqlite3")
    key = load_or_create(data / "device.key")
    client = LedgerClient(url, token, timeout=30.0, **client_kw)  # a busy CI machine
    uplink = Uplink(client, cache, key, station_id, display, clock)
    station = Station(station_id, client, cache, uplink, interlock, display, clock)
    return Rig(station, interlock, display, cache, clock)


@pytest.fixture
def rig(live: LiveServer, demo: dict[str, Any], tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(live.url, demo["tokens"]["station_a"], demo["stations"]["a"], tmp_path / "st")
    yield r
    r.station.client.close()


def register_cylinder(client: Any, token: str, **overrides: Any) -> dict[str, Any]:
    """Register a legal cylinder (made last year) through the API; returns its document."""
    made = (dt.datetime.now(dt.UTC) - dt.timedelta(days=300)).date().isoformat()
    body = cylinder_body(**{"manufactured_on": made, **overrides})
    response = client.post("/api/v1/cylinders", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    doc: dict[str, Any] = response.get_json()
    return doc


def uplink_rounds(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, first: Callable[[Callable[[], bool]], bool]
) -> int:
    """Run ``scanner.runner.uplink_loop`` on ``rig`` for a round made by ``first`` (given the
    real ``tick``) and then a real round; the number of rounds run (2 when the loop
    outlived the first)."""
    from scanner.runner import uplink_loop

    real, rounds, stop = rig.station.uplink.tick, [0], threading.Event()

    def tick() -> bool:
        rounds[0] += 1
        if rounds[0] == 1:
            return first(real)
        answered = real()
        stop.set()
        return answered

    monkeypatch.setattr(rig.station.uplink, "tick", tick)
    loop = threading.Thread(target=uplink_loop, args=(rig.station, stop, 0.05), daemon=True)
    loop.start()
    loop.join(60)
    assert not loop.is_alive()
    return rounds[0]


SYNC_KEY = base64.b64encode(bytes(range(32))).decode()


def sync_answer(states: int, *, note: str = "液化石油气 LPG") -> dict[str, Any]:
    """A sync answer with ``states`` cylinder states (a varied note in each)."""
    return {
        "cylinders": [
            {"code": f"A{i:011X}", "owner": 1, "note": note * (i % 5), "net": 14.25 + i,
             "big": 12345678901234567890, "ok": i % 2 == 0, "none": None}
            for i in range(states)
        ],
        "deny": ["D1", "D2"], "enterprises": {"1": {"name": "重庆燃气"}},
        "generated_at": "2026-12-07T06:00:00+00:00", "jurisdiction": {"fill_tolerance_kg": 0.5},
        "registry_key": SYNC_KEY, "retired_codes": ["R1"],
        "retired_cylinders": {f"R{i}": f"id-{i}" for i in range(300)}, "station": {"id": 1},
    }  # fmt: skip


def serving_sync(text: bytes, during: Callable[[], None] | None = None) -> httpx.MockTransport:
    """A transport answering a sync with ``text`` in 4 KiB pieces, read as the client reads
    them, calling ``during()`` once half of it is sent."""

    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for at in range(0, len(text), 4096):
                if during is not None and at <= len(text) // 2 < at + 4096:
                    during()
                yield text[at : at + 4096]

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/stations/1/sync"
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=Pieces())

    return httpx.MockTransport(answer)
