"""A test's served app stops only after the responses in flight are sent (tests/live_wsgi.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx

from tests.live_wsgi import ServedApp


def test_stop_waits_for_a_streamed_response_still_being_sent() -> None:
    streaming, release = threading.Event(), threading.Event()

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first,"
        streaming.set()
        assert release.wait(timeout=30)  # the body holds its resources until sent
        yield b"last"

    served = ServedApp(app)
    got: list[bytes] = []
    reader = threading.Thread(
        target=lambda: got.append(httpx.get(f"http://127.0.0.1:{served.port}/").content)
    )
    reader.start()
    assert streaming.wait(timeout=10) and served.in_flight() == 1
    stopper = threading.Thread(target=served.stop)
    stopper.start()
    stopper.join(timeout=0.2)
    assert stopper.is_alive()  # the response is not sent yet
    release.set()
    stopper.join(timeout=30)
    reader.join(timeout=30)
    assert not stopper.is_alive() and served.in_flight() == 0
    assert got == [b"first,last"]


def test_a_request_that_raises_is_counted_out() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("the app failed")

    served = ServedApp(app)
    response = httpx.get(f"http://127.0.0.1:{served.port}/")
    assert response.status_code == 500  # werkzeug's own answer to a failing app
    served.stop()
    assert served.in_flight() == 0
