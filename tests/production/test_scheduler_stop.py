"""systemd stops the scheduler with SIGTERM: it says so, lets its running jobs finish and
exits 0 (it used to die silently at once, mid-job)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler

from app import scheduler as scheduler_module
from tests.reliability.server import BIN, ROOT, flask, seed, server_env


@pytest.fixture
def own_handlers() -> Iterator[None]:
    """The test process's SIGTERM and SIGINT handlers, put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


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
        while "job done" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)  # until its first runs are under way
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert '"signal": "SIGTERM"' in text and "scheduler stopping" in text
    assert "scheduler stopped" in text and "Traceback" not in text


def test_a_signal_before_the_scheduler_runs_ends_the_process_at_once(own_handlers: None) -> None:
    # Between the handlers' installation and the scheduler's start a stop was dropped: the
    # process went on running its jobs until killed.
    scheduler = BlockingScheduler()
    scheduler_module._stop_on_signals(scheduler)
    stop = signal.getsignal(signal.SIGTERM)
    assert callable(stop)
    with pytest.raises(SystemExit) as ended:
        stop(signal.SIGTERM, None)
    assert ended.value.code == 0
    stop(signal.SIGTERM, None)  # a second signal while stopping: nothing more
