"""A station's sync is streamed (its cylinders' stored states sent as stored, read in
batches) and gzipped when accepted, and is the same document as when it was built whole;
a database failing once the answer has begun never yields a valid document; one failing
before it answers 503 problem+json."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app import streaming
from app.runtime import Runtime, runtime
from ledger import station_sync
from ledger.store import streaming_reads, transaction
from tests.conftest import bearer
from tests.flows import event, register

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _path(demo: dict[str, Any]) -> str:
    return f"/api/v1/stations/{demo['stations']['a']}/sync"


def _get(client: Any, demo: dict[str, Any], since: str | None = None, **headers: str) -> Any:
    query = {"since": since} if since else None
    auth = bearer(demo["tokens"]["station_a"])
    return client.get(_path(demo), query_string=query, headers={**auth, **headers})


def _built_whole(app: Any, demo: dict[str, Any], since: dt.datetime | None) -> Any:
    """The document as the view made it before streaming: every state parsed, the whole
    document encoded by Flask's JSON provider, then parsed as a client does."""
    with app.test_request_context():
        rt = runtime()
        with transaction(rt.engine, write=False) as session:
            doc = station_sync.snapshot(
                session, rt.authority, demo["stations"]["a"], rt.now(), rt.params, since
            )
        return json.loads(app.json.response(doc).get_data())


@pytest.fixture
def varied(client: Any, demo: dict[str, Any]) -> dict[str, str]:
    """Cylinders of every kind the document holds: A's own (one relabelled, one condemned),
    B's scrapped one (the deny list), one of A's transferred to B."""
    codes = {k: register(client, demo) for k in ("plain", "relabel", "condemn", "transfer")}
    codes["theirs"] = register(client, demo, who="enterprise_b")
    new_code = "RS" + codes["relabel"][:8]
    steps = [
        ("relabel", "enterprise_a", "relabelled", {"new_code": new_code}),
        ("condemn", "inspector", "inspected", {"result": "fail"}),
        ("theirs", "inspector", "scrapped", {}),
        ("transfer", "enterprise_a", "ownership_transferred",
         {"to_enterprise": demo["enterprises"]["b"]}),
    ]  # fmt: skip
    for key, who, kind, payload in steps:
        resp = event(client, demo, codes[key], who, kind, payload)
        assert resp.status_code == 201, resp.get_json()
    return codes


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's clock stopped, so two documents carry the same ``generated_at``."""
    monkeypatch.setattr(Runtime, "now", lambda _self: NOW)


def test_the_streamed_sync_is_the_document_built_whole(
    app: Any, client: Any, demo: dict[str, Any], varied: dict[str, str], clock: None
) -> None:
    resp = _get(client, demo)
    assert resp.status_code == 200 and resp.is_streamed and resp.mimetype == "application/json"
    assert "Content-Encoding" not in resp.headers and "Accept-Encoding" in resp.vary
    doc = json.loads(resp.get_data())
    assert doc == _built_whole(app, demo, None)
    assert len(doc["cylinders"]) >= 4 and doc["deny"] and doc["retired_codes"]
    assert doc["generated_at"] == NOW.isoformat()
    before = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    since = json.loads(_get(client, demo, before.isoformat()).get_data())
    assert since == _built_whole(app, demo, before)
    moved = {c["code"]: c["owner_id"] for c in since["cylinders"]}
    assert moved[varied["transfer"]] == demo["enterprises"]["b"]  # transferred away: it comes


def test_states_stored_compact_give_the_very_bytes_of_the_document_built_whole(
    app: Any, client: Any, demo: dict[str, Any], varied: dict[str, str], clock: None
) -> None:
    """Every state here was written by this projection (sorted keys, no spaces): the body
    is byte for byte what Flask's JSON encoder made of the whole document."""
    with app.test_request_context():
        rt = runtime()
        with transaction(rt.engine, write=False) as session:
            doc = station_sync.snapshot(
                session, rt.authority, demo["stations"]["a"], rt.now(), rt.params
            )
        whole = app.json.response(doc).get_data()
    assert _get(client, demo).get_data() == whole


def test_a_sync_with_nothing_changed_is_the_same_document(
    app: Any, client: Any, demo: dict[str, Any], clock: None
) -> None:
    resp = _get(client, demo, "2999-01-01T00:00:00")
    doc = json.loads(resp.get_data())
    assert doc["cylinders"] == [] and doc == _built_whole(
        app, demo, dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
    )


