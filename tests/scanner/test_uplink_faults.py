"""The uplink when the station itself fails: its cache held by another process, its screen gone."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scanner.outcome import Outcome
from scanner.runner import UPLINK_ROUND_FAILED
from scanner.uplink import LOCAL_STORAGE_BUSY, LOCAL_STORAGE_FAILED, storage_alert
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, register_cylinder, uplink_rounds


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """A second connection holding the cache's write lock, as a second scanner program on
    the same data folder (or a backup tool) would: the station's writes wait for the
    cache's busy timeout, then SQLite answers "database is locked"."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def _release(other: sqlite3.Connection) -> None:
    other.execute("ROLLBACK")
    other.close()


def _queue_an_offline_fill(live: LiveServer, rig: Rig, client: Any, owner: str) -> str:
    """Sync, lose the server, fill offline (one write queued), get the server back."""
    cyl = register_cylinder(client, owner)
    rig.station.start()
    live.stop()
    assert rig.station.scan(cyl["qr"]).allowed
    assert rig.station.fill(31.7) is not None
    assert [o.status for o in rig.cache.all()] == ["pending"]
    live.start()
    rig.cache.busy_timeout = 0.2  # keep the test fast: give up on a held lock at once
    return str(cyl["code"])


def _fills(client: Any, code: str, token: str) -> int:
    response = client.get(f"/api/v1/cylinders/{code}/events", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return sum(e["type"] == "filled" for e in response.get_json()["events"])


def test_a_cache_locked_by_another_process_is_not_shown_as_a_failing_disk(
    live: LiveServer, rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    code = _queue_an_offline_fill(live, rig, client, owner)

    other = _hold_write_lock(rig.cache.path)
    try:  # the server takes the fill, the station cannot write down its answer
        assert rig.station.uplink.tick() is False
    finally:
        _release(other)
    zh, en, alert = rig.display.messages[-1]
    assert alert and zh == LOCAL_STORAGE_BUSY[0], rig.display.messages
    assert "database is locked" in en
    assert LOCAL_STORAGE_FAILED[0] not in [m[0] for m in rig.display.messages]
    assert [o.status for o in rig.cache.all()] == ["pending"]  # nothing lost

    assert rig.station.uplink.tick() is True  # the lock is gone: the next round sends it
    assert [o.status for o in rig.cache.all()] == ["sent"]
    assert _fills(client, code, owner) == 1  # sent again with its key: recorded once


def test_a_read_only_cache_is_still_a_storage_failure(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as readonly:
        read_only.execute("INSERT INTO t VALUES (1)")
    read_only.close()
    other = _hold_write_lock(path)
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            sqlite3.connect(path, timeout=0).execute("INSERT INTO t VALUES (1)")
    finally:
        _release(other)
    assert storage_alert(readonly.value) == LOCAL_STORAGE_FAILED
    assert storage_alert(OSError(28, "No space left on device")) == LOCAL_STORAGE_FAILED
    assert storage_alert(sqlite3.DatabaseError("database disk image is malformed")) == (
        LOCAL_STORAGE_FAILED
    )
    assert storage_alert(locked.value) == LOCAL_STORAGE_BUSY
    assert storage_alert(sqlite3.OperationalError("database table is locked")) == (
        LOCAL_STORAGE_BUSY
    )


class GoneTerminal:
    """A display whose terminal is gone: every message fails, as writing to a closed pipe."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    def decision(self, outcome: Outcome) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        self.tried.append(zh)
        raise BrokenPipeError(32, "Broken pipe")


def test_the_uplink_loop_outlives_a_display_that_fails(
    live: LiveServer,
    rig: Rig,
    client: Any,
    demo: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    code = _queue_an_offline_fill(live, rig, client, owner)
    gone = GoneTerminal()
    rig.station.display = rig.station.uplink.display = gone

    def first(real: Callable[[], bool]) -> bool:  # the cache is held: tick's alert fails
        other = _hold_write_lock(rig.cache.path)
        try:
            return real()
        finally:
            _release(other)

    assert uplink_rounds(rig, monkeypatch, first) == 2  # the round after the failures ran
    assert rig.station.uplink.online  # … and reached the server
    assert [o.status for o in rig.cache.all()] == ["sent"]
    assert _fills(client, code, owner) == 1
    # The first round's alert is the held cache's, not a failed round's (the display's
    # failure is told with it, on stderr).
    assert gone.tried == [LOCAL_STORAGE_BUSY[0], "已恢复连接，离线记录已上传"]
    err = capsys.readouterr().err  # what the display could not show went to stderr
    assert LOCAL_STORAGE_BUSY[0] in err and "BrokenPipeError" in err
    assert UPLINK_ROUND_FAILED[0] not in err
    assert "已恢复连接" in err


def test_a_display_failing_inside_a_round_is_not_a_storage_failure_and_the_round_goes_on(
    live: LiveServer,
    rig: Rig,
    client: Any,
    demo: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    over, normal = register_cylinder(client, owner), register_cylinder(client, owner)
    rig.station.start()
    live.stop()
    for cylinder, gross in ((over, 33.3), (normal, 31.7)):  # 33.3: net 16.5, overfilled
        assert rig.station.scan(cylinder["qr"]).allowed
        assert rig.station.fill(gross) is not None
    live.start()
    synced = rig.cache.synced_at()
    gone = GoneTerminal()
    rig.station.display = rig.station.uplink.display = gone

    # The server's warning on the first record cannot be shown: the round still sends the
    # second record and syncs, and says nothing about the disk.
    assert rig.station.uplink.tick() is True
    assert [o.status for o in rig.cache.all()] == ["sent", "sent"]
    assert _fills(client, over["code"], owner) == 1 and _fills(client, normal["code"], owner) == 1
    assert rig.cache.synced_at() != synced
    assert [zh[:6] for zh in gone.tried] == ["服务器警告："]
    err = capsys.readouterr().err
    assert "服务器警告" in err and "OVERFILLED" in err and "BrokenPipeError" in err
    assert LOCAL_STORAGE_FAILED[0] not in err and LOCAL_STORAGE_BUSY[0] not in err
    assert rig.station.uplink.tick() is True  # and the next round runs as usual
