"""SQLite under a serving process: WAL checkpoints happen in the background."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from ledger.store import make_engine


def _fill(path: Path, background: bool) -> int:
    """Write about 1 MB through a fresh engine; the main file's size two seconds later."""
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=background)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            for _ in range(256):
                conn.execute(text("INSERT INTO t VALUES (randomblob(4096))"))
        time.sleep(2.0)
        return path.stat().st_size
    finally:
        engine.dispose()


def test_a_serving_engine_checkpoints_the_wal_in_the_background(tmp_path):
    # Without the checkpointer the megabyte stays in the WAL (below SQLite's threshold);
    # with it, a passive checkpoint copies it into the database file within a second.
    assert _fill(tmp_path / "plain.sqlite3", background=False) < 100_000
    assert _fill(tmp_path / "served.sqlite3", background=True) > 1_000_000
