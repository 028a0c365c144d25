"""INTEGRATE_AFTER_WRITE=background: a write wakes its process's integrator thread and
answers without waiting; the log still takes every event, and a failing integration is
retried, never lost (issue 7)."""

from __future__ import annotations

import logging
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger import log
from ledger.model import Event
from ledger.store import transaction
from tests import flows


def _pending(app: Any) -> int:
    """Committed events the log has not taken yet."""
    with app.app_context(), transaction(app.extensions["ledger"].engine) as session:
        events = session.execute(select(func.count()).select_from(Event)).scalar_one()
        return int(events) - log.log_state(session).size


def _wait_integrated(app: Any, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while (left := _pending(app)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.fixture
def background(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The app in background mode; the names of the threads that ran an integration."""
    app.extensions["ledger"].integrate_in_background = True
    threads: list[str] = []
    real = log.integrate

    def integrate(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(log, "integrate", integrate)
    return threads


@pytest.mark.parametrize(
    ("value", "after", "behind"),
    [("1", True, False), ("background", True, True), ("0", False, False)],
)
def test_the_setting_names_the_mode(
    value: str, after: bool, behind: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import create_app

    monkeypatch.setenv("INTEGRATE_AFTER_WRITE", value)
    web = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'l.sqlite3'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "KEYS_DIR": str(tmp_path / "keys"),
        }
    )
    rt = web.extensions["ledger"]
    assert (rt.integrate_after_write, rt.integrate_in_background) == (after, behind)
    rt.engine.dispose()


def test_writes_are_integrated_by_the_thread_not_the_request(
    app: Any, client: Any, demo: Any, background: list[str]
) -> None:
    codes = [flows.register(client, demo) for _ in range(3)]
    theirs = flows.register(client, demo, who="enterprise_b")
    blocked = flows.check(client, demo, theirs)
    assert blocked.status_code == 200 and blocked.get_json()["allowed"] is False
    assert flows.check(client, demo, codes[0]).get_json()["allowed"] is True
    assert _wait_integrated(app) == 0
    assert background and set(background) == {"ledger-integrator"}


def test_a_failed_integration_is_retried_and_loses_nothing(
    app: Any, client: Any, demo: Any, background: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = log.integrate
    failures = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(threading.current_thread().name)
            raise RuntimeError("the database went away for a moment")
        return real(*args, **kwargs)

    monkeypatch.setattr(log, "integrate", flaky)
    flows.register(client, demo)
    assert _wait_integrated(app) == 0  # the retry a second later took it
    assert failures == ["ledger-integrator"]


def test_a_write_after_a_quiet_spell_goes_at_once_and_writes_in_the_rest_are_one_batch(
    app: Any, client: Any, demo: Any, background: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import runtime

    # The thread's rest ends when the test opens it, not after a time a loaded machine may
    # overrun (three registrations took longer than a 3 s rest once in CI).
    resting, rest_over = threading.Event(), threading.Event()

    def rest(seconds: float) -> None:
        assert seconds == runtime.BATCH_GAP_SECONDS
        resting.set()
        assert rest_over.wait(timeout=30)

    monkeypatch.setattr(
        runtime, "time", types.SimpleNamespace(sleep=rest, monotonic=time.monotonic)
    )
    flows.register(client, demo)
    assert _wait_integrated(app, seconds=30.0) == 0  # not held back by the rest
    assert resting.wait(timeout=30) and len(background) == 1
    for _ in range(3):  # while the thread rests after the first integration
        flows.register(client, demo)
    assert _pending(app) == 3
    rest_over.set()
    assert _wait_integrated(app) == 0
    assert len(background) == 2  # the three in one integration


def test_a_database_outage_is_a_few_lines_with_growing_waits_not_a_traceback_a_second(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    from app import runtime

    down, done = 9, threading.Event()
    waits: list[float] = []

    class Runtime:  # its database down for nine tries, then back
        tries = 0

        def integrate_quietly(self) -> None:
            self.tries += 1
            if self.tries <= down:
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused\nmore"))
            done.set()

    class Stopping(threading.Event):  # the waits before a retry, recorded, not waited
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    fake_time = types.SimpleNamespace(sleep=lambda _s: None, monotonic=time.monotonic)
    monkeypatch.setattr(runtime, "time", fake_time)
    caplog.set_level(logging.WARNING, logger="app.runtime")
    thread = runtime.BackgroundIntegrator(Runtime())  # type: ignore[arg-type]
    thread.stopping = Stopping()
    thread.start()
    thread.wake()
    assert done.wait(timeout=10)
    deadline = time.monotonic() + 5
    while not any("works again" in r.message for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert waits[:down] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"background integration failed ({n} in a row): database unavailable, will retry: refused"
        for n in (1, 2, 4, 8)
    ] + ["background integration works again after 9 failures"]
    assert not any(r.exc_info for r in caplog.records)


def test_a_failure_with_no_message_is_still_one_line(caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy.exc import OperationalError

    from app.runtime import _log_failure

    caplog.set_level(logging.WARNING, logger="app.runtime")
    _log_failure(OperationalError("SELECT 1", {}, ConnectionRefusedError()), 1)
    assert caplog.messages == [
        "background integration failed (1 in a row): database unavailable, will retry:"
        " ConnectionRefusedError"
    ]


def test_closing_the_runtime_waits_for_the_integration_in_progress_then_ends_the_thread(
    app: Any, client: Any, demo: Any, background: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is disposed only after the thread has given its connection back: one
    given back to the pool a dispose had dropped would be left open (seen in CI as a
    connection collected open, 2026-12-08)."""
    entered, release = threading.Event(), threading.Event()
    real = log.integrate

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(log, "integrate", held)
    flows.register(client, demo)
    assert entered.wait(timeout=10)
    rt = app.extensions["ledger"]
    thread, in_use_at_dispose = rt._background, []
    real_dispose = rt.engine.dispose

    def dispose(*args: Any, **kwargs: Any) -> None:
        in_use_at_dispose.append(rt.engine.pool.checkedout())  # the pool it drops
        real_dispose(*args, **kwargs)

    monkeypatch.setattr(rt.engine, "dispose", dispose)
    closer = threading.Thread(target=rt.close)
    closer.start()
    closer.join(timeout=0.2)
    assert closer.is_alive()  # waiting for the integration, which holds a connection
    release.set()
    closer.join(timeout=30)
    assert not closer.is_alive() and not thread.is_alive()
    assert in_use_at_dispose == [0]  # the thread had given its connection back
    assert _pending(app) == 0  # the integration it waited for finished
    flows.register(client, demo)  # a write after the close starts no thread
    assert rt._background is None and _pending(app) == 1
