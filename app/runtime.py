"""Per-application collaborators: the database engine and the ledger's keys."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from ledger import log
from ledger.authority import Authority
from ledger.errors import LedgerError
from ledger.keys import REGISTRY_KEY_FILE, SERVER_KEY_FILE, load_or_create_signer
from ledger.params import Jurisdiction
from ledger.store import make_engine, transaction


@dataclass
class Runtime:
    """What a request needs besides its input."""

    engine: Engine
    authority: Authority
    integrate_after_write: bool
    params: Jurisdiction
    _integrating: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rounds: int = field(default=0, repr=False)  # integrations begun in this process

    def now(self) -> dt.datetime:
        """The server clock (one place to read it)."""
        return dt.datetime.now(dt.UTC)

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


def build_authority(keys_dir: Path, origin: str, base_url: str) -> Authority:
    """Load (or create on first run) the server and registry keys."""
    return Authority(
        server=load_or_create_signer(keys_dir / SERVER_KEY_FILE, origin),
        registry=load_or_create_signer(keys_dir / REGISTRY_KEY_FILE, "registry"),
        base_url=base_url,
        origin=origin,
    )


def init_app(app: Flask) -> None:
    """Create the engine and keys once per application."""
    cfg = app.config
    app.extensions["ledger"] = Runtime(
        engine=make_engine(cfg["DATABASE_URL"], background_checkpoints=True),
        authority=build_authority(
            Path(cfg["KEYS_DIR"]), cfg["LEDGER_ORIGIN"], cfg["PUBLIC_BASE_URL"]
        ),
        integrate_after_write=cfg["INTEGRATE_AFTER_WRITE"],
        params=load_jurisdiction(cfg.get("JURISDICTION"), Path(app.instance_path)),
    )


def load_jurisdiction(setting: Any, instance: Path) -> Jurisdiction:
    """The jurisdiction's parameters: a dict, a JSON file path, or instance/jurisdiction.json.

    A bad file stops the start-up with a message naming the bad key, never silently
    falling back to national defaults.
    """
    if isinstance(setting, dict):
        try:
            return Jurisdiction.from_dict(setting)
        except LedgerError as exc:
            raise RuntimeError(f"JURISDICTION setting: {exc}") from exc
    path = Path(setting) if setting else instance / "jurisdiction.json"
    if not path.exists():
        if setting:
            raise RuntimeError(f"JURISDICTION file {path} does not exist")
        return Jurisdiction()
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise ValueError("the file must hold one JSON object of parameters")
        return Jurisdiction.from_dict(doc)
    except (ValueError, LedgerError) as exc:
        raise RuntimeError(f"{path}: {exc}") from exc


def runtime() -> Runtime:
    """The current application's runtime."""
    rt: Runtime = current_app.extensions["ledger"]
    return rt
