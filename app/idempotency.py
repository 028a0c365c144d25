"""Idempotency-Key on every API write: a retry within 24 h gets the first answer back.

Wired as request hooks on the API blueprint (``ledger.idempotency`` keeps the answers):
before the view, a keyed write by an authenticated actor claims its key or is answered from
the store; after the view, its answer is kept. Answers that a retry may change (401, 429,
5xx) are not kept, so the retry runs again. Events, cylinders and fill checks also derive
their ids from the key (``ledger.service.idempotent_id``), so even a retry whose answer was
lost in a crash records nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json

from flask import Flask, Response, current_app, g, make_response, request

from app.problems import problem
from app.runtime import runtime
from ledger import idempotency
from ledger.registry import actor_for_token
from ledger.store import transaction

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
NOT_KEPT = frozenset({401, 408, 429})


def _actor_id() -> int | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    with transaction(runtime().engine, write=False) as session:
        actor = actor_for_token(session, token.strip())
    return actor.id if actor is not None else None


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
        with transaction(rt.engine) as session:
            answer = idempotency.claim(session, actor_id, key, print_, rt.now(), stale)
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
    """Keep the answer of a claimed write (or drop the claim when a retry may do better)."""
    claimed: tuple[int, str] | None = g.pop("idempotency", None)
    if claimed is None:
        return response
    actor_id, key = claimed
    with transaction(runtime().engine) as session:
        if response.status_code in NOT_KEPT or response.status_code >= 500:
            idempotency.release(session, actor_id, key)
        else:
            body = _without_secrets(response)
            answer = idempotency.Answer(response.status_code, response.content_type, body)
            idempotency.remember(session, actor_id, key, answer)
    return response


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
    """A request that died before its answer releases its claim."""
    claimed: tuple[int, str] | None = g.pop("idempotency", None)
    if claimed is not None:
        with transaction(runtime().engine) as session:
            idempotency.release(session, *claimed)


def init_app(app: Flask) -> None:
    """Install the hooks (they act on the API blueprint's writes only)."""
    app.before_request(before)
    app.after_request(after)
    app.teardown_request(teardown)
