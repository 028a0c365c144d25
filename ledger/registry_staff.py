"""Registry management use cases: staff and devices (actors) and vehicles.

The system admin manages every actor; an enterprise admin manages its own enterprise's
staff and vehicles and nothing of another enterprise (``registry.Policy`` says how; customer
files are in ``registry_customers``). Nobody revokes their own access: an enterprise could lock
itself out, and a stolen token must not be able to hide its holder's tracks by revoking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from ledger import registry_input as read
from ledger.errors import Conflict, Forbidden, Invalid
from ledger.keys import device_key_id
from ledger.model import (
    Actor,
    Enterprise,
    Role,
    SigningKey,
    Station,
    Vehicle,
)
from ledger.permissions import ENTERPRISE_ROLES, OVERSIGHT_ROLES
from ledger.registry import Policy, add_actor, get, listed, reissue_token, set_device_key, unique

ACTOR_READ = Policy(
    "查看人员 / read staff",
    frozenset({Role.ADMIN, Role.REGULATOR}),
    frozenset({Role.ENTERPRISE_ADMIN}),
)
ACTOR_WRITE = Policy(
    "管理人员 / manage staff", frozenset({Role.ADMIN}), frozenset({Role.ENTERPRISE_ADMIN})
)
VEHICLE_READ = Policy("查看车辆 / read vehicles", OVERSIGHT_ROLES, ENTERPRISE_ROLES)
VEHICLE_WRITE = Policy(
    "管理车辆 / manage vehicles", frozenset({Role.ADMIN}), frozenset({Role.ENTERPRISE_ADMIN})
)


# --- actors -----------------------------------------------------------------------------


def create_actor(session: Session, actor: Actor, data: Mapping[str, Any]) -> tuple[Actor, str]:
    """A new person or device with its token (returned once): staff of the enterprise admin's
    own enterprise, or (admin) any role."""
    ACTOR_WRITE.check_role(actor)
    read.only(data, {"name", "role", "station_id", "public_key", "enterprise_id"})
    name = read.required_text(data, "name", 200)
    role = read.choice(data, "role", Role)
    if role == Role.PUBLIC:
        raise Invalid("公众无需账号 / the public needs no account", field="role")
    if actor.role != Role.ADMIN and role not in ENTERPRISE_ROLES:
        raise Forbidden("企业管理员只能创建本企业人员 / an enterprise admin creates only its staff")
    requested = read.record_id(data, "enterprise_id")
    enterprise = None
    if role in ENTERPRISE_ROLES:
        enterprise_id = ACTOR_WRITE.enterprise_for_new(session, actor, requested)
        enterprise = get(session, Enterprise, enterprise_id, "企业 / enterprise")
    elif requested is not None:
        raise Invalid(
            f"角色 {role} 不属于企业 / a {role} belongs to no enterprise", field="enterprise_id"
        )
    station = _station_of(session, data, role, enterprise)
    public_key = read.public_key(data)
    if public_key is not None and session.get(SigningKey, device_key_id(public_key)) is not None:
        raise Conflict("该公钥已登记过 / this public key is already registered")
    with unique(session, "该公钥已登记过 / this public key is already registered"):
        return add_actor(
            session, name, role, enterprise=enterprise, station=station, public_key=public_key
        )


def _station_of(
    session: Session, data: Mapping[str, Any], role: Role, enterprise: Enterprise | None
) -> Station | None:
    station_id = read.record_id(data, "station_id")
    if role != Role.FILLING_OPERATOR:
        if station_id is not None:
            raise Invalid(
                "只有充装工属于充装站 / only a filling operator has a station", field="station_id"
            )
        return None
    if station_id is None:
        raise Invalid(
            "充装工须指定充装站 / a filling operator names its station", field="station_id"
        )
    station = session.get(Station, station_id)
    if station is None or enterprise is None or station.enterprise_id != enterprise.id:
        raise Invalid("充装站不属于该企业 / no such station of this enterprise", field="station_id")
    return station


def list_actors(
    session: Session,
    actor: Actor,
    enterprise_id: int | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[Actor]:
    """The actors the caller may see (never their tokens), by id."""
    return listed(session, ACTOR_READ, actor, Actor, enterprise_id, after_id=after_id, limit=limit)


def find_actor(session: Session, actor: Actor, actor_id: int) -> Actor:
    """One actor, if the caller may see it."""
    ACTOR_READ.check_role(actor)
    found = get(session, Actor, actor_id, "人员 / actor")
    ACTOR_READ.check_record(actor, found.enterprise_id)
    return found


def _managed(session: Session, actor: Actor, actor_id: int) -> Actor:
    """An actor the caller manages and that is not revoked."""
    ACTOR_WRITE.check_role(actor)
    target = get(session, Actor, actor_id, "人员 / actor")
    ACTOR_WRITE.check_record(actor, target.enterprise_id)
    if not target.active:
        raise Conflict("该人员已注销 / this actor is revoked; create a new one")
    return target


def rotate_token(session: Session, actor: Actor, actor_id: int) -> tuple[Actor, str]:
    """A fresh token for an actor; the old one stops working at once."""
    target = _managed(session, actor, actor_id)
    return target, reissue_token(session, target)


def revoke_actor(session: Session, actor: Actor, actor_id: int, now: dt.datetime) -> Actor:
    """Revoke an actor for good: its token stops working, its signing key signs no more."""
    ACTOR_WRITE.check_role(actor)
    if actor_id == actor.id:
        raise Forbidden("不能注销自己 / you cannot revoke yourself; ask another administrator")
    target = get(session, Actor, actor_id, "人员 / actor")
    ACTOR_WRITE.check_record(actor, target.enterprise_id)
    if target.revoked_at is not None:
        return target
    target.active, target.revoked_at, target.token_hash = False, now, None
    keys = select(SigningKey).where(
        col(SigningKey.actor_id) == target.id, col(SigningKey.revoked_at).is_(None)
    )
    for key in session.execute(keys).scalars():
        key.revoked_at = now
        session.add(key)
    session.add(target)
    session.flush()
    return target


def register_own_key(
    session: Session, actor: Actor, data: Mapping[str, Any], now: dt.datetime
) -> tuple[Actor, bool]:
    """A device registers its own signing key, once (trust on first use); (actor, created).

    Sending the key it already has again is answered as a success, so a retry is harmless.
    """
    read.only(data, {"public_key"})
    public_key = read.public_key(data)
    if public_key is None:
        raise Invalid("须提供 public_key / 'public_key' is required", field="public_key")
    me = get(session, Actor, actor.id or 0, "人员 / actor")
    if me.public_key == public_key:
        return me, False
    if session.get(SigningKey, device_key_id(public_key)) is not None:
        raise Conflict("该公钥已登记过 / this public key is already registered")
    # Conditional on no key yet, so two racing first uses cannot both win.
    claimed = session.execute(
        update(Actor)
        .where(col(Actor.id) == actor.id, col(Actor.public_key).is_(None))
        .values(public_key=public_key)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "已登记过设备公钥，更换须由管理员办理 / a key is registered; an admin replaces it"
        )
    with unique(session, "该公钥已登记过 / this public key is already registered"):
        session.add(
            SigningKey(
                key_id=device_key_id(public_key),
                public_key=public_key,
                actor_id=actor.id,
                created_at=now,
            )
        )
    session.refresh(me)
    return me, True


def replace_key(
    session: Session, actor: Actor, actor_id: int, data: Mapping[str, Any], now: dt.datetime
) -> Actor:
    """An admin gives a staff member's device a new key; the old key verifies old events."""
    target = _managed(session, actor, actor_id)
    read.only(data, {"public_key"})
    public_key = read.public_key(data)
    if public_key is None:
        raise Invalid("须提供 public_key / 'public_key' is required", field="public_key")
    with unique(session, "该公钥已登记过 / this public key is already registered"):
        set_device_key(session, target, public_key, now)
    return target


