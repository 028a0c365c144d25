"""The station's local SQLite: the offline cache and the durable outbox.

The cache holds what ``GET /stations/{id}/sync`` returned (the registry's public key,
the station, the enterprises, the jurisdiction, the states of the station's own
cylinders, the deny list and retired codes), so the station still decides when the
server is unreachable. The outbox holds every write for the server, in order, each
with its Idempotency-Key, until the server has answered it: a crash or a power cut
loses nothing, and a retry records nothing twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scanner.sync_store import SyncAnswer, store_states

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cylinders (code TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deny (code TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS retired (code TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS retired_cylinders (code TEXT PRIMARY KEY, cylinder_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,             -- 'event' (POST /cylinders/{code}/events)
    code TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | conflict | rejected | unrecordable
    attempts INTEGER NOT NULL DEFAULT 0,
    answer TEXT,
    sent_at TEXT
);
"""
FINAL = ("sent", "conflict", "rejected", "unrecordable")


@dataclass(frozen=True)
class Outgoing:
    """One queued write."""

    seq: int
    idempotency_key: str
    kind: str
    code: str
    body: dict[str, Any]
    status: str
    attempts: int
    answer: dict[str, Any] | None


class StationCache:
    """The station's SQLite file (one connection per call: threads share nothing)."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        # Seconds a call waits for another connection's write (a second scanner on the same
        # folder, a backup tool) before SQLite gives up with "database is locked".
        self.busy_timeout = busy_timeout
        self._storing = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")  # an ALLOW'd fill survives a power cut
            yield db
        finally:
            db.close()

    # --- the cache ---------------------------------------------------------------

    @contextmanager
    def scratch_file(self) -> Iterator[IO[bytes]]:
        """A file without a name in the cache's folder (a sync answer on its way in; on the
        station's disk, not in a /tmp that may be memory), gone when closed or on a crash."""
        with tempfile.TemporaryFile(dir=self.path.parent, prefix=".sync-") as file:
            yield file

    def store_sync(
        self,
        doc: dict[str, Any],
        now: dt.datetime,
        *,
        full: bool = True,
        state_rows: Iterable[tuple[str, str]] | None = None,
        between_batches: Callable[[], None] | None = None,
        unless_pending: bool = False,
    ) -> bool:
        """Store a sync answer (``scanner.sync_store``: the states staged in batches, then
        put in place in one transaction): a full one replaces every cached cylinder, an
        incremental one (``since``) updates those it carries; either way the rows of
        retired codes (a relabelled cylinder's old label) are dropped. ``state_rows``,
        when given, are the states as (code, JSON text) pairs in place of
        ``doc["cylinders"]``: a ``SyncFile``'s, read from its file as they are stored.
        ``between_batches`` is called before each batch (to let a fill go first); with
        ``unless_pending``, nothing changes if a write is pending by then. True if stored."""
        key = doc.get("registry_key")
        if not isinstance(key, str) or len(base64.b64decode(key, validate=True)) != 32:
            raise ValueError("sync answer without a valid registry key")
        meta = {
            "registry_key": key,
            "station": json.dumps(doc["station"]),
            "enterprises": json.dumps(doc.get("enterprises", {})),
            "jurisdiction": json.dumps(doc.get("jurisdiction", {})),
            "generated_at": str(doc.get("generated_at", "")),
            "synced_at": now.isoformat(),
        }
        if full:
            meta["full_synced_at"] = now.isoformat()
        answer = SyncAnswer(
            meta, list(doc["deny"]), list(doc.get("retired_codes", [])),
            dict(doc.get("retired_cylinders", {})),
        )  # fmt: skip
        # A generator, not a list: 85k states are ~60 MB of text, made one row at a time.
        rows = (
            state_rows
            if state_rows is not None
            else ((c["code"], json.dumps(c)) for c in doc.get("cylinders", []))
        )
        with self._storing:  # one store at a time: each stages into a table of its own
            return store_states(
                self._db, answer, rows, full=full, between_batches=between_batches,
                unless_pending=unless_pending,
            )  # fmt: skip

    def meta(self, key: str) -> str | None:
        """One cached value (``registry_key``, ``station``, ``synced_at``…), or None."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store one value (e.g. the station's actor id)."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def synced_at(self) -> dt.datetime | None:
        """When the cache was last filled from the server, or None if never."""
        value = self.meta("synced_at")
        return dt.datetime.fromisoformat(value) if value else None

    def cylinder(self, code: str) -> dict[str, Any] | None:
        """The cached state (a ``CylinderState`` dict) of one of the station's cylinders."""
        with self._db() as db:
            row = db.execute("SELECT state FROM cylinders WHERE code = ?", (code,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_cylinder(self, state: dict[str, Any]) -> None:
        """Update a cached state (after an offline fill, so the rules see it)."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO cylinders VALUES (?, ?)", (state["code"], json.dumps(state))
            )

    def denied(self, code: str) -> bool:
        """True when the server's deny list names this code."""
        with self._db() as db:
            return db.execute("SELECT 1 FROM deny WHERE code = ?", (code,)).fetchone() is not None

    def retired(self, code: str) -> bool:
        """True when this code was retired by relabelling."""
        with self._db() as db:
            row = db.execute("SELECT 1 FROM retired WHERE code = ?", (code,)).fetchone()
            return row is not None

    def retired_cylinder(self, code: str) -> str | None:
        """The id of the cylinder a retired code named, when the server said so."""
        with self._db() as db:
            row = db.execute(
                "SELECT cylinder_id FROM retired_cylinders WHERE code = ?", (code,)
            ).fetchone()
        return None if row is None else str(row[0])

    # --- the outbox --------------------------------------------------------------

    def enqueue(
        self, kind: str, code: str, body: dict[str, Any], idempotency_key: str, now: dt.datetime
    ) -> int:
        """Queue a write durably (idempotent on its key); returns its sequence number."""
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO outbox (idempotency_key, kind, code, body, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (idempotency_key, kind, code, json.dumps(body), now.isoformat()),
            )
            row = db.execute(
                "SELECT seq FROM outbox WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return int(row[0])

    def pending(self) -> list[Outgoing]:
        """Writes not yet answered by the server, oldest first."""
        return self._select("WHERE status = 'pending' ORDER BY seq")

    def count(self, status: str) -> int:
        """How many writes have this status (e.g. ``unrecordable``)."""
        with self._db() as db:
            row = db.execute("SELECT count(*) FROM outbox WHERE status = ?", (status,)).fetchone()
        return int(row[0])

    def all(self) -> list[Outgoing]:
        """Every write, oldest first (for reports and tests)."""
        return self._select("ORDER BY seq")

    def _select(self, where: str) -> list[Outgoing]:
        with self._db() as db:
            rows = db.execute(
                "SELECT seq, idempotency_key, kind, code, body, status, attempts, answer"
                f" FROM outbox {where}"
            ).fetchall()
        return [
            Outgoing(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6],
                     json.loads(r[7]) if r[7] else None)
            for r in rows
        ]  # fmt: skip

    def attempted(self, seq: int) -> None:
        """Count a failed attempt (the write stays pending)."""
        with self._db() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def replace_body(self, seq: int, body: dict[str, Any], idempotency_key: str) -> None:
        """Rewrite a pending write (an online fill whose check expired, resent as offline)."""
        with self._db() as db:
            db.execute(
                "UPDATE outbox SET body = ?, idempotency_key = ?"
                " WHERE seq = ? AND status = 'pending'",
                (json.dumps(body), idempotency_key, seq),
            )

    def finish(self, seq: int, status: str, answer: dict[str, Any], now: dt.datetime) -> None:
        """Record the server's final answer to a write."""
        if status not in FINAL:
            raise ValueError(status)
        with self._db() as db:
            db.execute(
                "UPDATE outbox SET status = ?, answer = ?, sent_at = ?, attempts = attempts + 1"
                " WHERE seq = ?",
                (status, json.dumps(answer), now.isoformat(), seq),
            )
