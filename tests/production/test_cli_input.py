"""The operator's commands with a database away or a bad option: one readable line and a
non-zero exit status, never a traceback, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_flask(
    tmp_path: Path, *args: str, database: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi ARGS`` on a ledger in ``tmp_path``, with these settings too."""
    env = {
        **os.environ,
        "DATABASE_URL": database or f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "LEDGER_INSTANCE": str(tmp_path / "instance"),
        "LEDGER_KEYS_DIR": str(tmp_path / "keys"),
        **settings,
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "command",
    [
        ("ledger", "integrate"), ("ledger", "checkpoint"), ("ledger", "rebuild-states"),
        ("ledger", "register-event-ids"),
    ],
)  # fmt: skip
def test_a_database_that_cannot_be_reached_is_one_line_not_a_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = run_flask(tmp_path, *command, database="postgresql://postgres@127.0.0.1:1/test")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "数据库不可用或出错" in done.stderr and "Connection refused" in done.stderr
    assert "run the command again once it answers" in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--every", "nan", "must be 0.1 to 3600 seconds, got nan"),
        ("--every", "-1", "must be 0.1 to 3600 seconds, got -1"),
        ("--every", "0", "must be 0.1 to 3600 seconds, got 0"),
        ("--sweep-every", "inf", "must be 60 to 86400 seconds, got inf"),
    ],
)
def test_the_scheduler_refuses_an_interval_it_cannot_keep(
    tmp_path: Path, option: str, value: str, says: str
) -> None:
    done = run_flask(tmp_path, "jobs", "run", option, value)
    assert done.returncode == 2, done.stderr
    assert f"{says}\n" in done.stderr and "Traceback" not in done.stderr
    assert "scheduler started" not in done.stderr


def test_the_audit_refuses_no_workers(tmp_path: Path) -> None:
    done = run_flask(tmp_path, "ledger", "audit", "--workers", "0")
    assert done.returncode == 2, done.stderr
    assert "--workers" in done.stderr and "Traceback" not in done.stderr
