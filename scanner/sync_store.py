"""Putting a sync answer into the station's cache without keeping a fill record waiting.

A full sync of a large enterprise's station is ~85,000 cylinder states: stored in one
transaction, it held the cache's write lock for about a second, and a fill recorded
meanwhile waited for all of it. The states are instead written into a staging table of
their own, ``BATCH_ROWS`` at a time, each batch in its own short transaction; before each
batch, ``between_batches`` lets a fill being recorded finish first. One short transaction
then puts the staged states in place, with the rest of the answer: a full sync's table is
swapped in by renaming, an incremental sync's rows are merged. The superseded table is
then dropped in a transaction of its own.

A reader (the nozzle's check) sees the previous complete sync until that one transaction
commits. A crash or an exception before it leaves the previous state in place; a staging
table it leaves behind is dropped by the next store.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

# Rows written per transaction: a fill waits at most for one batch (a few milliseconds
# on a station PC), and a batch of the answer's text held in memory stays small.
BATCH_ROWS = 200
INCOMING = "cylinders_incoming_"  # states being staged
OUTGOING = "cylinders_outgoing_"  # a full sync's superseded states, to drop
STATES_TABLE = "(code TEXT PRIMARY KEY, state TEXT NOT NULL)"

Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]


@dataclass(frozen=True)
class SyncAnswer:
    """What a sync answer puts in the cache besides the states."""

    meta: dict[str, str]
    deny: list[str]
    retired: list[str]
    retired_cylinders: dict[str, str] = field(default_factory=dict)


def _nothing() -> None:
    return None


def store_states(
    connect: Connect,
    answer: SyncAnswer,
    rows: Iterable[tuple[str, str]],
    *,
    full: bool,
    between_batches: Callable[[], None] | None = None,
    unless_pending: bool = False,
) -> bool:
    """Stage ``rows`` in batches, then put them and ``answer`` in place in one transaction;
    False (nothing changed) when ``unless_pending`` and the outbox holds a pending write
    by then (a fill recorded meanwhile: its cached state is not overwritten)."""
    pause = between_batches or _nothing
    # One connection throughout: the last connection to a WAL file closing checkpoints it
    # (~6 ms a time on a station PC's disk), and it would be this one, after every batch.
    with connect() as db:
        # The pages freed by a drop are not overwritten with zeros (a cache of the server's
        # own data): SQLite then frees 85,000 states' pages in ~40 ms, not ~0.4 s.
        db.execute("PRAGMA secure_delete=FAST")
        for leftover in _staging_tables(db):  # a crashed store's, or a superseded table
            pause()
            _drop(db, leftover)
        incoming = INCOMING + uuid.uuid4().hex
        db.execute(f"CREATE TABLE {incoming} {STATES_TABLE}")
        try:
            for batch in _batches(rows):
                pause()
                _staging(db).executemany(f"INSERT OR REPLACE INTO {incoming} VALUES (?, ?)", batch)
                db.execute("COMMIT")
            pause()
            stored, superseded = _swap(db, answer, incoming, full, unless_pending)
        except BaseException:
            with contextlib.suppress(Exception):  # else the next store drops it
                if db.in_transaction:
                    db.execute("ROLLBACK")
                _drop(db, incoming)
            raise
        pause()
        _drop(db, superseded)
    return stored


def _swap(
    db: sqlite3.Connection, answer: SyncAnswer, incoming: str, full: bool, unless_pending: bool
) -> tuple[bool, str]:
    """The transaction that puts the staged states in place (durably: ``synchronous=FULL``,
    which syncs the staged rows' log with it); whether it did, and the table left to drop."""
    db.execute("PRAGMA synchronous=FULL")
    db.execute("BEGIN IMMEDIATE")
    if unless_pending and _pending(db):
        db.execute("ROLLBACK")
        return False, incoming
    superseded = _put_in_place(db, answer, incoming, full)
    db.execute("COMMIT")
    return True, superseded


def _put_in_place(db: sqlite3.Connection, answer: SyncAnswer, incoming: str, full: bool) -> str:
    """The one transaction a reader sees change: the staged states become the cached ones
    (a full sync's by renaming, an incremental one's merged), the lists and meta replaced;
    returns the table left to drop."""
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", answer.meta.items())
    if full:
        superseded = OUTGOING + uuid.uuid4().hex
        db.execute(f"ALTER TABLE cylinders RENAME TO {superseded}")
        db.execute(f"ALTER TABLE {incoming} RENAME TO cylinders")
    else:
        superseded = incoming
        db.execute(f"INSERT OR REPLACE INTO cylinders SELECT code, state FROM {incoming}")
    db.execute("DELETE FROM deny")
    db.executemany("INSERT OR IGNORE INTO deny VALUES (?)", [(c,) for c in answer.deny])
    db.execute("DELETE FROM retired")
    db.executemany("INSERT OR IGNORE INTO retired VALUES (?)", [(c,) for c in answer.retired])
    # A relabelled cylinder's old code: its row goes, incremental sync or not.
    db.execute("DELETE FROM cylinders WHERE code IN (SELECT code FROM retired)")
    db.execute("DELETE FROM retired_cylinders")
    db.executemany(
        "INSERT OR IGNORE INTO retired_cylinders VALUES (?, ?)",
        list(answer.retired_cylinders.items()),
    )
    return superseded


def _batches(rows: Iterable[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    """The rows a batch at a time, each read (from the answer's file) before its
    transaction begins: the write lock is held for the inserts alone."""
    it = iter(rows)
    while batch := list(itertools.islice(it, BATCH_ROWS)):
        yield batch


def _staging(db: sqlite3.Connection) -> sqlite3.Connection:
    """A write transaction for rows no reader sees: not synced to disk at its commit (a
    power cut loses only staged rows, dropped at the next store); the commit that puts
    them in place (``synchronous=FULL``) syncs the log, and these rows with it."""
    db.execute("PRAGMA synchronous=NORMAL")  # outside a transaction: it is ignored inside
    db.execute("BEGIN IMMEDIATE")
    return db


def _pending(db: sqlite3.Connection) -> bool:
    return (
        db.execute("SELECT 1 FROM outbox WHERE status = 'pending' LIMIT 1").fetchone() is not None
    )


def _staging_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND (substr(name, 1, ?) = ? OR substr(name, 1, ?) = ?)",
        (len(INCOMING), INCOMING, len(OUTGOING), OUTGOING),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _drop(db: sqlite3.Connection, table: str) -> None:
    """Drop a staging or superseded table in a transaction of its own (85,000 states:
    ~40 ms with ``secure_delete`` off, ~0.4 s with it on, as some builds have it)."""
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"DROP TABLE IF EXISTS {table}")
