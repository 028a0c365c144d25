"""Idempotency-Key on every API write: a retry within 24 h gets the first answer back.

Wired as request hooks on the API blueprint (``ledger.idempotency`` keeps the answers):
before the view, a keyed write by an authenticated actor claims its key or is answered from
the store; after the view, its answer is kept. Answers that a retry may change (401, 429,
5xx) are not kept, so the retry runs again.

The answer is stored in the same database transaction as the records it answers for: a
keyed write's views open their transaction with ``transaction`` below, which does not
commit when the view's block ends but parks the session until ``after`` has added the
answer, then commits both at once (before a byte of the answer is sent). A crash at any
point leaves either nothing (the claim frees after ``IDEMPOTENCY_CLAIM_SECONDS`` and the
retry runs afresh) or the record *and* its answer (the retry gets that answer back).
Events, cylinders and fill checks also derive their ids from the key
(``ledger.ids.idempotent_id``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app, g, has_request_context, make_response, request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from app.outage import FULL, is_disk_full, refusal
from app.problems import problem
from app.runtime import runtime
from ledger import idempotency, store
from ledger.registry import actor_for_token

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
NOT_KEPT = frozenset({401, 408, 429})
UNSURE = (
    "保存时数据库出错，本次写入可能未记录；请用同一 Idempotency-Key 重试 / the database "
    "failed while saving: retry with the same Idempotency-Key (it never records twice)"
)


PURGE_EVERY = dt.timedelta(minutes=1)  # answers past 24 h are deleted at most this often
_last_purge: dict[str, dt.datetime] = {}  # per database, in this process


def _actor_id() -> int | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    with store.transaction(runtime().engine, write=False) as session:
        actor = actor_for_token(session, token.strip())
    g.bearer_actor = (token.strip(), actor)  # app.auth takes it: one look-up per request
    return actor.id if actor is not None else None


def _purge_due(engine: Engine, now: dt.datetime) -> bool:
    """Whether this claim also deletes the answers past 24 h (once a minute per process)."""
    database = str(engine.url)
    last = _last_purge.get(database)
    if last is not None and last <= now < last + PURGE_EVERY:
        return False
    _last_purge[database] = now
    return True


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """``ledger.store.transaction``, except that a keyed write commits with its answer.

    Outside a claimed keyed request it is the plain unit of work. Inside one, the first
    write transaction is kept open after its block (the session is parked on ``g``) and
    every later transaction of the request joins it, so ``after`` commits the records and
    the answer together; an error inside any block rolls all of it back.
    """
    parked: Session | None = g.get("idempotency_session") if has_request_context() else None
    if parked is not None:
        try:
            yield parked
        except BaseException:
            g.idempotency_spoilt = True  # the answer will be an error: record nothing
            raise
        return
    if not write or not has_request_context() or g.get("idempotency") is None:
        with store.transaction(engine, write=write) as session:
            yield session
        return
    session = Session(store.writer(engine), expire_on_commit=False)
    try:
        yield session
        session.flush()
    except BaseException:
        session.rollback()
        session.close()
        raise
    g.idempotency_session = session


def after_commit(work: Callable[[], None]) -> bool:
    """Run ``work`` once this request's parked transaction has committed; False if none."""
    if not has_request_context() or g.get("idempotency_session") is None:
        return False
    g.setdefault("idempotency_after_commit", []).append(work)
    return True


