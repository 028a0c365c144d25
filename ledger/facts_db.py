"""Load the rules' registry views (``ledger.facts``) from the database.

These run on every scan at the nozzle, so they are plain core selects: one for the
record, one for the licences of every enterprise involved (or both at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import bindparam, select
from sqlmodel import Session

from ledger.facts import CustomerView, EnterpriseView, LicenceView, StationView, VehicleView
from ledger.model import Customer, Enterprise, Licence, Station, Vehicle

_LICENCES = Licence.__table__  # type: ignore[attr-defined]
_ENTERPRISES = Enterprise.__table__  # type: ignore[attr-defined]
_STATIONS = Station.__table__  # type: ignore[attr-defined]
_VEHICLES = Vehicle.__table__  # type: ignore[attr-defined]
# Built once: these run on every scan.
_LICENCES_OF = select(
    *(_LICENCES.c[n] for n in ("enterprise_id", "kind", "number", "status", "valid_from",
                               "valid_until", "station_id"))
).where(_LICENCES.c.enterprise_id.in_(bindparam("ids", expanding=True)))  # fmt: skip
_ENTERPRISE = select(_ENTERPRISES.c.id, _ENTERPRISES.c.name, _ENTERPRISES.c.blacklisted).where(
    _ENTERPRISES.c.id == bindparam("id")
)
# An enterprise and every licence of it, in one round trip (a row per licence).
_ENTERPRISE_LICENCES = (
    select(*_ENTERPRISE.selected_columns, *_LICENCES_OF.selected_columns)
    .select_from(_ENTERPRISES.outerjoin(_LICENCES, _LICENCES.c.enterprise_id == _ENTERPRISES.c.id))
    .where(_ENTERPRISES.c.id == bindparam("id"))
)
_VEHICLE = select(
    *(_VEHICLES.c[n] for n in ("plate", "enterprise_id", "permit_number", "permit_valid_until",
                               "driver_id"))
).where(_VEHICLES.c.plate == bindparam("plate"))  # fmt: skip
_STATION_COLUMNS = [
    _STATIONS.c[n] for n in ("id", "enterprise_id", "name", "latitude", "longitude")
]
_STATION = select(*_STATION_COLUMNS).where(_STATIONS.c.id == bindparam("id"))
# A station and every licence of its enterprise, in one round trip (a row per licence).
_STATION_LICENCES = (
    select(*_STATION_COLUMNS, *_LICENCES_OF.selected_columns)
    .select_from(
        _STATIONS.outerjoin(_LICENCES, _LICENCES.c.enterprise_id == _STATIONS.c.enterprise_id)
    )
    .where(_STATIONS.c.id == bindparam("id"))
)


def licences(session: Session, enterprise_ids: Iterable[int]) -> dict[int, list[LicenceView]]:
    """Every licence of these enterprises, by enterprise."""
    ids = sorted(set(enterprise_ids))
    out: dict[int, list[LicenceView]] = {i: [] for i in ids}
    for row in session.connection().execute(_LICENCES_OF, {"ids": ids}):
        out[row[0]].append(LicenceView(*row[1:]))
    return out


def _of_kind(views: list[LicenceView], kind: str) -> tuple[LicenceView, ...]:
    return tuple(lic for lic in views if lic.kind == kind)


def gas_licences(views: list[LicenceView]) -> tuple[LicenceView, ...]:
    """The gas business licences (燃气经营许可证) among ``views``."""
    return _of_kind(views, "gas_business")


def enterprise(
    session: Session, enterprise_id: int, known: dict[int, list[LicenceView]] | None = None
) -> EnterpriseView | None:
    """An enterprise with its gas business licences (``known``: licences already loaded;
    otherwise read with the enterprise, in one query)."""
    views = (known or {}).get(enterprise_id)
    if views is not None:
        row = session.connection().execute(_ENTERPRISE, {"id": enterprise_id}).first()
        return None if row is None else enterprise_view(row, views)
    rows = session.connection().execute(_ENTERPRISE_LICENCES, {"id": enterprise_id}).all()
    if not rows:
        return None
    views = [LicenceView(*row[4:]) for row in rows if row[3] is not None]
    return enterprise_view(rows[0][:3], views)


def station(session: Session, station_id: int) -> StationView | None:
    """A station with its enterprise's filling licences (one query)."""
    found = station_and_licences(session, station_id)
    return None if found is None else with_licences(*found)


def station_alone(session: Session, station_id: int) -> StationView | None:
    """A station without its licences (enough to know whose it is)."""
    row = session.connection().execute(_STATION, {"id": station_id}).first()
    return None if row is None else StationView(*row)


def station_and_licences(
    session: Session, station_id: int
) -> tuple[StationView, list[LicenceView]] | None:
    """A station without its licences, and every licence of its enterprise: one query."""
    rows = session.connection().execute(_STATION_LICENCES, {"id": station_id}).all()
    if not rows:
        return None
    views = [LicenceView(*row[6:]) for row in rows if row[5] is not None]
    return StationView(*rows[0][:5]), views


def enterprise_view(row: tuple[int, str, bool], views: list[LicenceView]) -> EnterpriseView:
    """An enterprise from its registry row (id, name, blacklisted) and its licences."""
    return EnterpriseView(row[0], row[1], row[2], gas_licences(views))


def with_licences(station: StationView, views: list[LicenceView]) -> StationView:
    """The station with its enterprise's filling licences among ``views``."""
    return replace(station, licences=_of_kind(views, "cylinder_filling"))


def vehicle(session: Session, plate: str) -> VehicleView | None:
    """A vehicle by plate."""
    row = session.connection().execute(_VEHICLE, {"plate": plate}).first()
    return None if row is None else VehicleView(*row)


def customer(session: Session, customer_id: int) -> CustomerView | None:
    """A customer site (kind and basement only: no personal data)."""
    row = session.get(Customer, customer_id)
    if row is None or row.id is None:
        return None
    return CustomerView(
        row.id, row.enterprise_id, row.kind, row.basement, row.erased_at is not None
    )
