"""The ledger's WSGI app with a crash switch, for the crash tests only (never deployed).

With ``LEDGER_FAULT_DIR`` set, a keyed API write whose Idempotency-Key reads
``crash:<point>:…`` kills its worker with SIGKILL, once per key (a marker file in that
folder), at one of two points:

- ``before-answer``: the view has created its record, the answer is not stored yet (the
  gap that used to duplicate a record on retry);
- ``after-commit``: the record and its answer are committed, the client has not been
  answered yet.

A 409 for a key still claimed never crashes, and a replay only after the commit: the
key's one crash is kept for a write (with eight writes at once, a request is also killed
whenever another request's crash takes its worker down).

gunicorn's master starts a fresh worker; the test then retries with the same key.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

from flask import Response, g, request, request_finished

from app import create_app
from app.idempotency import REPLAYED

app = create_app()
FAULT_DIR = os.environ.get("LEDGER_FAULT_DIR")


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
    # Never on a 409 for a key still claimed (its request was killed with another's
    # worker), nor on a replay: the key's one crash would be spent where nothing is written.
    if response.status_code < 300 and REPLAYED not in response.headers:
        _crash_if("before-answer")  # the view has just written: its answer is not kept yet
    return response


def _answered(_app: object, response: Response, **_extra: object) -> None:
    """The final answer, after app.idempotency's after() committed (or failed to: 503)."""
    g.fault_committed = response.status_code < 300


request_finished.connect(_answered, app)


@app.teardown_request  # after the answer was committed, before it is sent
def _after_commit(_error: BaseException | None) -> None:
    if g.get("fault_committed"):  # also a replay: the first run may have died with another
        _crash_if("after-commit")
