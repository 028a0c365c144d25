"""A damaged server key, or a keys folder that cannot be used, stops the web workers at
their start with one line naming the file, rather than failing the first request that signs
(keys load on first use: app.runtime.KeyRing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start_gunicorn(tmp_path: Path, keys: Path) -> tuple[int, str]:
    """Start gunicorn (one worker) with ``keys`` as its keys folder: exit code, stderr."""
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
    return done.returncode, done.stderr.decode()


def test_gunicorn_does_not_start_with_a_damaged_server_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "server.key").write_text("not a key\n")
    code, stderr = _start_gunicorn(tmp_path, keys)
    assert code != 0
    assert f"bad key file {keys / 'server.key'}" in stderr
    assert "Traceback" not in stderr


def test_gunicorn_does_not_start_when_the_keys_folder_cannot_be_used(tmp_path: Path) -> None:
    """A keys "folder" that is a file (as unusable as one the service may not read): one
    line naming the key file, no traceback, no worker serving."""
    keys = tmp_path / "keys"
    keys.write_text("a file where the keys folder should be\n")
    code, stderr = _start_gunicorn(tmp_path, keys)
    assert code != 0
    assert f"cannot read or create {keys / 'server.key'}" in stderr
    assert "Traceback" not in stderr
