"""A damaged server key stops the web workers at their start, naming the file, rather
than failing the first request that signs (keys load on first use: app.runtime.KeyRing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gunicorn_does_not_start_with_a_damaged_server_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "server.key").write_text("not a key\n")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "LEDGER_INSTANCE": str(tmp_path / "instance"),
        "LEDGER_KEYS_DIR": str(keys),
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    done = subprocess.run(gunicorn, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert f"bad key file {keys / 'server.key'}" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_gunicorn_does_not_start_when_the_keys_folder_cannot_be_used(tmp_path: Path) -> None:
    """A keys "folder" that is a file (as unusable as one the service may not read): one
    line naming the key file, no traceback, no worker serving."""
    keys = tmp_path / "keys"
    keys.write_text("a file where the keys folder should be\n")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "LEDGER_INSTANCE": str(tmp_path / "instance"),
        "LEDGER_KEYS_DIR": str(keys),
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    done = subprocess.run(gunicorn, cwd=ROOT, env=env, capture_output=True, timeout=60)
    stderr = done.stderr.decode()
    assert done.returncode != 0
    assert f"cannot read or create {keys / 'server.key'}" in stderr
    assert "Traceback" not in stderr
