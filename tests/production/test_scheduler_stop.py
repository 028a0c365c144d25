"""systemd stops the scheduler with SIGTERM: it says so, lets its running jobs finish and
exits 0 (it used to die silently at once, mid-job)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.reliability.server import BIN, ROOT, flask, seed, server_env


def test_sigterm_stops_the_scheduler_cleanly_and_says_so(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path)
    flask(env, "db", "upgrade")
    seed(env)
    log = tmp_path / "scheduler.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "jobs", "run", "--every", "0.5"],
            cwd=ROOT, env=env, start_new_session=True, stdout=sink, stderr=sink,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "scheduler started" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        time.sleep(1.0)  # its first runs under way
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert '"signal": "SIGTERM"' in text and "scheduler stopping" in text
    assert "scheduler stopped" in text and "Traceback" not in text
