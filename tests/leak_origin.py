"""A psycopg connection collected while open names the test and the code that opened it.

psycopg warns (``ResourceWarning``, an error under this suite's filters) when a connection
it does not pool is garbage-collected still open. The warning fails whichever test is
running when the collector gets to it, with nothing about who opened it: seen once in a
full run on 2026-12-07 (a test database's idle connection, met by the schemathesis test)
and not again in the next run. Each connection now records the test that opened it and
its caller frames (a few microseconds a connection), and the warning carries them.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from typing import Any

import psycopg

_FRAMES = 14
_LIBRARIES = ("site-packages", "dist-packages")


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

    def naming_finaliser(self: Any) -> None:
        if hasattr(self, "pgconn") and not self.closed and not hasattr(self, "_pool"):
            where = getattr(self, "_opened_at", "opened before the suite recorded it")
            warnings.warn(
                f"{object.__repr__(self)} was deleted while still open; {where}",
                ResourceWarning,
                stacklevel=1,
            )
            return
        finalise(self)

    cls.connect = classmethod(recording_connect)
    psycopg.connect = cls.connect  # the module's name was bound to the original at import
    cls.__del__ = naming_finaliser
    cls._origin_recorded = True
