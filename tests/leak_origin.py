"""A psycopg connection collected while open is reported with the test and code that opened it.

psycopg warns (``ResourceWarning``) when a connection it does not pool is garbage-collected
still open. Raised from a finaliser, that warning reached the suite as pytest's "Exception
ignored in: <function …>", failing whichever test the collector happened to run in, with
the opener's name only in the full report: CI's summary showed neither (seen on 2026-12-07
in the schemathesis test, and on 2026-12-08 in a checklist test). Each connection now
records the test that opened it and its caller frames (a few microseconds a connection);
the finaliser keeps the report instead of warning, and the suite's teardown hook
(``tests/conftest.py``) fails the running test with it, opener first.

``LEAK_HUNT=1`` collects garbage after each test file's last test, so that a leak is
reported in the file that made it, not minutes later: a diagnostic run.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

import psycopg

_FRAMES = 14
_LIBRARIES = ("site-packages", "dist-packages")
_leaks: list[str] = []  # reports of connections collected open, oldest first


def _origin() -> str:
    """The running test, the thread, and the nearest frames of this repository's code."""
    frame, lines = sys._getframe(1).f_back, []  # the connect call's caller: None on a bare thread
    while frame is not None and len(lines) < _FRAMES:
        name = frame.f_code.co_filename
        if not any(folder in name for folder in _LIBRARIES):  # not SQLAlchemy's pool, pytest…
            lines.append(f"  {name}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    test = os.environ.get("PYTEST_CURRENT_TEST", "no test running")
    thread = threading.current_thread().name
    return f"opened during {test} on thread {thread}, from\n" + "\n".join(lines)


def take_leaks(of: str = "") -> list[str]:
    """The reports kept since the last call, of connections opened by the test ``of``
    names (all when empty); the others stay for the teardown hook to report."""
    taken = [report for report in _leaks if f"opened during {of}" in report]
    for report in taken:
        _leaks.remove(report)
    return taken


def install() -> None:
    """Wrap psycopg.Connection's connect and finaliser (once per process)."""
    cls: Any = psycopg.Connection
    if getattr(cls, "_origin_recorded", False):
        return
    connect, finalise = cls.connect.__func__, cls.__del__

    @functools.wraps(connect)
    def recording_connect(klass: Any, *args: Any, **kwargs: Any) -> Any:
        conn = connect(klass, *args, **kwargs)
        conn._opened_at = _origin()
        return conn

    def reporting_finaliser(self: Any) -> None:
        if hasattr(self, "pgconn") and not self.closed and not hasattr(self, "_pool"):
            where = getattr(self, "_opened_at", "opened before the suite recorded it")
            _leaks.append(f"a PostgreSQL connection was collected still open, {where}")
            return
        finalise(self)

    cls.connect = classmethod(recording_connect)
    psycopg.connect = cls.connect  # the module's name was bound to the original at import
    cls.__del__ = reporting_finaliser
    cls._origin_recorded = True
