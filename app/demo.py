"""The demo district: two enterprises, their stations, staff, a vehicle and a few cylinders.

``seed`` is idempotent: a second run changes nothing and keeps instance/demo.json.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger import log, registry, service
from ledger.authority import Authority, ensure_server_key
from ledger.model import Enterprise, LicenceKind, Role, Vehicle

ENTERPRISE_NAMES = {"a": "重庆渝安燃气有限公司", "b": "重庆山城液化气有限公司"}
TOKEN_NAMES = (
    "admin",
    "regulator",
    "enterprise_a",
    "enterprise_b",
    "station_a",
    "station_b",
    "driver_a",
    "inspector",
)


def seed(session: Session, authority: Authority, now: dt.datetime, out: Path) -> dict[str, Any]:
    """Create the demo data unless present; write and return the demo.json document."""
    ensure_server_key(session, authority)
    existing = session.execute(
        select(Enterprise).where(Enterprise.name == ENTERPRISE_NAMES["a"])
    ).scalar_one_or_none()
    if existing is not None and out.exists():
        doc: dict[str, Any] = json.loads(out.read_text())
        return doc
    if existing is not None:
        raise RuntimeError(
            f"the demo data exists but {out} is missing: its tokens cannot be "
            "recovered (they are stored hashed); use a fresh database"
        )
    doc = _create(session, authority, now)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return doc


def _create(session: Session, authority: Authority, now: dt.datetime) -> dict[str, Any]:
    today = now.date()
    valid = (today - dt.timedelta(days=400), today + dt.timedelta(days=3 * 365))
    enterprises, stations, tokens = {}, {}, {}
    for key, name in ENTERPRISE_NAMES.items():
        ent = registry.add_enterprise(session, name)
        st = registry.add_station(session, ent, f"{name[2:4]}充装站", "重庆市渝北区")
        registry.add_licence(
            session, ent, LicenceKind.GAS_BUSINESS, f"渝燃经字2024{key.upper()}001", *valid
        )
        registry.add_licence(
            session,
            ent,
            LicenceKind.CYLINDER_FILLING,
            f"TS4250{key.upper()}01-2028",
            *valid,
            station=st,
        )
        enterprises[key], stations[key] = ent, st
        _, tokens[f"enterprise_{key}"] = registry.add_actor(
            session, f"{name[2:4]}管理员", Role.ENTERPRISE_ADMIN, enterprise=ent
        )
        _, tokens[f"station_{key}"] = registry.add_actor(
            session, f"{name[2:4]}充装枪1号", Role.FILLING_OPERATOR, enterprise=ent, station=st
        )
    _, tokens["admin"] = registry.add_actor(session, "系统管理员", Role.ADMIN)
    _, tokens["regulator"] = registry.add_actor(session, "渝北区市场监管局", Role.REGULATOR)
    _, tokens["inspector"] = registry.add_actor(session, "重庆特检院", Role.INSPECTOR)
    driver, tokens["driver_a"] = registry.add_actor(
        session, "张师傅", Role.DRIVER, enterprise=enterprises["a"]
    )
    vehicle = Vehicle(
        enterprise_id=enterprises["a"].id or 0,
        plate="渝A·D12345",
        permit_number="渝交运危500112000001",
        permit_valid_until=today + dt.timedelta(days=700),
        driver_id=driver.id,
    )
    session.add(vehicle)
    session.flush()
    _cylinders(session, authority, enterprises["a"].id, now)
    log.integrate(session)
    log.publish_checkpoint(session, authority.server, authority.origin)
    return {
        "tokens": {name: tokens[name] for name in TOKEN_NAMES},
        "enterprises": {k: e.id for k, e in enterprises.items()},
        "stations": {k: s.id for k, s in stations.items()},
        "vehicles": {"a": vehicle.plate},
    }


def _cylinders(
    session: Session, authority: Authority, owner_id: int | None, now: dt.datetime
) -> None:
    from ledger.model import Actor

    admin = session.execute(
        select(Actor).where(Actor.role == Role.ENTERPRISE_ADMIN, Actor.enterprise_id == owner_id)
    ).scalar_one()
    for i in range(5):
        made = dt.date(2020 + i % 4, 3, 1 + i)
        service.register_cylinder(
            session,
            authority,
            admin,
            {
                "serial": f"CQ{made.year}{i:05d}",
                "manufacturer": "浙江金盾压力容器有限公司",
                "manufactured_on": made.isoformat(),
                "model": "YSP35.5",
                "capacity_kg": 15.0,
                "tare_kg": 16.8,
                "dual_phase": False,
                "last_inspected_on": None if made.year >= 2023 else f"{made.year + 3}-04-01",
            },
            now,
        )
