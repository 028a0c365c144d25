"""The registry: enterprises, licences, stations, actors and their tokens, vehicles, customers."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import manager_of_class
from sqlmodel import Session, SQLModel

from ledger.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.facts import LicenceView
from ledger.keys import device_key_id
from ledger.model import (
    Actor,
    Enterprise,
    Licence,
    LicenceKind,
    Role,
    SigningKey,
    Station,
)

TOKEN_BYTES = 32
MAX_ID = 2**31 - 1  # ids are 32-bit integers on both databases
T = TypeVar("T", bound=SQLModel)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token (shown once, stored only hashed).

    Never starts with "-": a token is pasted after ``--token`` on command lines, where a
    leading dash would be read as an option.
    """
    while (token := secrets.token_urlsafe(TOKEN_BYTES)).startswith("-"):
        pass
    return token


_ACTORS = Actor.__table__  # type: ignore[attr-defined]
_ACTOR_CLASS = manager_of_class(Actor)
# Built once: every authenticated request runs it.
_ACTOR_BY_TOKEN = select(_ACTORS).where(
    _ACTORS.c.token_hash == bindparam("token_hash"),
    _ACTORS.c.active.is_(True),
    _ACTORS.c.revoked_at.is_(None),
)


def actor_for_token(session: Session | Connection, token: str) -> Actor | None:
    """The active, unrevoked actor holding this bearer token (read fresh every time, so a
    revocation holds from the next request on; a plain row, not tracked by any session)."""
    conn = session.connection() if isinstance(session, Session) else session
    row = conn.execute(_ACTOR_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    # Built as SQLAlchemy loads a row (no per-field validation: 10 µs instead of 65, on
    # every authenticated request); a stored row: a session that adds it updates it.
    if not _ACTOR_CLASS.mapper.configured:  # as the constructor would: first use in a process
        configure_mappers()
    actor = _ACTOR_CLASS.new_instance()
    actor.__dict__.update(row._mapping)
    make_transient_to_detached(actor)
    return actor


def add_enterprise(
    session: Session, name: str, credit_code: str | None = None, gs1_prefix: str | None = None
) -> Enterprise:
    """Create an enterprise."""
    enterprise = Enterprise(name=name, credit_code=credit_code, gs1_prefix=gs1_prefix)
    session.add(enterprise)
    session.flush()
    return enterprise


def add_station(
    session: Session,
    enterprise: Enterprise,
    name: str,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
) -> Station:
    """Create a filling station of an enterprise."""
    assert enterprise.id is not None
    station = Station(
        enterprise_id=enterprise.id,
        name=name,
        address=address,
        latitude=latitude,
        longitude=longitude,
    )
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


def licence_valid(licence: Licence, today: dt.date) -> bool:
    """A licence is valid today when in force (not suspended or revoked) and within its dates:
    the rules' own test (``ledger.facts.LicenceView.valid_on``), so the two never disagree."""
    view = LicenceView(
        licence.kind, licence.number, licence.status, licence.valid_from, licence.valid_until
    )
    return view.valid_on(today)


def reissue_token(session: Session, actor: Actor) -> str:
    """Give an actor a fresh token; the old one stops working when this commits."""
    token = new_token()
    actor.token_hash = hash_token(token)
    session.add(actor)
    session.flush()
    return token


def set_device_key(session: Session, actor: Actor, public_key: bytes, now: dt.datetime) -> bool:
    """Make ``public_key`` the actor's signing key; False when it already is.

    Earlier keys stay in ``signing_keys`` (marked revoked) so the events they signed still
    verify. Raises Conflict when the key is, or once was, registered to anyone else or retired.
    """
    key_id = device_key_id(public_key)
    if actor.public_key == public_key:
        return False
    if session.get(SigningKey, key_id) is not None:
        raise Conflict(
            "该公钥已登记过 / this public key is already registered (keys are never reused)"
        )
    if actor.public_key is not None:
        old = session.get(SigningKey, device_key_id(actor.public_key))
        if old is not None and old.revoked_at is None:
            old.revoked_at = now
            session.add(old)
    session.add(SigningKey(key_id=key_id, public_key=public_key, actor_id=actor.id, created_at=now))
    actor.public_key = public_key
    session.add(actor)
    session.flush()
    return True


# --- scope: who sees and changes which records --------------------------------------------
#
# An enterprise-scoped actor never sees another enterprise's records: they answer NotFound,
# as if absent. A role that may never do an operation is refused (Forbidden) before any
# record is looked up, so the refusal tells nothing about what exists.


@dataclass(frozen=True)
class Policy:
    """Roles that may act on every enterprise's records, and roles limited to their own."""

    what: str  # "中文 / English", named in refusals
    everywhere: frozenset[str]
    own: frozenset[str] = frozenset()

    def check_role(self, actor: Actor) -> None:
        """Forbidden unless the actor's role may do this at all."""
        if actor.role not in self.everywhere | self.own:
            zh, en = self.what.split(" / ")
            raise Forbidden(f"角色 {actor.role} 无权{zh} / role {actor.role} may not {en}")

    def check_record(self, actor: Actor, enterprise_id: int | None) -> None:
        """NotFound when the record belongs to an enterprise the actor may not see."""
        if actor.role not in self.everywhere and actor.enterprise_id != enterprise_id:
            raise NotFound("没有该记录 / no such record")

    def enterprise_for_new(self, session: Session, actor: Actor, requested: int | None) -> int:
        """The enterprise a new record belongs to: the actor's own, or (admin) the one named."""
        if actor.role in self.everywhere:
            if requested is None:
                raise Invalid(
                    "须指定 enterprise_id / 'enterprise_id' is required", field="enterprise_id"
                )
            get(session, Enterprise, requested, "企业 / enterprise")
            return requested
        assert actor.enterprise_id is not None  # enterprise roles always belong to one
        if requested not in (None, actor.enterprise_id):
            raise Forbidden("只能为本企业登记 / only for your own enterprise")
        return actor.enterprise_id


def get(session: Session, model: type[T], record_id: int, what: str) -> T:
    """The record with this id, or NotFound (also for ids no database column can hold)."""
    row = session.get(model, record_id) if 1 <= record_id <= MAX_ID else None
    if row is None:
        zh, en = what.split(" / ")
        raise NotFound(f"没有该{zh} / no such {en}: {record_id}")
    return row


@contextmanager
def unique(session: Session, conflict: str) -> Iterator[None]:
    """Writes in a savepoint: a unique key taken meanwhile by a concurrent request is a Conflict."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(conflict) from None


def listed(
    session: Session,
    policy: Policy,
    actor: Actor,
    model: type[T],
    enterprise_id: int | None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[T]:
    """The records of ``model`` the actor may see, by id; the oversight roles may filter by
    enterprise. Only ids above ``after_id``, at most ``limit`` (None: every one): a page."""
    policy.check_role(actor)
    if actor.role not in policy.everywhere:
        enterprise_id = actor.enterprise_id
    table = model.__table__  # type: ignore[attr-defined]
    # An (enterprise_id, id) index serves filter, order and start at once (migration 0009);
    # an enterprise's few stations make do with their enterprise_id index.
    query = select(model).order_by(table.c.id).limit(limit)
    if enterprise_id is not None:
        query = query.where(table.c.enterprise_id == enterprise_id)
    if after_id is not None:
        query = query.where(table.c.id > after_id)
    return list(session.execute(query).scalars())
