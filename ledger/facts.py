"""Plain, frozen views of registry records that the rules read (no database here).

The use cases load them from the database (``ledger.facts_db``); a station caches them
as JSON and rebuilds them with ``from_dict`` to decide offline with the same rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GAS_BUSINESS = "gas_business"
CYLINDER_FILLING = "cylinder_filling"


@dataclass(frozen=True)
class LicenceView:
    """A licence as the rules see it."""

    kind: str
    number: str
    status: str
    valid_from: dt.date
    valid_until: dt.date
    station_id: int | None = None

    def valid_on(self, day: dt.date) -> bool:
        """In force on ``day``: not suspended or revoked, and within its dates."""
        return self.status == "valid" and self.valid_from <= day <= self.valid_until

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "kind": self.kind,
            "number": self.number,
            "status": self.status,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "station_id": self.station_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LicenceView:
        """Inverse of ``to_dict``."""
        return cls(
            kind=d["kind"],
            number=d["number"],
            status=d["status"],
            valid_from=dt.date.fromisoformat(d["valid_from"]),
            valid_until=dt.date.fromisoformat(d["valid_until"]),
            station_id=d.get("station_id"),
        )


def _licences(d: Mapping[str, Any]) -> tuple[LicenceView, ...]:
    return tuple(LicenceView.from_dict(x) for x in d.get("licences", ()))


@dataclass(frozen=True)
class EnterpriseView:
    """An enterprise: its blacklist flag and gas business licences."""

    id: int
    name: str
    blacklisted: bool
    licences: tuple[LicenceView, ...] = ()

    def licensed_on(self, day: dt.date) -> bool:
        """Holds a gas business licence (燃气经营许可证) in force on ``day``."""
        return any(lic.kind == GAS_BUSINESS and lic.valid_on(day) for lic in self.licences)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "name": self.name,
            "blacklisted": self.blacklisted,
            "licences": [lic.to_dict() for lic in self.licences],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnterpriseView:
        """Inverse of ``to_dict``."""
        return cls(d["id"], d["name"], bool(d["blacklisted"]), _licences(d))


@dataclass(frozen=True)
class StationView:
    """A filling station: its enterprise, location and filling licences."""

    id: int
    enterprise_id: int
    name: str
    latitude: float | None = None
    longitude: float | None = None
    licences: tuple[LicenceView, ...] = ()

    def licensed_on(self, day: dt.date) -> bool:
        """Holds a filling licence (气瓶充装许可证) for this station in force on ``day``."""
        return any(
            lic.kind == CYLINDER_FILLING and lic.station_id in (None, self.id) and lic.valid_on(day)
            for lic in self.licences
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "enterprise_id": self.enterprise_id,
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "licences": [lic.to_dict() for lic in self.licences],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StationView:
        """Inverse of ``to_dict``."""
        return cls(
            d["id"], d["enterprise_id"], d["name"], d.get("latitude"), d.get("longitude"),
            _licences(d),
        )  # fmt: skip


@dataclass(frozen=True)
class VehicleView:
    """A delivery vehicle: its enterprise, dangerous-goods permit and bound driver."""

    plate: str
    enterprise_id: int
    permit_number: str | None
    permit_valid_until: dt.date | None
    driver_id: int | None

    def permitted_on(self, day: dt.date) -> bool:
        """Holds a dangerous-goods road transport permit in force on ``day``."""
        return bool(self.permit_number) and (
            self.permit_valid_until is not None and day <= self.permit_valid_until
        )


@dataclass(frozen=True)
class CustomerView:
    """A customer site as the delivery rules see it (no personal data)."""

    id: int
    enterprise_id: int
    kind: str
    basement: bool
    erased: bool = False  # the file was erased (PIPL): nothing more is delivered to it
