"""SQLite under a serving process: WAL checkpoints in the background; writers that wait for
one another in short steps, then with SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ledger.store import make_engine, transaction


def _fill(path: Path, background: bool, grown_past: int | None = None) -> int:
    """Write about 1 MB through a fresh engine; the main file's size two seconds later, or,
    given ``grown_past``, once it is larger than that (waiting up to 30 s: a checkpointer
    a loaded machine keeps waiting is late, not wrong)."""
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=background)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            for _ in range(256):
                conn.execute(text("INSERT INTO t VALUES (randomblob(4096))"))
        if grown_past is None:
            time.sleep(2.0)
        else:
            deadline = time.monotonic() + 30
            while path.stat().st_size <= grown_past and time.monotonic() < deadline:
                time.sleep(0.05)
        return path.stat().st_size
    finally:
        engine.dispose()


def test_a_serving_engine_checkpoints_the_wal_in_the_background(tmp_path):
    # Without the checkpointer the megabyte stays in the WAL (below SQLite's threshold);
    # with it, a passive checkpoint copies it into the database file within a second.
    assert _fill(tmp_path / "plain.sqlite3", background=False) < 100_000
    assert _fill(tmp_path / "served.sqlite3", background=True, grown_past=1_000_000) > 1_000_000


def _holder(engine: Any, hold: float, started: threading.Event) -> threading.Thread:
    def run() -> None:
        with transaction(engine) as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            started.set()
            time.sleep(hold)

    return threading.Thread(target=run)


@pytest.mark.parametrize("hold", [0.05, 0.8])  # within the short-step window, and past it
def test_a_writer_waits_for_another_writers_lock_then_writes(tmp_path: Path, hold: float) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        started = threading.Event()
        holder = _holder(engine, hold, started)
        holder.start()
        assert started.wait(5)
        t0 = time.monotonic()
        with transaction(engine) as s:  # BEGIN IMMEDIATE: waits for the holder's COMMIT
            s.execute(text("INSERT INTO t VALUES (2)"))
        waited = time.monotonic() - t0
        holder.join()
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT x FROM t ORDER BY rowid")).scalars().all()
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert rows == [1, 2]  # the second writer went after the first, and nothing failed
        assert waited > hold / 2
        assert timeout == 30_000  # the short steps leave the connection's busy timeout as it was
    finally:
        engine.dispose()


def test_a_writer_meeting_another_error_than_busy_raises_it(tmp_path: Path) -> None:
    path = tmp_path / "ro.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    readonly = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(OperationalError, match="readonly"), transaction(readonly) as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        readonly.dispose()


def test_a_wal_grown_by_a_burst_is_cut_back_once_checkpointed(tmp_path: Path) -> None:
    """A burst of 8 MB leaves a WAL file of 8 MB; once the background checkpoint has copied
    it, the next write starts the WAL again and cuts the file to the size limit (without
    it the WAL file keeps its peak size for good)."""
    from ledger.store_sqlite import WAL_SIZE_LIMIT

    path = tmp_path / "burst.sqlite3"
    wal = path.with_name(path.name + "-wal")
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            for _ in range(2048):
                conn.execute(text("INSERT INTO t VALUES (randomblob(4096))"))
        peak = wal.stat().st_size
        # The checkpointer's passive checkpoints copy it all (within a second or two); the
        # next write then starts the WAL again and cuts it to the limit.
        deadline = time.monotonic() + 30
        while True:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
            if wal.stat().st_size <= WAL_SIZE_LIMIT or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert peak > 8_000_000
        assert wal.stat().st_size <= WAL_SIZE_LIMIT
    finally:
        engine.dispose()


def test_a_process_that_ends_leaves_no_wal_behind(tmp_path: Path) -> None:
    """A command writes and exits without disposing of its engine (as `flask demo seed`
    did): its connections are closed at exit, so the WAL is checkpointed and removed
    rather than left at its size for the next process."""
    import subprocess
    import sys

    db = tmp_path / "cli.sqlite3"
    script = (
        "from sqlalchemy import text\n"
        "from ledger.store import make_engine\n"
        f"engine = make_engine('sqlite:///{db}', background_checkpoints=True)\n"
        "with engine.begin() as conn:\n"
        "    conn.execute(text('CREATE TABLE t (x BLOB)'))\n"
        "    for _ in range(64):\n"
        "        conn.execute(text('INSERT INTO t VALUES (randomblob(4096))'))\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=60)
    assert not db.with_name(db.name + "-wal").exists()
    assert db.stat().st_size > 64 * 4096  # the rows are in the database file itself
