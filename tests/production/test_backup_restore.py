"""A backup restored elsewhere is proven by `ledger audit` (docs/deploy.md §8)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.jobs import integrate_and_checkpoint
from tests import flows
from tests.conftest import PG_URL


def _audit(app: Any, url: str, tmp_path: Path) -> tuple[int, str]:
    restored = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path / "restored-instance"),
            "KEYS_DIR": app.config["KEYS_DIR"],  # the keys are backed up with the database
            "LEDGER_ORIGIN": app.config["LEDGER_ORIGIN"],
            "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        }
    )
    result = restored.test_cli_runner().invoke(args=["ledger", "audit", "--workers", "1"])
    restored.extensions["ledger"].engine.dispose()
    return result.exit_code, result.output


def _some_history(app: Any, client: Any, demo: Any) -> None:
    code = flows.register(client, demo, last_inspected_on="2026-01-10")
    assert flows.check(client, demo, code).get_json()["allowed"] is True
    theirs = flows.register(client, demo, who="enterprise_b")
    assert flows.check(client, demo, theirs).get_json()["allowed"] is False
    assert integrate_and_checkpoint(app)["status"] == "done"


def test_a_restored_backup_audits_clean_and_a_tampered_one_does_not(
    app: Any, client: Any, demo: Any, db_url: str, tmp_path: Path
) -> None:
    _some_history(app, client, demo)
    if db_url.startswith("sqlite"):
        source = db_url.removeprefix("sqlite:///")
        copy = tmp_path / "restored.sqlite3"
        with sqlite3.connect(source) as live, sqlite3.connect(copy) as backup:
            live.backup(backup)  # what `sqlite3 … ".backup"` does, safe while serving
        url = f"sqlite:///{copy}"
        code, out = _audit(app, url, tmp_path)
        assert code == 0 and "OK" in out, out
        with sqlite3.connect(copy) as db:  # an insider edits the restored copy
            db.execute("DROP TRIGGER IF EXISTS events_no_update")
            db.execute("UPDATE events SET payload = replace(payload, '1', '2') WHERE seq = 1")
        code, out = _audit(app, url, tmp_path)
        assert code == 1 and "FAILED" in out, out
        return
    _restore_pg(app, db_url, tmp_path)


def _restore_pg(app: Any, db_url: str, tmp_path: Path) -> None:
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed")
    assert PG_URL is not None
    parts = urlsplit(db_url)  # the test's own database
    conn = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres"]  # fmt: skip
    dump = tmp_path / "ledger.dump"
    subprocess.run(["pg_dump", *conn, "-d", parts.path.lstrip("/"), "-Fc", "-f", dump], check=True)
    database = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {database}"))
    try:
        subprocess.run(
            ["pg_restore", *conn, "-d", database, "--no-owner", "--exit-on-error", dump],
            check=True,
        )
        base = urlunsplit(parts._replace(path=f"/{database}"))
        code, out = _audit(app, base, tmp_path)
        assert code == 0 and "OK" in out, out
        restored = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
        # The append-only triggers came back with the schema.
        with restored.begin() as c, pytest.raises(Exception, match="append-only"):
            c.execute(text("UPDATE events SET type = 'x'"))
        restored.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()
