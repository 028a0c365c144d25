"""A station's offline cache as a streamed answer: read in batches, sent as it is read,
gzipped for a client that accepts it, never held whole by the worker.

The view does the permission check and the small reads (``station_sync.prepare``) in its
own transaction, then ``station_cache`` opens the long read and fetches the first batch
before answering: a database that is down by then is still app/outage.py's 503. Once the
first byte is sent the status is 200 whatever follows, so a read failing later ends the
stream without its closing brace (``station_sync.document``) and the error propagates to
the server, which cuts the connection (gunicorn, werkzeug): the client sees an
incomplete body or invalid JSON, never a valid partial cache.
"""

from __future__ import annotations

import functools
import itertools
import time
import zlib
from collections.abc import Callable, Iterable, Iterator

from flask import Response, current_app, request, stream_with_context
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ledger import station_sync
from ledger.store import streaming_reads

# zlib level 3: 67 MB of synthetic states (bench/sync.py --gzip-levels) became 5.9 MB (11x)
# in 0.26 s on one core; level 1 6.1 MB in as long, level 6 5.2 MB in 0.7 s.
GZIP_LEVEL = 3
PIECE = 64 * 1024  # bytes gathered before a piece is handed to the server


def station_cache(engine: Engine, prepared: station_sync.Prepared) -> Response:
    """The streamed answer of ``GET /stations/{id}/sync``; raises (before answering) when
    the first read fails."""
    session = streaming_reads(engine)
    batches = station_sync.state_batches(session, prepared.cylinders, station_sync.BATCH)

    def close() -> None:
        batches.close()  # its cursor first, while the session still holds the connection
        session.close()

    try:
        first = next(batches, [])
    except BaseException:
        close()
        raise
    dumps = functools.partial(current_app.json.dumps, separators=(",", ":"))
    text = station_sync.document(prepared.rest, itertools.chain([first], batches), dumps)
    body = _logged(_pieces((s.encode() for s in text), PIECE), close)
    gzipped = request.accept_encodings["gzip"] > 0
    response = current_app.response_class(
        stream_with_context(gzip(body) if gzipped else body), mimetype="application/json"
    )
    response.call_on_close(close)  # also when the body is never read (HEAD, a client gone)
    response.vary.add("Accept-Encoding")
    if gzipped:
        response.content_encoding = "gzip"
    return response


def gzip(chunks: Iterable[bytes], level: int = GZIP_LEVEL) -> Iterator[bytes]:
    """``chunks`` compressed as one gzip member, piece by piece; the member's trailer only
    once every chunk was read."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    yield packer.flush()


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Chunks joined into pieces of at least ``size`` bytes (fewer writes to the socket)."""
    held: list[bytes] = []
    length = 0
    for chunk in chunks:
        held.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(held)
            held, length = [], 0
    if held:
        yield b"".join(held)


def _logged(body: Iterable[bytes], close: Callable[[], None]) -> Iterator[bytes]:
    """The body, with one log line when it was sent whole or when a read failed."""
    started, sent = time.perf_counter(), 0
    try:
        for piece in body:
            sent += len(piece)
            yield piece
    except DBAPIError as exc:
        current_app.logger.warning(
            "station sync cut short after %d bytes: the database failed: %s", sent, str(exc.orig)
        )
        raise
    finally:
        close()
    ms = (time.perf_counter() - started) * 1000
    current_app.logger.info("station sync sent %d bytes in %.0f ms", sent, ms)
