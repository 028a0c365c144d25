"""Whether SQLite's one write lock is free now, asked from a connection of its own."""

from __future__ import annotations

import sqlite3


def write_lock_is_free(database: str) -> bool:
    """True when another connection could begin writing to ``database`` at once."""
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        other.close()
