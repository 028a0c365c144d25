"""The nozzle: fill checks, and the station's offline cache (DESIGN §5, §8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g

from app import streaming
from app.api import api
from app.api.cylinders import after_write, idempotency_key
from app.api.presenters import state_document
from app.api.schemas import FillCheckIn, SyncQuery
from app.auth import auth, current_actor
from app.runtime import Runtime, runtime
from ledger import checks, permissions, station_sync
from ledger.model import Actor
from ledger.store import reads_beside, transaction


@api.post("/fill-checks")
@api.auth_required(auth)
@api.input(FillCheckIn, arg_name="body")
@api.doc(
    summary="May this cylinder be filled here? (充装前检查) A block is recorded as fill_blocked",
    responses=[200, 403, 404, 422],
)
def fill_check(body: dict[str, Any]) -> Any:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    with transaction(rt.engine) as session, reads_beside(session) as reads:
        result = checks.fill_check(
            session, rt.authority, actor, body["station_id"], body["scan"], rt.now(),
            rt.params, idempotency_key(), reads=reads,
        )  # fmt: skip
    # The answer is built once the decision is committed: SQLite's write lock is not held
    # while it is (a thread that loses the GIL meanwhile would keep every writer waiting).
    doc = answer_document(rt, actor, result)
    if result.created and not result.decision.allowed:
        after_write()
    g.fill_check_answer = doc if result.created else None  # counted once, not on replays
    return doc


def answer_document(rt: Runtime, actor: Actor, result: checks.CheckResult) -> dict[str, Any]:
    """A fill check's answer: the decision and, for a known cylinder, its document (read
    on a session of its own: the decision is committed by then)."""
    doc: dict[str, Any] = {"check_id": result.check_id, **result.decision.to_dict()}
    doc["cylinder"] = None
    if result.state is not None:
        full = permissions.can_read_history(actor, result.state.owner_id)
        with transaction(rt.engine, write=False) as reads:
            doc["cylinder"] = state_document(
                reads, result.state, rt.authority, full=full, params=rt.params,
                header=result.cylinder,
            )  # fmt: skip
    return doc


@api.get("/stations/<int:station_id>/sync")
@api.auth_required(auth)
@api.doc(
    summary="A station's offline cache: its cylinders' states, the deny list, keys, rules",
    responses=[200, 403, 404],
)
@api.input(SyncQuery, location="query", arg_name="query")
def station_cache(station_id: int, query: dict[str, Any]) -> Any:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    since = query.get("since")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)  # a time without an offset is taken as UTC
    with transaction(rt.engine, write=False) as session:
        checks.checking_station(session, actor, station_id)
        prepared = station_sync.prepare(
            session, rt.authority, station_id, rt.now(), rt.params, since
        )
    # The cylinders are read and sent in batches (app/streaming.py): 85k of them are 62 MB.
    return streaming.station_cache(rt.engine, prepared)