# --- vehicles ---------------------------------------------------------------------------


def create_vehicle(session: Session, actor: Actor, data: Mapping[str, Any]) -> Vehicle:
    """Register a delivery vehicle of the actor's enterprise."""
    VEHICLE_WRITE.check_role(actor)
    read.only(data, {"plate", "permit_number", "permit_valid_until", "driver_id", "enterprise_id"})
    enterprise_id = VEHICLE_WRITE.enterprise_for_new(
        session, actor, read.record_id(data, "enterprise_id")
    )
    plate = read.plate(data)
    if session.execute(select(col(Vehicle.id)).where(col(Vehicle.plate) == plate)).first():
        raise Conflict(f"车牌 {plate} 已登记 / this plate is already registered")
    vehicle = Vehicle(enterprise_id=enterprise_id, plate=plate)
    _vehicle_fields(session, vehicle, data)
    with unique(session, f"车牌 {plate} 已登记 / this plate is already registered"):
        session.add(vehicle)
    return vehicle


def update_vehicle(
    session: Session, actor: Actor, vehicle_id: int, data: Mapping[str, Any]
) -> Vehicle:
    """Change a vehicle's permit or bind it to another driver (人车对应); null unbinds."""
    VEHICLE_WRITE.check_role(actor)
    vehicle = get(session, Vehicle, vehicle_id, "车辆 / vehicle")
    VEHICLE_WRITE.check_record(actor, vehicle.enterprise_id)
    read.only(data, {"permit_number", "permit_valid_until", "driver_id"})
    _vehicle_fields(session, vehicle, data)
    session.add(vehicle)
    session.flush()
    return vehicle


def _vehicle_fields(session: Session, vehicle: Vehicle, data: Mapping[str, Any]) -> None:
    if "permit_number" in data:
        vehicle.permit_number = read.text(data, "permit_number", 64, required=False) or None
    if "permit_valid_until" in data:
        vehicle.permit_valid_until = read.date(data, "permit_valid_until", required=False)
    if "driver_id" in data:
        driver_id = read.record_id(data, "driver_id")
        driver = session.get(Actor, driver_id) if driver_id is not None else None
        if driver_id is not None and (
            driver is None
            or driver.role != Role.DRIVER
            or not driver.active
            or driver.enterprise_id != vehicle.enterprise_id
        ):
            raise Invalid(
                "须为本企业在职的送气工 / must be an active driver of the same enterprise",
                field="driver_id",
            )
        vehicle.driver_id = driver_id


def list_vehicles(
    session: Session,
    actor: Actor,
    enterprise_id: int | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[Vehicle]:
    """The vehicles the actor may see, by id."""
    return listed(
        session, VEHICLE_READ, actor, Vehicle, enterprise_id, after_id=after_id, limit=limit
    )


def find_vehicle(session: Session, actor: Actor, vehicle_id: int) -> Vehicle:
    """One vehicle, if the actor may see it."""
    VEHICLE_READ.check_role(actor)
    vehicle = get(session, Vehicle, vehicle_id, "车辆 / vehicle")
    VEHICLE_READ.check_record(actor, vehicle.enterprise_id)
    return vehicle
