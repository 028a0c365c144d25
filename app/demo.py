"""The demo district (渝北区, Chongqing): three enterprises, their stations, staff, vehicles
and customers, 300 cylinders and a year of their history (``app.demo_history``).

``seed`` is idempotent: a second run changes nothing and keeps instance/demo.json, whose
keys are a contract (DESIGN §8). ``history=False`` seeds the registry and a few fresh
cylinders only, for tests that need the demo's people but not its year.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.people import add_demo_people
from ledger import log, registry, service
from ledger.authority import Authority, ensure_server_key
from ledger.model import Actor, Customer, Enterprise, LicenceKind, Role, Station, Vehicle
from ledger.params import Jurisdiction

ENTERPRISE_NAMES = {
    "a": "重庆渝安燃气有限公司",
    "b": "重庆山城液化气有限公司",
    "c": "重庆两江瓶装气经营部",  # the bad actor: blacklisted, licences lapsed
}
TOKEN_NAMES = (
    "admin", "regulator", "enterprise_a", "enterprise_b", "station_a", "station_b",
    "driver_a", "inspector",
)  # fmt: skip
STATIONS = {  # key: (enterprise, name, address, latitude, longitude)
    "a": ("a", "渝安龙溪充装站", "重庆市渝北区龙溪街道金龙路8号", 29.6005, 106.5219),
    "a2": ("a", "渝安鸳鸯充装站", "重庆市渝北区鸳鸯街道金开大道99号", 29.6421, 106.5354),
    "b": ("b", "山城礼嘉充装站", "重庆市两江新区礼嘉街道礼慈路12号", 29.6582, 106.4673),
    "c": ("c", "两江人和充装点", "重庆市渝北区人和街道人和大道3号", 29.6277, 106.5024),
}
CUSTOMERS = [  # (enterprise, name, kind, address, basement)
    ("a", "老码头火锅（龙溪店）", "restaurant", "渝北区龙溪街道红锦大道66号", False),
    ("a", "渝味小面馆", "restaurant", "渝北区龙溪街道松牌路12号", False),
    ("a", "巴渝串串香", "restaurant", "渝北区龙溪街道花卉园东路3号", False),
    ("a", "地下美食城·张记烤鱼", "restaurant", "渝北区双龙湖街道负一楼B12", True),
    ("a", "渝北实验中学食堂", "canteen", "渝北区龙溪街道新南路1号", False),
    ("a", "王女士", "household", "渝北区龙溪街道金龙路8号3栋2-1", False),
    ("a", "李先生", "household", "渝北区龙溪街道龙华大道20号", False),
    ("a", "陈婆婆", "household", "渝北区龙溪街道红石路5号", False),
    ("a", "龙溪农贸市场管理处", "other", "渝北区龙溪街道农贸市场", False),
    ("a", "刘记豆花饭", "restaurant", "渝北区鸳鸯街道金渝大道8号", False),
    ("b", "山城老火锅（礼嘉店）", "restaurant", "两江新区礼嘉街道礼乐路1号", False),
    ("b", "礼嘉小学食堂", "canteen", "两江新区礼嘉街道礼嘉路20号", False),
    ("b", "两江新区管委会食堂", "canteen", "两江新区金山大道66号", False),
    ("b", "赵先生", "household", "两江新区礼嘉街道礼慈路30号", False),
    ("b", "孙女士", "household", "两江新区礼嘉街道白林路2号", False),
    ("b", "江湖菜馆", "restaurant", "两江新区礼嘉街道礼仁路7号", False),
    ("b", "周师傅", "household", "两江新区人和街道万年路9号", False),
    ("c", "人和烧烤摊", "restaurant", "渝北区人和街道人和大道18号", False),
    ("c", "吴大爷", "household", "渝北区人和街道新牌坊三路2号", False),
    ("c", "郑女士", "household", "渝北区人和街道金开大道1号", False),
]


@dataclass
class District:
    """The registry of the demo district, as created (ids and the actors who act)."""

    enterprises: dict[str, Enterprise] = field(default_factory=dict)
    stations: dict[str, Station] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    customers: dict[str, list[Customer]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


class DemoError(RuntimeError):
    """The demo cannot be seeded or its document read: what is wrong, and what to do."""


def _kept_document(out: Path) -> dict[str, Any]:
    """The demo.json a seeded database was given, as it was written."""
    try:
        doc = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        doc, why = None, f"{type(exc).__name__}: {exc}"
    else:
        why = "它不是演示文档 / it is not the demo's document"
    if not isinstance(doc, dict) or not isinstance(doc.get("tokens"), dict):
        raise DemoError(
            f"{out} 无法读取 / cannot be read ({why}): 演示数据已存在，令牌无法恢复；请恢复此文件"
            "或用新的数据库 / the demo data exists and its tokens cannot be recovered: restore "
            "the file, or use a fresh database"
        )
    return doc


def seed(
    session: Session,
    authority: Authority,
    now: dt.datetime,
    out: Path,
    *,
    history: bool = True,
    params: Jurisdiction | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Create the demo data unless present; write and return the demo.json document."""
    ensure_server_key(session, authority)
    existing = session.execute(
        select(Enterprise).where(Enterprise.name == ENTERPRISE_NAMES["a"])  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if existing is not None and out.exists():
        return _kept_document(out)
    if existing is not None:
        raise DemoError(
            f"演示数据已存在，但缺少 {out}：令牌无法恢复（只存了哈希），请用新的数据库 / the demo "
            f"data exists but {out} is missing: its tokens cannot be recovered (they are stored "
            "hashed); use a fresh database"
        )
    district = build_district(session, now)
    params = params or Jurisdiction()
    if history:
        from app.demo_history import simulate_year

        examples = simulate_year(session, authority, district, now, params, progress)
    else:
        examples = _fresh_cylinders(session, authority, district, now, params)
    log.integrate(session)
    log.publish_checkpoint(session, authority.server, authority.origin)
    passwords = add_demo_people(session, district.actors, TOKEN_NAMES, now)
    doc = {
        "tokens": {name: district.tokens[name] for name in TOKEN_NAMES},
        "enterprises": {k: district.enterprises[k].id for k in ("a", "b")},
        "stations": {k: district.stations[k].id for k in ("a", "b")},
        "vehicles": {"a": district.vehicles["a"].plate},
        # Beyond the contract: one cylinder code of each kind, to try the rules by hand.
        "cylinders": examples,
        # Logins for the pages (/login): each token's person, login name = its key.
        "passwords": passwords,
        "more": {
            "stations": {k: s.id for k, s in district.stations.items()},
            "tokens": {k: v for k, v in district.tokens.items() if k not in TOKEN_NAMES},
            "vehicles": {k: v.plate for k, v in district.vehicles.items()},
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return doc


def build_district(session: Session, now: dt.datetime) -> District:
    """Enterprises, licences, stations, staff, vehicles and customer files."""
    today = now.date()
    valid = (today - dt.timedelta(days=400), today + dt.timedelta(days=3 * 365))
    lapsed = (today - dt.timedelta(days=3 * 365), today - dt.timedelta(days=40))
    d = District()
    for key, name in ENTERPRISE_NAMES.items():
        ent = registry.add_enterprise(session, name, credit_code=f"91500112MA5U{key.upper()}0001X")
        d.enterprises[key] = ent
        dates = lapsed if key == "c" else valid
        registry.add_licence(
            session, ent, LicenceKind.GAS_BUSINESS, f"渝燃经字2024{key.upper()}001", *dates
        )
        _, d.tokens[f"enterprise_{key}"] = registry.add_actor(
            session, f"{name[2:4]}管理员", Role.ENTERPRISE_ADMIN, enterprise=ent
        )
    d.enterprises["c"].blacklisted = True
    d.enterprises["c"].blacklist_reason = "2026年9月无证充装、非自有产权气瓶充装被查处"
    for key, (owner, name, address, lat, lon) in STATIONS.items():
        ent = d.enterprises[owner]
        st = registry.add_station(session, ent, name, address, lat, lon)
        d.stations[key] = st
        dates = lapsed if owner == "c" else valid
        registry.add_licence(
            session, ent, LicenceKind.CYLINDER_FILLING, f"TS4250{key.upper()}01-2028", *dates,
            station=st,
        )  # fmt: skip
        d.actors[f"station_{key}"], d.tokens[f"station_{key}"] = registry.add_actor(
            session, f"{name}1号充装枪", Role.FILLING_OPERATOR, enterprise=ent, station=st
        )
    for key, name, role in (
        ("admin", "系统管理员", Role.ADMIN),
        ("regulator", "渝北区市场监管局", Role.REGULATOR),
        ("inspector", "重庆市特种设备检测研究院", Role.INSPECTOR),
    ):
        d.actors[key], d.tokens[key] = registry.add_actor(session, name, role)
    for key, name in (("enterprise_a", "a"), ("enterprise_b", "b"), ("enterprise_c", "c")):
        d.actors[key] = _admin_of(session, d.enterprises[name])
    _vehicles_and_drivers(session, d, today)
    for owner, name, kind, address, basement in CUSTOMERS:
        ent_id = d.enterprises[owner].id
        assert ent_id is not None
        customer = Customer(
            enterprise_id=ent_id, name=name, kind=kind, address=address, basement=basement,
            phone=f"1380238{len(d.customers.get(owner, [])):04d}",
        )  # fmt: skip
        session.add(customer)
        d.customers.setdefault(owner, []).append(customer)
    session.flush()
    return d


def _admin_of(session: Session, enterprise: Enterprise) -> Actor:
    query = select(Actor).where(
        Actor.role == Role.ENTERPRISE_ADMIN,  # type: ignore[arg-type]
        Actor.enterprise_id == enterprise.id,  # type: ignore[arg-type]
    )
    admin: Actor = session.execute(query).scalar_one()
    return admin


def _vehicles_and_drivers(session: Session, d: District, today: dt.date) -> None:
    # (key, enterprise, driver, plate, permit, permit valid for days)
    fleet = [
        ("a", "a", "张师傅", "渝A·D12345", "渝交运危500112000001", 700),
        ("a2", "a", "黄师傅", "渝A·D23456", "渝交运危500112000002", 500),
        ("b", "b", "何师傅", "渝B·E34567", "渝交运危500112000103", 400),
        ("c", "c", "罗师傅", "渝A·F45678", None, 0),  # no dangerous-goods permit
    ]
    for key, owner, driver_name, plate, permit, days in fleet:
        ent = d.enterprises[owner]
        driver, token = registry.add_actor(session, driver_name, Role.DRIVER, enterprise=ent)
        d.actors[f"driver_{key}"], d.tokens[f"driver_{key}"] = driver, token
        assert ent.id is not None
        vehicle = Vehicle(
            enterprise_id=ent.id, plate=plate, permit_number=permit,
            permit_valid_until=today + dt.timedelta(days=days) if permit else None,
            driver_id=driver.id,
        )  # fmt: skip
        session.add(vehicle)
        d.vehicles[key] = vehicle
    session.flush()


def _fresh_cylinders(
    session: Session, authority: Authority, d: District, now: dt.datetime, params: Jurisdiction
) -> dict[str, str]:
    """A few legal cylinders of enterprise A, registered now (the small demo)."""
    codes: dict[str, str] = {}
    for i in range(5):
        made = dt.date(2023 + i % 3, 3, 1 + i)
        spec = cylinder_spec(f"CQ{made.year}{i:05d}", made)
        admin = d.actors["enterprise_a"]
        cylinder, _ = service.register_cylinder(session, authority, admin, spec, now, params=params)
        codes.setdefault("legal", cylinder.code)
    return codes


def cylinder_spec(
    serial: str, made: dt.date, *, large: bool = False, **extra: Any
) -> dict[str, Any]:
    """A registration body: a 15 kg YSP35.5, or a 50 kg dual-phase YSP118-II."""
    body: dict[str, Any] = {
        "serial": serial,
        "manufacturer": "浙江金盾压力容器有限公司" if not large else "宁波明欣化工机械有限责任公司",
        "manufactured_on": made.isoformat(),
        "model": "YSP118-II" if large else "YSP35.5",
        "capacity_kg": 49.5 if large else 14.5,
        "tare_kg": 47.5 if large else 16.8,
        "dual_phase": large,
        "last_inspected_on": None,
    }
    body.update(extra)
    return body
