"""The demo registry seeded once per test process and backend, copied for each test.

Seeding the demo's people and fresh cylinders costs a test ~0.08 s (a few hundred rows, a
few dozen signed events); the ``app`` fixture instead starts from a copy of a snapshot:
the database (a file copy, or ``CREATE DATABASE … TEMPLATE``), the keys directory and the
instance directory (demo.json). A copy is the same state a seed would have made, keys
and tokens included. A snapshot is made again when the day changes (the demo's dates
count from it), so a copy is never seeded on another day than its test runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.params import DEFAULT


def app_config(db_url: str, root: Path) -> dict[str, Any]:
    """The test application's settings, its directories under ``root``."""
    return {
        "TESTING": True,
        "DATABASE_URL": db_url,
        "INSTANCE_PATH": str(root / "instance"),
        "KEYS_DIR": str(root / "keys"),
        "PUBLIC_BASE_URL": "https://ledger.test",
        "LEDGER_ORIGIN": "ledger.test/log",
    }


def seed_into(db_url: str, root: Path) -> Any:
    """An application on ``db_url`` with the demo registry seeded (no year of history)."""
    from app import create_app
    from app.demo import seed
    from app.runtime import runtime
    from ledger.store import transaction

    application = create_app(app_config(db_url, root))
    with application.app_context():
        rt = runtime()
        with transaction(rt.engine) as session:
            demo_json = Path(application.instance_path) / "demo.json"
            seed(session, rt.authority, rt.now(), demo_json, history=False)
    return application


@dataclass(frozen=True)
class Snapshot:
    """A seeded state: ``database`` is a SQLite file or a PostgreSQL template's name."""

    database: str
    root: Path  # holds instance/ and keys/

    def copy_directories(self, to: Path) -> None:
        for name in ("instance", "keys"):
            shutil.copytree(self.root / name, to / name, dirs_exist_ok=True)


class Snapshots:
    """The current day's snapshot per backend, made on first use."""

    def __init__(self, make: Callable[[str], Snapshot]) -> None:
        self._make = make
        self._made: dict[tuple[str, Any, Any], Snapshot] = {}

    def get(self, backend: str) -> Snapshot:
        now = dt.datetime.now(dt.UTC)  # the rules' day (tests.flows.local_today), and UTC's
        key = (backend, DEFAULT.today(now), now.date())  # (the demo dates some things by it)
        if key not in self._made:
            self._made[key] = self._make(backend)
        return self._made[key]


def fold_wal(path: Path) -> None:
    """Fold a SQLite file's WAL into it, so a plain file copy holds every commit."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        busy, frames, folded = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy or frames != folded:
        raise RuntimeError(f"{path}: the WAL was not folded in ({busy=}, {frames=}, {folded=})")
