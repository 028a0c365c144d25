"""A full sync stored while the operator records a fill (scanner/sync_store.py): the fill
waits for one batch of the store at most, a reader never sees half a sync, and a store
cut short leaves the previous sync in place."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner import sync_store
from scanner.outcome import Outcome
from scanner.station import Armed
from scanner.sync_file import SyncFile
from tests.scanner.conftest import Rig, make_rig, serving_sync, sync_answer

BATCH = 100
OLD, NEW = "2026-12-07T06:00:00+00:00", "2026-12-07T08:00:00+00:00"
CACHE_TABLES = {"meta", "cylinders", "deny", "retired", "retired_cylinders", "outbox"}


def _answer_text(states: int, generated_at: str) -> bytes:
    doc = sync_answer(states)
    for state in doc["cylinders"]:
        state["generated_at"] = generated_at  # which sync a cached state came from
    doc["generated_at"] = generated_at
    return json.dumps(doc, ensure_ascii=False).encode()


def _synced_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """A station synced once (300 states), then answering its next (full) sync with 1,000
    states, stored ``BATCH`` rows at a time."""
    monkeypatch.setattr(sync_store, "BATCH_ROWS", BATCH)
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path, transport=serving_sync(
        _answer_text(300, OLD)))  # fmt: skip
    rig.station.uplink.sync()
    assert rig.cache.meta("generated_at") == OLD
    rig.station.client.http._transport = serving_sync(_answer_text(1000, NEW))
    rig.clock.offset = dt.timedelta(hours=2)  # a full sync is due
    return rig


class Watched:
    """A state's JSON text that says when SQLite binds it: inside the store's transaction."""

    def __init__(self, text: str, row: int, bound: Callable[[int], None]) -> None:
        self.text, self.row, self.bound = text, row, bound

    def __conform__(self, protocol: object) -> str:
        self.bound(self.row)
        return self.text


def _watch_rows(monkeypatch: pytest.MonkeyPatch, bound: Callable[[int], None]) -> None:
    real = SyncFile.state_rows

    def rows(self: SyncFile) -> Iterator[tuple[str, Any]]:
        for row, (code, text) in enumerate(real(self)):
            yield code, Watched(text, row, bound)

    monkeypatch.setattr(SyncFile, "state_rows", rows)


def _tables(rig: Rig) -> set[str]:
    with sqlite3.connect(rig.cache.path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows} - {"sqlite_sequence"}


def _arm_offline(rig: Rig, code: str) -> None:
    """An offline ALLOW of ``code`` (as the station gives it from the cache): the operator
    now types the gross weight."""
    cylinder = {**(rig.cache.cylinder(code) or {}), "cylinder_id": "c-1", "tare_kg": 16.8,
                "capacity_kg": 15.0}  # fmt: skip
    outcome = Outcome(code, True, [], offline=True, code=code, cylinder=cylinder)
    rig.station.armed = Armed(outcome, rig.clock() + dt.timedelta(minutes=10))


def test_a_fill_recorded_during_a_full_sync_waits_for_one_batch_of_it_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _synced_rig(tmp_path, monkeypatch)
    code = "A00000000001"
    _arm_offline(rig, code)
    events: list[Any] = []
    put_cylinder = rig.cache.put_cylinder  # the fill's last write (under the station's lock)

    def put_and_note(state: dict[str, Any]) -> None:
        put_cylinder(state)
        events.append("fill recorded")

    monkeypatch.setattr(rig.cache, "put_cylinder", put_and_note)
    fill_at = BATCH + BATCH // 2  # halfway through the second batch's transaction
    filling = threading.Thread(target=rig.station.fill, args=(31.7,))

    def bound(row: int) -> None:
        events.append(row)
        if row == fill_at:
            filling.start()
            lock, deadline = rig.station.uplink.lock, time.monotonic() + 5
            while time.monotonic() < deadline:  # until the fill is under way (holds the lock)
                if not lock.acquire(blocking=False):
                    break
                lock.release()
                time.sleep(0.001)

    _watch_rows(monkeypatch, bound)
    rig.station.uplink.sync()
    events.append("stored")
    filling.join(30)

    next_batch = (fill_at // BATCH + 1) * BATCH
    assert events.index("fill recorded") < events.index(next_batch), events[fill_at - 5 :]
    assert events.index(next_batch) < events.index("stored")
    # The fill is queued: the answer is not put in place over its state (the next sync is).
    assert [o.status for o in rig.cache.all()] == ["pending"]
    assert rig.cache.meta("generated_at") == OLD
    state = rig.cache.cylinder(code)
    assert state is not None and state["status"] == "full" and state["last_net_kg"] == 14.9
    assert rig.cache.cylinder("A000000003E7") is None  # the 1,000th state of the new answer
    assert _tables(rig) == CACHE_TABLES  # nothing staged is left behind


def test_a_reader_sees_the_previous_sync_until_the_whole_new_one_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _synced_rig(tmp_path, monkeypatch)
    seen: list[tuple[str | None, bool, bool]] = []

    def bound(row: int) -> None:
        if row % BATCH == BATCH - 1:  # the last row of each batch, before its commit
            last = rig.cache.cylinder(f"A{row:011X}")
            first = rig.cache.cylinder("A00000000000")
            seen.append((rig.cache.meta("generated_at"), last is None or row < 300,
                         first is not None and first["generated_at"] == OLD))  # fmt: skip

    _watch_rows(monkeypatch, bound)
    rig.station.uplink.sync()
    assert seen == [(OLD, True, True)] * 10
    assert rig.cache.meta("generated_at") == NEW
    first, last = rig.cache.cylinder("A00000000000"), rig.cache.cylinder("A000000003E7")
    assert first is not None and first["generated_at"] == NEW and last is not None
    assert _tables(rig) == CACHE_TABLES


def test_a_store_cut_short_keeps_the_previous_sync_and_the_next_store_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _synced_rig(tmp_path, monkeypatch)
    before = {k: rig.cache.meta(k) for k in ("generated_at", "full_synced_at", "synced_at")}

    real = SyncFile.state_rows

    def rows_until_the_disk_fails(self: SyncFile) -> Iterator[tuple[str, str]]:
        for row, state in enumerate(real(self)):
            if row == 2 * BATCH + 10:  # two batches staged
                raise OSError(5, "Input/output error")
            yield state

    with monkeypatch.context() as failing:
        failing.setattr(SyncFile, "state_rows", rows_until_the_disk_fails)
        with pytest.raises(OSError, match="Input/output error"):
            rig.station.uplink.sync()
    assert {k: rig.cache.meta(k) for k in before} == before
    old = rig.cache.cylinder("A0000000012B")  # the 300th state of the previous sync
    assert old is not None and old["generated_at"] == OLD
    assert rig.cache.cylinder("A0000000012C") is None
    assert _tables(rig) == CACHE_TABLES

    with sqlite3.connect(rig.cache.path) as db:  # a staging table a killed process left
        db.execute(f"CREATE TABLE {sync_store.INCOMING}dead (code TEXT PRIMARY KEY, state TEXT)")
        db.executemany(f"INSERT INTO {sync_store.INCOMING}dead VALUES (?, '{{}}')",
                       [(f"X{i}",) for i in range(250)])  # fmt: skip
    rig.station.uplink.sync()
    assert rig.cache.meta("generated_at") == NEW
    assert rig.cache.cylinder("A000000003E7") is not None
    assert rig.cache.cylinder("X1") is None
    assert _tables(rig) == CACHE_TABLES
