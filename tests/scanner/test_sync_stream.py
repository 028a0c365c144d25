"""The station's sync over HTTP, now streamed: gzipped for the station's client, and a
database failing mid-stream leaves the station's cache as it was."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from app import streaming
from ledger import station_sync
from tests.integration.test_station_sync_stream import failing_after_first
from tests.scanner.conftest import Rig, register_cylinder


def test_the_station_client_asks_for_and_reads_a_gzipped_sync(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    codes = [register_cylinder(client, demo["tokens"]["enterprise_a"])["code"] for _ in range(3)]
    answers: list[httpx.Response] = []
    rig.station.client.http.event_hooks["response"] = [answers.append]
    assert rig.station.uplink.tick()
    sync = [r for r in answers if r.url.path.endswith("/sync")]
    assert sync and sync[-1].headers["Content-Encoding"] == "gzip"
    assert "gzip" in sync[-1].request.headers["Accept-Encoding"]
    assert all(rig.cache.cylinder(code) is not None for code in codes)


@pytest.mark.filterwarnings(  # as in tests/integration/test_station_sync_stream.py
    "ignore:Exception ignored in.*ServerCursorMixin:pytest.PytestUnraisableExceptionWarning"
)
def test_a_sync_cut_short_by_the_database_keeps_the_old_cache(
    rig: Rig, app: Any, client: Any, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    old = [register_cylinder(client, owner)["code"] for _ in range(2)]
    assert rig.station.uplink.tick()
    kept = {k: rig.cache.meta(k) for k in ("generated_at", "full_synced_at", "synced_at")}
    new = [register_cylinder(client, owner)["code"] for _ in range(2)]
    rig.clock.offset = dt.timedelta(hours=2)  # a full sync is due
    real = station_sync.state_batches
    monkeypatch.setattr(station_sync, "state_batches", failing_after_first(real, app))
    monkeypatch.setattr(streaming, "PIECE", 1)  # the first state leaves before the failure
    answers: list[httpx.Response] = []
    rig.station.client.http.event_hooks["response"] = [answers.append]
    assert not rig.station.uplink.tick()
    assert [r.status_code for r in answers if r.url.path.endswith("/sync")] == [200]  # begun
    assert not rig.station.uplink.online  # unavailable: it decides offline from its cache
    assert {k: rig.cache.meta(k) for k in kept} == kept
    assert all(rig.cache.cylinder(code) is not None for code in old)
    assert all(rig.cache.cylinder(code) is None for code in new)
    monkeypatch.setattr(station_sync, "state_batches", real)
    assert rig.station.uplink.tick()  # the next sync, whole, replaces it
    assert all(rig.cache.cylinder(code) is not None for code in old + new)
