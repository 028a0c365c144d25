"""People's logins for the pages: argon2 password hashes bound to actors (DESIGN §7).

A person logs in with a login name and a password and then acts as their actor, so the
pages obey exactly the permissions the API does. Only a hash (argon2id) is stored.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlmodel import Session, col

from ledger.errors import Conflict, Invalid
from ledger.model import Actor
from ledger.model_people import Person

MIN_PASSWORD = 10
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the login does not exist, so both answers take the same time."""
    return _HASHER.hash("not a password of anyone")


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _HASHER.hash(password)


def add_person(
    session: Session, actor: Actor, login: str, password_hash: str, now: dt.datetime
) -> Person:
    """Give an actor a login with an already hashed password."""
    _check_login(session, login, None)
    assert actor.id is not None
    person = Person(
        login=login, actor_id=actor.id, password_hash=password_hash,
        created_at=now, password_changed_at=now,
    )  # fmt: skip
    session.add(person)
    session.flush()
    return person


def _check_login(session: Session, login: str, person_id: int | None) -> None:
    """A login name is 1–64 printable characters, and no other person's."""
    if not 1 <= len(login) <= 64 or not login.isprintable():
        raise Invalid("登录名须为1–64个字符 / a login name is 1–64 characters")
    taken = session.execute(select(col(Person.id)).where(col(Person.login) == login)).scalar()
    if taken is not None and taken != person_id:
        raise Conflict(f"登录名 {login} 已被使用 / this login name is taken")


def set_password(
    session: Session, actor: Actor, login: str, password: str, now: dt.datetime
) -> Person:
    """Create or change an actor's login and password (at least 10 characters)."""
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"密码至少{MIN_PASSWORD}个字符 / a password has at least 10 characters")
    person: Person | None = session.execute(
        select(Person).where(col(Person.actor_id) == actor.id)
    ).scalar()
    if person is None:
        return add_person(session, actor, login, hash_password(password), now)
    if person.login != login:  # renamed: the old name no longer logs in
        _check_login(session, login, person.id)
        person.login = login
    person.password_hash = hash_password(password)
    person.password_changed_at = now
    session.add(person)
    session.flush()
    return person


def authenticate(session: Session, login: str, password: str) -> Actor | None:
    """The active actor whose login and password these are; None for any mismatch."""
    if len(login) > 64 or len(password) > 1024:
        return None
    person = session.execute(select(Person).where(col(Person.login) == login)).scalar()
    try:
        _HASHER.verify(person.password_hash if person else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if person is None:
        return None
    actor = session.get(Actor, person.actor_id)
    if actor is None or not actor.active or actor.revoked_at is not None:
        return None
    return actor


def actor_of_session(session: Session, actor_id: int, login_at: dt.datetime) -> Actor | None:
    """The actor a page session belongs to, unless revoked or its password changed since."""
    actor = session.get(Actor, actor_id)
    if actor is None or not actor.active or actor.revoked_at is not None:
        return None
    person = session.execute(select(Person).where(col(Person.actor_id) == actor_id)).scalar()
    if person is None or person.password_changed_at > login_at:
        return None
    return actor
