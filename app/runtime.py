"""Per-application collaborators: the database engine and the ledger's keys."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ledger import log
from ledger.authority import Authority, key_files_in_use
from ledger.keys import (
    REGISTRY_KEY_FILE,
    RETIRED_DIR,
    SERVER_KEY_FILE,
    KeyFileError,
    load_or_create_signer,
    read_server_signer,
    retired_verifiers,
)
from ledger.note import Verifier, verifier_from_key, verifier_key_for
from ledger.params import Jurisdiction
from ledger.settings import load_jurisdiction
from ledger.store import close_engine, make_engine, no_database_file, transaction


class KeyRing:
    """The server's keys, loaded when first used, created then if absent (0600): a command
    that only reads, ``ledger audit``, asks for ``server_verifier`` and never creates one."""

    def __init__(
        self, keys_dir: Path, origin: str, base_url: str, engine: Engine | None = None
    ) -> None:
        self.keys_dir, self.origin, self.base_url = keys_dir, origin, base_url
        self.engine = engine  # asked before a key file is created (build_authority)
        self._authority: Authority | None = None
        self._loading = threading.Lock()

    def authority(self) -> Authority:
        """The keys, loaded (or created) on the first call of this process."""
        if self._authority is None:
            with self._loading:  # the threads of a worker: one loads, the rest wait for it
                if self._authority is None:
                    self._authority = build_authority(
                        self.keys_dir, self.origin, self.base_url, self.engine
                    )
        return self._authority

    def server_verifier(self) -> Verifier:
        """The checkpoint key's verifier, the file read and never created; KeyFileError
        names the file when there is none."""
        if self._authority is not None:
            signer = self._authority.server
        else:
            signer = read_server_signer(self.keys_dir / SERVER_KEY_FILE, self.origin)
        return verifier_from_key(verifier_key_for(signer))


@dataclass
class Runtime:
    """What a request needs besides its input."""

    engine: Engine
    keyring: KeyRing
    integrate_after_write: bool
    params: Jurisdiction
    integrate_in_background: bool = False  # after a write: wake a thread, do not wait
    keys_dir: Path | None = None  # KEYS_DIR: app.audits reads retired/ in it at each audit
    _integrating: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rounds: int = field(default=0, repr=False)  # integrations begun in this process
    _background: BackgroundIntegrator | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)  # by close(): no integrator thread

    @property
    def authority(self) -> Authority:
        """The server's keys (created on first use: ``KeyRing``)."""
        return self.keyring.authority()

    @property
    def origin(self) -> str:
        """The log's origin, ``LEDGER_ORIGIN`` (no key is read for it)."""
        return self.keyring.origin

    def now(self) -> dt.datetime:
        """The server clock (one place to read it)."""
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        """The jurisdiction's date now (its LEDGER_TIMEZONE, not UTC's)."""
        return self.params.today(self.now())

    def integrate_quietly(self) -> None:
        """Integrate pending events (a write's, just committed) unless another integrator
        holds the lock.

        Threads of one process take turns, and a thread whose event an integration begun
        after its commit has taken does not run another: under a burst of writes each waits
        for at most two integrations instead of queueing for the log one by one.
        """
        asked = self._rounds  # read after this thread's commit
        if not self._integrating.acquire(timeout=30):
            return  # the scheduler's next run takes the event
        try:
            if self._rounds > asked:  # begun after the commit: it read the event
                return
            self._rounds += 1
            with transaction(self.engine) as session:
                log.integrate(session, wait=False)
        finally:
            self._integrating.release()

    def integrate_soon(self) -> None:
        """Wake this process's integrator thread; it integrates whatever is committed by
        then, so a burst of writes costs one integration, and no request waits for it."""
        pid = os.getpid()
        with _STARTING:
            if self._closed:
                return  # the scheduler's next run takes the event
            if self._background is None or not self._background.serves(pid):
                self._background = BackgroundIntegrator(self)  # first use after a fork
                self._background.start()
        self._background.wake()

    def close(self) -> None:
        """Stop this process's integrator thread (after its integration in progress, if
        any; no other starts), then close the engine's connections, each one still in use
        as it is given back (``ledger.store.close_engine``)."""
        with _STARTING:
            background, self._background, self._closed = self._background, None, True
        if background is not None and background.serves(os.getpid()):
            background.stop()
        close_engine(self.engine)


_STARTING = threading.Lock()


# After an integration the thread rests this long before the next: a write after a quiet
# spell is integrated at once, and under a stream of writes the log takes them in batches.
# bench/load.py, SQLite, refused checks (they write): 320–329/s with no rest, 447/s with
# 0.25 s, 425/s with 1 s (2026-12-04); PostgreSQL 360 → 385/s, within its noise.
logger = logging.getLogger(__name__)
BATCH_GAP_SECONDS = 0.25
RETRY_MAX_SECONDS = 30.0  # the background integrator's longest wait between failed tries


