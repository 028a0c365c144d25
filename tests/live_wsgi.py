"""The app served from a thread for a test, stopped only once its requests are done.

A request still running when its test ends (a station that gave up waiting and went
offline, a browser's fetch the test did not wait for) hands its database connection back
after the ``app`` fixture has disposed the engine: into the pool the engine dropped, where
it stays open until the garbage collector finds it, minutes later, in another test
(tests/leak_origin.py). So a served app counts its requests until each response has been
sent and closed (a streamed body holds its connection until then), and ``stop`` waits for
that count to reach zero (up to WAIT_SECONDS). What it cannot see, a connection accepted
but not yet handed to the app, or a request outliving the wait, is closed as it gives its
connection back: the ``app`` fixture closes the engine with ``ledger.store.close_engine``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import ClosingIterator

WAIT_SECONDS = 30.0  # for the requests in flight at stop


class ServedApp:
    """``app`` behind werkzeug's threaded server on 127.0.0.1 (``port`` 0: a free one)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self._idle = threading.Condition()
        self._running = 0
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, self._counted, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _counted(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        with self._idle:
            self._running += 1
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return ClosingIterator(body, [self._done])

    def _done(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def in_flight(self) -> int:
        with self._idle:
            return self._running

    def stop(self) -> None:
        """Stop accepting, then wait for the requests in flight (up to WAIT_SECONDS)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=WAIT_SECONDS)
