"""The registry: enterprises, licences, stations, actors and their tokens, vehicles, customers."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.keys import device_key_id
from ledger.model import Actor, Enterprise, Licence, LicenceKind, Role, SigningKey, Station

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token (shown once, stored only hashed)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def actor_for_token(session: Session, token: str) -> Actor | None:
    """The active actor holding this bearer token."""
    query = select(Actor).where(
        col(Actor.token_hash) == hash_token(token), col(Actor.active).is_(True)
    )
    return session.execute(query).scalar_one_or_none()


def add_enterprise(session: Session, name: str, credit_code: str | None = None) -> Enterprise:
    """Create an enterprise."""
    enterprise = Enterprise(name=name, credit_code=credit_code)
    session.add(enterprise)
    session.flush()
    return enterprise


def add_station(session: Session, enterprise: Enterprise, name: str, address: str = "") -> Station:
    """Create a filling station of an enterprise."""
    assert enterprise.id is not None
    station = Station(enterprise_id=enterprise.id, name=name, address=address)
    session.add(station)
    session.flush()
    return station


def add_licence(
    session: Session,
    enterprise: Enterprise,
    kind: LicenceKind,
    number: str,
    valid_from: dt.date,
    valid_until: dt.date,
    station: Station | None = None,
) -> Licence:
    """Record a licence issued to an enterprise (a filling licence names its station)."""
    assert enterprise.id is not None
    licence = Licence(
        enterprise_id=enterprise.id,
        kind=kind,
        number=number,
        valid_from=valid_from,
        valid_until=valid_until,
        station_id=station.id if station else None,
    )
    session.add(licence)
    session.flush()
    return licence


def add_actor(
    session: Session,
    name: str,
    role: Role,
    *,
    enterprise: Enterprise | None = None,
    station: Station | None = None,
    public_key: bytes | None = None,
    token: str | None = None,
) -> tuple[Actor, str]:
    """Create a person or device with a bearer token; returns (actor, token) — the token once."""
    token = token or new_token()
    actor = Actor(
        name=name,
        role=role,
        kind="device" if public_key or station else "person",
        enterprise_id=enterprise.id if enterprise else None,
        station_id=station.id if station else None,
        token_hash=hash_token(token),
        public_key=public_key,
    )
    session.add(actor)
    session.flush()
    if public_key is not None:
        session.add(
            SigningKey(key_id=device_key_id(public_key), public_key=public_key, actor_id=actor.id)
        )
        session.flush()
    return actor, token
