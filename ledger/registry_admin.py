"""Registry management use cases: enterprises, licences, the blacklist and stations.

Who may do what: regulators (and the system admin) manage enterprises, licences and the
blacklist; an enterprise admin manages its own stations. An enterprise-scoped actor never
sees another enterprise's records: they answer NotFound, as if absent. A role that may
never do an operation is refused (Forbidden) before any record is looked up.
Staff and vehicles are in ``ledger.registry_staff``, customer files in ``registry_customers``;
the scoping rules themselves (``Policy``) in ``ledger.registry``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import registry_input as read
from ledger.errors import Conflict, Invalid
from ledger.model import Actor, Enterprise, Licence, LicenceKind, LicenceStatus, Role, Station
from ledger.permissions import ENTERPRISE_ROLES, OVERSIGHT_ROLES
from ledger.registry import (
    Policy,
    add_enterprise,
    add_licence,
    add_station,
    get,
    licence_valid,
    listed,
    unique,
)

REGULATORS = frozenset({Role.ADMIN, Role.REGULATOR})
ENTERPRISE_READ = Policy("查看企业 / read enterprises", OVERSIGHT_ROLES, ENTERPRISE_ROLES)
ENTERPRISE_WRITE = Policy(
    "管理企业、许可证和黑名单 / manage enterprises, licences and the blacklist", REGULATORS
)
STATION_READ = Policy("查看充装站 / read stations", OVERSIGHT_ROLES, ENTERPRISE_ROLES)
STATION_WRITE = Policy(
    "管理充装站 / manage stations", frozenset({Role.ADMIN}), frozenset({Role.ENTERPRISE_ADMIN})
)


# --- enterprises and the blacklist -------------------------------------------------------


@dataclass(frozen=True)
class EnterpriseFile:
    """An enterprise with its licences and whether each is valid today."""

    enterprise: Enterprise
    licences: Sequence[tuple[Licence, bool]]


def create_enterprise(session: Session, actor: Actor, data: Mapping[str, Any]) -> Enterprise:
    """Register a gas business (regulator, admin)."""
    ENTERPRISE_WRITE.check_role(actor)
    read.only(data, {"name", "credit_code", "gs1_prefix"})
    name = read.required_text(data, "name", 200)
    credit_code = read.matching(data, "credit_code", 18, read.CREDIT_CODE)
    gs1_prefix = read.matching(data, "gs1_prefix", 12, read.GS1_PREFIX)
    if session.execute(select(col(Enterprise.id)).where(col(Enterprise.name) == name)).first():
        raise Conflict(f"企业 {name} 已登记 / an enterprise of this name exists")
    if (
        credit_code
        and session.execute(
            select(col(Enterprise.id)).where(col(Enterprise.credit_code) == credit_code)
        ).first()
    ):
        raise Conflict("该统一社会信用代码已登记 / this credit code is already registered")
    with unique(session, "该统一社会信用代码已登记 / this credit code is already registered"):
        return add_enterprise(session, name, credit_code, gs1_prefix)


def list_enterprises(
    session: Session, actor: Actor, *, after_id: int | None = None, limit: int | None = None
) -> list[Enterprise]:
    """Every enterprise for the oversight roles; an enterprise's own staff see only theirs.

    By id: only ids above ``after_id``, at most ``limit`` (None: every one).
    """
    ENTERPRISE_READ.check_role(actor)
    query = select(Enterprise).order_by(col(Enterprise.id)).limit(limit)
    if actor.role not in ENTERPRISE_READ.everywhere:
        query = query.where(col(Enterprise.id) == actor.enterprise_id)
    if after_id is not None:
        query = query.where(col(Enterprise.id) > after_id)
    return list(session.execute(query).scalars())


def enterprise_file(
    session: Session, actor: Actor, enterprise_id: int, today: dt.date
) -> EnterpriseFile:
    """One enterprise with its licences, each marked valid or not today."""
    ENTERPRISE_READ.check_role(actor)
    ENTERPRISE_READ.check_record(actor, enterprise_id)
    enterprise = get(session, Enterprise, enterprise_id, "企业 / enterprise")
    return EnterpriseFile(enterprise, list_licences(session, actor, enterprise_id, today))


def blacklist(session: Session, actor: Actor, enterprise_id: int, reason: str | None) -> Enterprise:
    """Put an enterprise on the blacklist (with a reason), or take it off (reason None)."""
    ENTERPRISE_WRITE.check_role(actor)
    enterprise = get(session, Enterprise, enterprise_id, "企业 / enterprise")
    if reason is not None:
        reason = read.required_text({"reason": reason}, "reason", 500)
    enterprise.blacklisted = reason is not None
    enterprise.blacklist_reason = reason
    session.add(enterprise)
    session.flush()
    return enterprise


# --- licences ---------------------------------------------------------------------------


def issue_licence(
    session: Session, actor: Actor, enterprise_id: int, data: Mapping[str, Any]
) -> Licence:
    """Record a licence; a filling licence names a station of that same enterprise."""
    ENTERPRISE_WRITE.check_role(actor)
    enterprise = get(session, Enterprise, enterprise_id, "企业 / enterprise")
    read.only(data, {"kind", "number", "valid_from", "valid_until", "station_id"})
    kind = read.choice(data, "kind", LicenceKind)
    number = read.required_text(data, "number", 64)
    valid_from = read.date(data, "valid_from")
    valid_until = read.date(data, "valid_until")
    assert valid_from is not None and valid_until is not None
    if valid_until < valid_from:
        raise Invalid(
            "有效期止不能早于起 / 'valid_until' is before 'valid_from'", field="valid_until"
        )
    station_id = read.record_id(data, "station_id")
    station = None
    if kind == LicenceKind.CYLINDER_FILLING:
        if station_id is None:
            raise Invalid(
                "充装许可证须指定充装站 / a filling licence names its station", field="station_id"
            )
        station = session.get(Station, station_id)
        if station is None or station.enterprise_id != enterprise_id:
            raise Invalid(
                "充装站不属于该企业 / no such station of this enterprise", field="station_id"
            )
    elif station_id is not None:
        raise Invalid(
            "经营许可证颁发给企业而非充装站 / a gas business licence names no station",
            field="station_id",
        )
    taken = select(col(Licence.id)).where(col(Licence.kind) == kind, col(Licence.number) == number)
    if session.execute(taken).first():
        raise Conflict(f"许可证编号 {number} 已登记 / this licence number is already registered")
    return add_licence(session, enterprise, kind, number, valid_from, valid_until, station)


def list_licences(
    session: Session, actor: Actor, enterprise_id: int, today: dt.date
) -> list[tuple[Licence, bool]]:
    """An enterprise's licences, each with whether it is valid today."""
    ENTERPRISE_READ.check_role(actor)
    ENTERPRISE_READ.check_record(actor, enterprise_id)
    get(session, Enterprise, enterprise_id, "企业 / enterprise")
    query = select(Licence).where(col(Licence.enterprise_id) == enterprise_id)
    rows = session.execute(query.order_by(col(Licence.id))).scalars()
    return [(licence, licence_valid(licence, today)) for licence in rows]


