"""Bearer-token authentication of actors (DESIGN §7)."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g

from app.runtime import runtime
from ledger.model import Actor
from ledger.registry import actor_for_token
from ledger.store import reader

auth = HTTPTokenAuth(scheme="Bearer", description="Per-person or per-device API token")


def _verify(token: str) -> Actor | None:
    if not token or len(token) > 200:
        return None
    actor: Actor | None
    looked_up = g.get("bearer_actor")  # by app.idempotency, earlier in this request
    if looked_up is not None and looked_up[0] == token:
        actor = looked_up[1]
    else:
        with reader(runtime().engine).connect() as conn:
            actor = actor_for_token(conn, token)
    g.actor = actor
    return actor


auth.verify_token(_verify)  # registered by a call: the decorator is untyped


def current_actor() -> Actor | None:
    """The authenticated actor of this request, or None for the public."""
    actor = auth.current_user
    return actor if isinstance(actor, Actor) else None
