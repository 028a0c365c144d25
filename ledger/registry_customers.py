"""Customer files (用户档案): the only personal data in the ledger, and its PIPL erasure.

Events reference a file by id only, so a file is corrected or erased without touching the
immutable log. An enterprise's admin and drivers open and correct its files; the admin (or
the system admin) erases one; regulators read them to oversee deliveries.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Select, case, or_, select, text
from sqlmodel import Session

from ledger import registry_input as read
from ledger.errors import Conflict
from ledger.model import Actor, Customer, CustomerKind, Role
from ledger.registry import MAX_ID, Policy, get, listed

CUSTOMER_READ = Policy(
    "查看用户档案 / read customer files",
    frozenset({Role.ADMIN, Role.REGULATOR}),
    frozenset({Role.ENTERPRISE_ADMIN, Role.DRIVER}),
)
CUSTOMER_WRITE = Policy(
    "登记、更正用户档案 / open or correct customer files",
    frozenset(),
    frozenset({Role.ENTERPRISE_ADMIN, Role.DRIVER}),
)
CUSTOMER_ERASE = Policy(
    "删除用户档案 / erase customer files",
    frozenset({Role.ADMIN}),
    frozenset({Role.ENTERPRISE_ADMIN}),
)
CUSTOMER_FIELDS = {"name", "kind", "address", "basement", "phone"}
_SEARCHED = ("name", "address", "phone")
_LIKE_SPECIAL = re.compile(r"[\\%_]")  # LIKE's wildcards and its escape character
PINYIN = "zh-Hans-CN-x-icu"  # PostgreSQL's ICU collation for Chinese: pinyin order
_HAS_PINYIN: dict[str, bool] = {}  # by database URL: whether its server has the collation


def create_customer(session: Session, actor: Actor, data: Mapping[str, Any]) -> Customer:
    """Open a customer file (用户档案) for the actor's own enterprise."""
    CUSTOMER_WRITE.check_role(actor)
    read.only(data, CUSTOMER_FIELDS)
    enterprise_id = CUSTOMER_WRITE.enterprise_for_new(session, actor, None)
    customer = Customer(enterprise_id=enterprise_id, **_customer_fields(data))
    session.add(customer)
    session.flush()
    return customer


def update_customer(
    session: Session, actor: Actor, customer_id: int, data: Mapping[str, Any]
) -> Customer:
    """Correct a customer file; an erased file stays erased."""
    CUSTOMER_WRITE.check_role(actor)
    customer = get(session, Customer, customer_id, "用户档案 / customer")
    CUSTOMER_WRITE.check_record(actor, customer.enterprise_id)
    if customer.erased_at is not None:
        raise Conflict("该档案已删除 / this file was erased; open a new one")
    read.only(data, CUSTOMER_FIELDS)
    fields = _customer_fields({**customer.model_dump(), **data})
    for key in data:
        setattr(customer, key, fields[key])
    session.add(customer)
    session.flush()
    return customer


def _customer_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": read.required_text(data, "name", 200),
        "kind": read.choice(data, "kind", CustomerKind),
        "address": read.required_text(data, "address", 500),
        "basement": read.flag(data, "basement"),
        "phone": read.matching(data, "phone", 32, read.PHONE),
    }


def erase_customer(session: Session, actor: Actor, customer_id: int, now: dt.datetime) -> None:
    """PIPL erasure: blank the personal data, keep the id, kind, basement flag and enterprise."""
    CUSTOMER_ERASE.check_role(actor)
    customer = get(session, Customer, customer_id, "用户档案 / customer")
    CUSTOMER_ERASE.check_record(actor, customer.enterprise_id)
    if customer.erased_at is None:
        customer.name, customer.address, customer.phone = "", "", None
        customer.erased_at = now
        session.add(customer)
        session.flush()


def list_customers(
    session: Session,
    actor: Actor,
    enterprise_id: int | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[Customer]:
    """The customer files the actor may see, by id."""
    return listed(
        session, CUSTOMER_READ, actor, Customer, enterprise_id, after_id=after_id, limit=limit
    )


def find_customer(session: Session, actor: Actor, customer_id: int) -> Customer:
    """One customer file, if the actor may see it."""
    CUSTOMER_READ.check_role(actor)
    customer = get(session, Customer, customer_id, "用户档案 / customer")
    CUSTOMER_READ.check_record(actor, customer.enterprise_id)
    return customer


def search_customers(session: Session, actor: Actor, q: str, limit: int = 20) -> list[Customer]:
    """Unerased files the actor may see whose name, address or phone contains ``q``, at
    most ``limit``: names that start with ``q`` first, then names that contain it, then the
    files found by their address or phone; each group by name (``by_name``) then id."""
    escaped = _LIKE_SPECIAL.sub(r"\\\g<0>", q)
    table = Customer.__table__  # type: ignore[attr-defined]
    found = or_(*(table.c[name].ilike(f"%{escaped}%", escape="\\") for name in _SEARCHED))
    rank = case(
        (table.c.name.ilike(f"{escaped}%", escape="\\"), 0),
        (table.c.name.ilike(f"%{escaped}%", escape="\\"), 1),
        else_=2,
    )
    query = _visible(actor).where(found).order_by(rank, by_name(session, table.c.name), table.c.id)
    return list(session.execute(query.limit(limit)).scalars())


def customers_if_few(session: Session, actor: Actor, cap: int) -> list[Customer] | None:
    """Every unerased file the actor may see, by name (``by_name``) then id, if at most ``cap``;
    None when there are more (found by reading ``cap + 1`` of them in index order)."""
    table = Customer.__table__  # type: ignore[attr-defined]
    first = _visible(actor).order_by(table.c.id).limit(cap + 1).subquery()
    query = select(Customer).join(first, table.c.id == first.c.id)
    order = (by_name(session, table.c.name), table.c.id)
    rows = list(session.execute(query.order_by(*order)).scalars())
    return rows if len(rows) <= cap else None


def known_customers(session: Session, actor: Actor, ids: Iterable[int]) -> list[Customer]:
    """Those of these files that the actor may see and that are not erased (by id)."""
    wanted = sorted({i for i in ids if 1 <= i <= MAX_ID})
    if not wanted:
        CUSTOMER_READ.check_role(actor)
        return []
    table = Customer.__table__  # type: ignore[attr-defined]
    query = _visible(actor).where(table.c.id.in_(wanted)).order_by(table.c.id)
    return list(session.execute(query).scalars())


def by_name(session: Session, column: Column[str]) -> Any:
    """``column`` to order by as a Chinese reader looks for a name: in pinyin order (陈 chén
    before 李 lǐ before 王 wáng), by PostgreSQL's ICU collation where the server has it
    (asked once per database); by code point elsewhere (SQLite: no such collation)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return column
    database = bind.engine.url.render_as_string(hide_password=True)
    known = _HAS_PINYIN.get(database)
    if known is None:
        asked = text("SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = :name)")
        known = _HAS_PINYIN[database] = bool(session.execute(asked, {"name": PINYIN}).scalar())
    return column.collate(PINYIN) if known else column


def _visible(actor: Actor) -> Select[Customer]:
    """The unerased files the actor may see (Forbidden for a role that may see none)."""
    CUSTOMER_READ.check_role(actor)
    table = Customer.__table__  # type: ignore[attr-defined]
    query = select(Customer).where(table.c.erased_at.is_(None))
    if actor.role not in CUSTOMER_READ.everywhere:
        # Served by the (enterprise_id, id) index (migration 0009).
        query = query.where(table.c.enterprise_id == actor.enterprise_id)
    return query
