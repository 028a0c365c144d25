"""The audit's check of revocations: no event is recorded after its key or actor was revoked.

Revoking an actor (``POST /actors/{id}/revoke``) clears its token and stamps ``revoked_at``
on it and its signing keys; replacing a device key stamps the old key. The server refuses
anything from either afterwards, so an event recorded later was inserted behind its back
(docs/threat-model.md, 4). Events signed before the revocation stay valid.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.audit_rows import time_column, wrong_kind
from ledger.chain import EventRow
from ledger.model import Actor, SigningKey

_RECORDED, _ACTOR, _KEY = (EventRow._fields.index(c) for c in ("recorded_at", "actor_id", "key_id"))


class RevocationCheck:
    """Compares each event's recorded_at with its key's and its actor's revoked_at."""

    def __init__(self, session: Session) -> None:
        self.unreadable: list[str] = []  # revocation times a changed row made unreadable
        self.keys: dict[str, dt.datetime] = self._revoked(session, SigningKey, "key_id", "key")
        self.actors: dict[int, dt.datetime] = self._revoked(session, Actor, "id", "actor")

    def _revoked(self, session: Session, model: Any, key: str, kind: str) -> dict[Any, dt.datetime]:
        revoked_at, parse = time_column(session, model.revoked_at)
        query = select(getattr(model, key), revoked_at).where(col(model.revoked_at).is_not(None))
        out = {}
        for ident, stored in session.execute(query):
            value = parse(stored)
            if isinstance(value, dt.datetime):
                out[ident] = _aware(value)
            else:
                why = wrong_kind("revoked_at", value, dt.datetime)
                self.unreadable.append(
                    f"{kind} {ident}: {why}: events after its revocation cannot be found"
                )
        return out

    def problems(self, row: tuple[Any, ...]) -> list[str]:
        """What is wrong with one event row (usually nothing: two dictionary look-ups)."""
        out = []
        recorded = row[_RECORDED]
        key_revoked = self.keys.get(row[_KEY])
        if key_revoked is not None and _aware(recorded) > key_revoked:
            out.append(
                f"signed by key {row[_KEY]}, revoked at {key_revoked.isoformat()}, but recorded "
                f"at {_aware(recorded).isoformat()} (after the revocation)"
            )
        actor_revoked = self.actors.get(row[_ACTOR])
        if actor_revoked is not None and _aware(recorded) > actor_revoked:
            out.append(
                f"recorded at {_aware(recorded).isoformat()} for actor {row[_ACTOR]}, revoked "
                f"at {actor_revoked.isoformat()} (after the revocation)"
            )
        return out


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