class BackgroundIntegrator(threading.Thread):
    """A process's integrator thread (``INTEGRATE_AFTER_WRITE=background``): sleeps until a
    write wakes it, integrates everything committed, rests ``BATCH_GAP_SECONDS`` and sleeps
    again. A failure is retried after 2, 4, 8 … 30 s and logged sparingly; the events are
    committed, and the scheduler integrates on its own cadence too, so none is ever lost;
    the log's advisory lock keeps two integrators from doing anything twice."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(name="ledger-integrator", daemon=True)
        self.rt, self.pid, self.woken = rt, os.getpid(), threading.Event()
        self.stopping = threading.Event()

    def serves(self, pid: int) -> bool:
        """Whether this thread runs in process ``pid`` (threads do not survive a fork)."""
        return self.pid == pid and self.is_alive()

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        """End the thread after what it is doing (an integration, or the rest after one;
        a wait before a retry ends at once), and wait for it."""
        self.stopping.set()
        self.woken.set()
        self.join()

    def run(self) -> None:
        failures = 0  # in a row
        while True:
            self.woken.wait()
            if self.stopping.is_set():
                return
            self.woken.clear()  # a write committed from here on wakes it once more
            try:
                self.rt.integrate_quietly()
            except Exception as exc:
                failures += 1
                _log_failure(exc, failures)
                self.stopping.wait(min(2.0**failures, RETRY_MAX_SECONDS))  # 2, 4, 8 … 30 s
                self.woken.set()
                continue
            if failures:
                logger.warning("background integration works again after %d failures", failures)
                failures = 0
            time.sleep(BATCH_GAP_SECONDS)  # writes of the gap wait to be one batch


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _log_failure(exc: Exception, failures: int) -> None:
    """The first failure of a run of them, in full (a traceback unless the database is
    down: that is one line, as the scheduler's); then one line every 2ⁿ-th, so a long
    outage is a few lines per worker, not one traceback a second."""
    if failures & (failures - 1):
        return  # not a power of two
    if isinstance(exc, OperationalError):
        logger.error(
            "background integration failed (%d in a row): database unavailable, will retry: %s",
            failures, _first_line(exc.orig if exc.orig is not None else exc),
        )  # fmt: skip
    elif failures == 1:
        logger.exception("background integration failed, will retry")
    else:
        logger.error("background integration failed (%d in a row): %r", failures, exc)


def build_authority(
    keys_dir: Path, origin: str, base_url: str, engine: Engine | None = None
) -> Authority:
    """Load (or create on first run) the server and registry keys; with ``engine``, a key
    file is created only if the ledger holds nothing it would have signed (KeyFileError)."""
    missing = [
        name for name in (SERVER_KEY_FILE, REGISTRY_KEY_FILE) if not (keys_dir / name).exists()
    ]
    if missing and engine is not None:
        _refuse_new_keys_for_an_old_ledger(engine, keys_dir, origin, missing)
    return Authority(
        server=load_or_create_signer(keys_dir / SERVER_KEY_FILE, origin),
        registry=load_or_create_signer(keys_dir / REGISTRY_KEY_FILE, "registry"),
        base_url=base_url,
        origin=origin,
    )


def _refuse_new_keys_for_an_old_ledger(
    engine: Engine, keys_dir: Path, origin: str, missing: list[str]
) -> None:
    """A key file missing from a ledger that already holds its signatures is a wrong
    LEDGER_KEYS_DIR or a lost key, never a first run: a new key would sign checkpoints no
    auditor can verify, or label codes every scan would take for forged. A rotation of the
    checkpoint key (its predecessor kept in ``retired/``, docs/deploy.md §9) may make one.
    A database that cannot be asked raises its own error (a 503, one line for a command);
    a SQLite file not made yet holds nothing signed, as a database not migrated yet."""
    try:
        with transaction(engine, write=False) as session:
            in_use = [name for name in key_files_in_use(session) if name in missing]
    except OperationalError as exc:
        if not no_database_file(exc):
            raise
        in_use = []
    if SERVER_KEY_FILE in in_use and retired_verifiers(keys_dir / RETIRED_DIR, origin):
        in_use.remove(SERVER_KEY_FILE)  # rotated: the old checkpoints verify with retired/
    if in_use:
        raise KeyFileError(
            f"密钥目录 {keys_dir} 中没有 {', '.join(in_use)}，但数据库已有它签过的记录：请检查 "
            f"LEDGER_KEYS_DIR，或从备份恢复密钥；未创建新密钥 / {', '.join(in_use)} missing from "
            f"{keys_dir}, but the database already holds what it signed (checkpoints, label "
            "codes): check LEDGER_KEYS_DIR or restore the key from a backup (docs/deploy.md); "
            "no new key was created, it would not verify them"
        )


def init_app(app: Flask) -> None:
    """Create the engine once per application; the keys are read on first use (KeyRing)."""
    cfg = app.config
    engine = make_engine(
        cfg["DATABASE_URL"],
        background_checkpoints=True,
        busy_timeout=cfg["SQLITE_BUSY_TIMEOUT_SECONDS"],
        existing_file_only=True,  # a mistyped SQLite path is an error, not a new empty file
    )
    app.extensions["ledger"] = Runtime(
        engine=engine,
        keyring=KeyRing(
            Path(cfg["KEYS_DIR"]), cfg["LEDGER_ORIGIN"], cfg["PUBLIC_BASE_URL"], engine
        ),
        integrate_after_write=cfg["INTEGRATE_AFTER_WRITE"],
        integrate_in_background=cfg.get("INTEGRATE_IN_BACKGROUND", False),
        keys_dir=Path(cfg["KEYS_DIR"]),
        params=replace(  # the city's clock is LEDGER_TIMEZONE's, whatever the file says
            load_jurisdiction(cfg.get("JURISDICTION"), Path(app.instance_path)),
            time_zone=cfg["LOCAL_TIMEZONE"],
        ),
    )


def runtime() -> Runtime:
    """The current application's runtime."""
    rt: Runtime = current_app.extensions["ledger"]
    return rt
