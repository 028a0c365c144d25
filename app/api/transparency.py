"""The public transparency-log endpoints: checkpoint, keys, proofs, leaves."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response

from app.api import api
from app.api.presenters import event_response
from app.api.schemas import ConsistencyQuery, InclusionQuery
from app.auth import auth, current_actor
from app.runtime import runtime
from ledger import log
from ledger.errors import Forbidden, NotFound
from ledger.keys import public_bytes
from ledger.model import Role
from ledger.note import verifier_key_for
from ledger.store import transaction


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@api.get("/ledger/checkpoint")
@api.doc(summary="The newest signed checkpoint (C2SP tlog-checkpoint)", responses=[200, 404])
def checkpoint() -> Any:
    with transaction(runtime().engine, write=False) as session:
        newest = log.latest_checkpoint(session)
    if newest is None:
        raise NotFound("no checkpoint has been published yet")
    return _text(newest.note)


@api.get("/ledger/key")
@api.doc(summary="The checkpoint verifier key: name+hex8+base64(0x01‖pub)")
def key() -> Any:
    return _text(verifier_key_for(runtime().authority.server) + "\n")


@api.get("/ledger/registry-key")
@api.doc(summary="The registry's public key (base64, raw Ed25519) that signs QR codes")
def registry_key() -> Any:
    return _text(_b64(public_bytes(runtime().authority.registry)) + "\n")


@api.get("/ledger/proofs/inclusion")
@api.input(InclusionQuery, location="query", arg_name="query")
@api.doc(summary="RFC 9162 inclusion proof of a leaf in a tree size", responses=[200, 422])
def inclusion(query: dict[str, int]) -> Any:
    with transaction(runtime().engine, write=False) as session:
        leaf, path = log.inclusion_proof(session, query["index"], query["size"])
    return {
        "index": query["index"],
        "size": query["size"],
        "leaf_hash": _b64(leaf),
        "hashes": [_b64(h) for h in path],
    }


@api.get("/ledger/proofs/consistency")
@api.input(ConsistencyQuery, location="query", arg_name="query")
@api.doc(summary="RFC 9162 consistency proof between two tree sizes", responses=[200, 422])
def consistency(query: dict[str, int]) -> Any:
    with transaction(runtime().engine, write=False) as session:
        path = log.consistency_proof(session, query["old"], query["new"])
    return {"old": query["old"], "new": query["new"], "hashes": [_b64(h) for h in path]}


@api.get("/ledger/leaves/<int:index>")
@api.auth_required(auth)
@api.doc(
    summary="The event at a leaf index, with exactly its hashed fields", responses=[200, 403, 404]
)
def leaf(index: int) -> Any:
    actor = current_actor()
    if actor is None or actor.role not in (Role.REGULATOR, Role.ADMIN):
        raise Forbidden("leaves are for regulators")
    with transaction(runtime().engine, write=False) as session:
        event = log.leaf_event(session, index)
        if event is None:
            raise NotFound(f"no leaf {index} in the log")
        doc = event_response(session, event)
    return {"index": index, "event_hash": _b64(event.hash), "event": doc}