def test_the_sync_is_gzipped_for_a_client_that_accepts_it(
    client: Any, demo: dict[str, Any], varied: dict[str, str], clock: None
) -> None:
    plain = _get(client, demo, **{"Accept-Encoding": "identity"})
    packed = _get(client, demo, **{"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.vary
    assert gzip.decompress(packed.get_data()) == plain.get_data()
    refused = _get(client, demo, **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_the_states_are_sent_as_stored(
    app: Any, client: Any, demo: dict[str, Any], varied: dict[str, str]
) -> None:
    """Not parsed and encoded again: each stored text is in the body as it is."""
    body = _get(client, demo).get_data(as_text=True)
    with transaction(app.extensions["ledger"].engine, write=False) as session:
        stored = session.execute(
            text("SELECT state FROM cylinder_states WHERE owner_id = :a"),
            {"a": demo["enterprises"]["a"]},
        ).scalars()
        assert all(state in body for state in stored)


def failing_after_first(real: Any, app: Any) -> Any:
    """``state_batches`` one state at a time that fails after the first: on PostgreSQL its
    connection is terminated (the next FETCH fails), on SQLite the error is raised."""

    def batches(session: Any, statement: Any, size: int = 1) -> Iterator[list[str]]:
        rows = real(session, statement, 1)
        yield next(rows)
        if session.get_bind().dialect.name == "postgresql":
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with app.extensions["ledger"].engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            yield from rows
        raise OperationalError("FETCH FORWARD 1", {}, Exception("connection lost"))

    return batches


# psycopg leaves a server-side cursor open when its connection died under it, and warns
# when the cursor is collected (ResourceWarning, raised in ``__del__``): collected here.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*ServerCursorMixin:pytest.PytestUnraisableExceptionWarning"
)
def test_a_database_failing_mid_stream_never_gives_a_valid_document(
    app: Any, client: Any, demo: dict[str, Any], varied: dict[str, str], monkeypatch: Any
) -> None:
    real = station_sync.state_batches
    monkeypatch.setattr(station_sync, "state_batches", failing_after_first(real, app))
    monkeypatch.setattr(streaming, "PIECE", 1)  # send each piece at once
    sessions: list[Any] = []

    def reads(engine: Any) -> Any:
        sessions.append(streaming_reads(engine))
        return sessions[-1]

    monkeypatch.setattr(streaming, "streaming_reads", reads)
    sent: list[bytes] = []
    resp = _get(client, demo, **{"Accept-Encoding": "identity"})
    assert resp.status_code == 200  # the answer had begun
    failed = False
    try:
        for piece in resp.response:
            sent.append(piece)
    except OperationalError:
        failed = True  # not kept: its frames hold the dead cursor, collected below
    assert failed
    body = b"".join(sent)
    assert body.startswith(b'{"cylinders":[{') and b'"station"' not in body  # cut short
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    resp.close()
    gc.collect()
    assert len(sessions) == 1 and not sessions[0].in_transaction()  # closed: connection back


def test_an_answer_never_read_gives_its_cursor_and_connection_back(
    client: Any, demo: dict[str, Any], varied: dict[str, str], monkeypatch: Any
) -> None:
    """A HEAD, or a client gone before the body: the stream is closed unread. A server-side
    cursor left open warns when collected (ResourceWarning: an error in this suite)."""
    sessions: list[Any] = []

    def reads(engine: Any) -> Any:
        sessions.append(streaming_reads(engine))
        return sessions[-1]

    monkeypatch.setattr(streaming, "streaming_reads", reads)
    monkeypatch.setattr(station_sync, "BATCH", 1)
    for method in (client.get, client.head):
        resp = method(_path(demo), headers=bearer(demo["tokens"]["station_a"]))
        assert resp.status_code == 200
        resp.close()
    gc.collect()
    assert len(sessions) == 2 and not any(s.in_transaction() for s in sessions)


def test_a_database_failing_before_the_answer_is_a_503_problem(
    client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    def down(*_args: Any, **_kw: Any) -> Iterator[list[str]]:
        raise OperationalError("SELECT", {}, Exception("could not connect"))
        yield []  # pragma: no cover

    monkeypatch.setattr(station_sync, "state_batches", down)
    resp = _get(client, demo)
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"] and resp.get_json()["status"] == 503


def test_refusals_come_before_the_stream_as_problems(client: Any, demo: dict[str, Any]) -> None:
    other = client.get(_path(demo), headers=bearer(demo["tokens"]["station_b"]))
    assert other.status_code == 403 and other.mimetype == "application/problem+json"
    missing = client.get(
        "/api/v1/stations/999999/sync", headers=bearer(demo["tokens"]["station_a"])
    )
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    bad = _get(client, demo, "not a time")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