# What each change of a licence's status may start from, its target and its Chinese name;
# reaching the state a licence is already in changes nothing (a retry is harmless).
_TRANSITIONS = {
    "revoke": ({LicenceStatus.VALID, LicenceStatus.SUSPENDED}, LicenceStatus.REVOKED, "吊销"),
    "suspend": ({LicenceStatus.VALID}, LicenceStatus.SUSPENDED, "暂停"),
    "reinstate": ({LicenceStatus.SUSPENDED}, LicenceStatus.VALID, "恢复"),
}
_STATUS_ZH: dict[str, str] = {
    LicenceStatus.VALID: "有效",
    LicenceStatus.SUSPENDED: "暂停",
    LicenceStatus.REVOKED: "已吊销",
}


def change_licence(
    session: Session, actor: Actor, licence_id: int, action: str, today: dt.date
) -> tuple[Licence, bool]:
    """Revoke, suspend, reinstate or expire a licence; (licence, valid today).

    Expiring ends it yesterday, and never lengthens one that ended earlier.
    """
    ENTERPRISE_WRITE.check_role(actor)
    licence = get(session, Licence, licence_id, "许可证 / licence")
    if action == "expire":
        licence.valid_until = min(licence.valid_until, today - dt.timedelta(days=1))
    else:
        sources, target, verb = _TRANSITIONS[action]
        if licence.status != target:
            if licence.status not in sources:
                raise Conflict(
                    f"许可证状态为{_STATUS_ZH.get(licence.status, licence.status)}，不能{verb}"
                    f" / a {licence.status} licence "
                    f"cannot be {action}d",
                    licence_status=licence.status,
                )
            licence.status = target
    session.add(licence)
    session.flush()
    return licence, licence_valid(licence, today)


# --- stations ---------------------------------------------------------------------------


def create_station(session: Session, actor: Actor, data: Mapping[str, Any]) -> Station:
    """A new filling station of the actor's enterprise (the admin names the enterprise)."""
    STATION_WRITE.check_role(actor)
    read.only(data, {"name", "address", "latitude", "longitude", "enterprise_id"})
    requested = read.record_id(data, "enterprise_id")
    enterprise_id = STATION_WRITE.enterprise_for_new(session, actor, requested)
    fields = _station_fields(data)
    enterprise = get(session, Enterprise, enterprise_id, "企业 / enterprise")
    return add_station(session, enterprise, **fields)


def list_stations(
    session: Session,
    actor: Actor,
    enterprise_id: int | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[Station]:
    """The stations the actor may see (the oversight roles may filter by enterprise), by id."""
    return listed(
        session, STATION_READ, actor, Station, enterprise_id, after_id=after_id, limit=limit
    )


def find_station(session: Session, actor: Actor, station_id: int) -> Station:
    """One station, if the actor may see it."""
    STATION_READ.check_role(actor)
    station = get(session, Station, station_id, "充装站 / station")
    STATION_READ.check_record(actor, station.enterprise_id)
    return station


def update_station(
    session: Session, actor: Actor, station_id: int, data: Mapping[str, Any]
) -> Station:
    """Correct a station's name, address or position."""
    STATION_WRITE.check_role(actor)
    station = get(session, Station, station_id, "充装站 / station")
    STATION_WRITE.check_record(actor, station.enterprise_id)
    read.only(data, {"name", "address", "latitude", "longitude"})
    merged = {**station.model_dump(), **data}
    for key, value in _station_fields(merged).items():
        if key in data:
            setattr(station, key, value)
    session.add(station)
    session.flush()
    return station


def _station_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    latitude = read.coordinate(data, "latitude", 90)
    longitude = read.coordinate(data, "longitude", 180)
    if (latitude is None) != (longitude is None):
        raise Invalid(
            "经纬度须同时给出 / give both latitude and longitude, or neither", field="latitude"
        )
    return {
        "name": read.required_text(data, "name", 200),
        "address": read.text(data, "address", 500, required=False) or "",
        "latitude": latitude,
        "longitude": longitude,
    }
