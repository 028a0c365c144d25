"""The ledger's WSGI app with a crash switch, for the crash tests only (never deployed).

With ``LEDGER_FAULT_DIR`` set, a keyed API write whose Idempotency-Key reads
``crash:<point>:…`` kills its worker with SIGKILL, once per key (a marker file in that
folder), at one of two points:

- ``before-answer``: the view has created its record, the answer is not stored yet (the
  gap that used to duplicate a record on retry);
- ``after-commit``: the record and its answer are committed, the client has not been
  answered yet.

gunicorn's master starts a fresh worker; the test then retries with the same key.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

from flask import Response, request

from app import create_app

app = create_app()
FAULT_DIR = os.environ.get("LEDGER_FAULT_DIR")
POINTS = ("before-answer", "after-commit")


def _crash_if(point: str) -> None:
    key = request.headers.get("Idempotency-Key", "")
    if FAULT_DIR is None or not key.startswith(f"crash:{point}:"):
        return
    marker = Path(FAULT_DIR) / hashlib.sha256(key.encode()).hexdigest()
    if marker.exists():
        return  # this key crashed once already: the retry goes through
    marker.write_text(point)
    os.kill(os.getpid(), signal.SIGKILL)


@app.after_request  # registered last, so it runs before app.idempotency's after()
def _before_answer(response: Response) -> Response:
    _crash_if("before-answer")
    return response


@app.teardown_request  # after the answer was committed, before it is sent
def _after_commit(_error: BaseException | None) -> None:
    _crash_if("after-commit")