def before() -> Response | None:
    """Claim the key of a keyed write, or answer a retry from the store."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in WRITES or request.blueprint != "api":
        return None
    actor_id = _actor_id()
    if actor_id is None:
        return None  # the view answers 401 (nothing to remember)
    rt = runtime()
    print_ = idempotency.fingerprint(
        request.method, request.full_path.rstrip("?"), request.get_data(cache=True)
    )
    stale = dt.timedelta(seconds=current_app.config.get("IDEMPOTENCY_CLAIM_SECONDS", 30))
    try:
        with store.transaction(rt.engine) as session:
            # A claim lost in a crash costs nothing: the retry claims again, and what a
            # keyed write records has its id from the key (recorded once, whoever asks).
            store.without_waiting_for_disk(session)
            answer = idempotency.claim(session, actor_id, key, print_, rt.now(), stale)
            if _purge_due(rt.engine, rt.now()):
                idempotency.purge(session, rt.now())  # one indexed delete: the store stays 24 h
    except idempotency.StillRunning as exc:
        body, status, headers = problem(409, "Conflict", exc.detail, **exc.extra)
        return make_response(body, status, {**headers, "Retry-After": "1"})
    if answer is None:
        g.idempotency = (actor_id, key)
        return None
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    response.headers[REPLAYED] = "true"
    return response


def after(response: Response) -> Response:
    """Keep the answer of a claimed write with its records, or drop the claim."""
    claimed: tuple[int, str] | None = g.pop("idempotency", None)
    parked: Session | None = g.pop("idempotency_session", None)
    if claimed is None:
        return response
    actor_id, key = claimed
    kept = response.status_code not in NOT_KEPT and response.status_code < 500
    if parked is not None and (not kept or g.pop("idempotency_spoilt", False)):
        _discard(parked)  # an error answer: nothing the view wrote stays
        parked = None
    if not kept:
        _release(actor_id, key)
        return response
    body = _without_secrets(response)
    answer = idempotency.Answer(response.status_code, response.content_type, body)
    if parked is None:  # the records are committed: their answer alone may be redone
        try:
            with store.transaction(runtime().engine) as session:
                store.without_waiting_for_disk(session)
                idempotency.remember(session, actor_id, key, answer)
        except SQLAlchemyError as exc:  # the answer is true: a retry redoes it (same ids)
            _not_saved("answer not kept", exc)
            _release(actor_id, key)
        return response
    try:
        with parked:
            idempotency.remember(parked, actor_id, key, answer)
            parked.commit()  # the records and their answer, in one transaction
    except Exception as exc:  # the database failed at COMMIT: the client must not see a 2xx
        current_app.logger.exception("committing a keyed write and its answer failed")
        _release(actor_id, key)  # only an unanswered claim goes
        if isinstance(exc, OperationalError) and is_disk_full(exc):  # rolled back: nothing kept
            return make_response(refusal(507, "Insufficient Storage", FULL, "storage_full", 30))
        return make_response(refusal(503, "Service Unavailable", UNSURE, "lost_at_commit"))
    for work in g.pop("idempotency_after_commit", []):
        work()
    return response


def _release(actor_id: int, key: str) -> None:
    """Drop an unanswered claim. A database that cannot write that either (a full disk, a
    read-only file, an outage) keeps it until it goes stale (``IDEMPOTENCY_CLAIM_SECONDS``):
    a retry meanwhile is a 409 with Retry-After; the answer already made is sent as it is."""
    try:
        with store.transaction(runtime().engine) as session:
            idempotency.release(session, actor_id, key)
    except SQLAlchemyError as exc:
        _not_saved("claim not released", exc)


def _not_saved(what: str, exc: SQLAlchemyError) -> None:
    stale = current_app.config.get("IDEMPOTENCY_CLAIM_SECONDS", 30)
    cause = getattr(exc, "orig", None) or exc
    current_app.logger.warning("Idempotency-Key %s (it frees in %s s): %s", what, stale, cause)


def _discard(session: Session) -> None:
    session.rollback()
    session.close()
    g.pop("idempotency_after_commit", None)


def _without_secrets(response: Response) -> bytes:
    """The body to keep: a one-time token (an answer marked no-store) is never kept."""
    body = response.get_data()
    if "no-store" not in response.headers.get("Cache-Control", "") or not response.is_json:
        return body
    doc = json.loads(body)
    if isinstance(doc, dict) and "token" in doc:
        doc["token"] = None
        doc["token_withheld"] = "令牌只显示一次，未保存 / shown once, never stored: rotate it"
    return json.dumps(doc, ensure_ascii=False).encode()


def teardown(error: BaseException | None) -> None:
    """A request that died before its answer rolls back and releases its claim."""
    parked: Session | None = g.pop("idempotency_session", None)
    if parked is not None:
        _discard(parked)
    claimed: tuple[int, str] | None = g.pop("idempotency", None)
    if claimed is not None:
        _release(*claimed)


def init_app(app: Flask) -> None:
    """Install the hooks (they act on the API blueprint's writes only)."""
    app.before_request(before)
    app.after_request(after)
    app.teardown_request(teardown)
