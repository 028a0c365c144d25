"""Registration data of a cylinder: validation and the registered event's payload."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import codes, params
from ledger.errors import Invalid
from ledger.model import Cylinder

# Never on a nameplate: C0 and C1 control characters (NUL breaks PostgreSQL text), the
# line separators and bidirectional controls (they break or reorder a printed line), lone
# surrogates, which JSON lets through ("\ud800") but UTF-8 cannot store, and the Unicode
# noncharacters (U+FDD0–U+FDEF and the last two code points of every plane), which are not
# text and which XML, hence an SVG label, refuses.
_NONCHARACTERS = "".join(rf"\U{plane:04x}fffe\U{plane:04x}ffff" for plane in range(17))
CONTROL_CHARS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufdd0-\ufdef"
    + _NONCHARACTERS
    + "]"
)
_TEXT_LIMITS = {"serial": 64, "manufacturer": 200, "model": 32}


@dataclass(frozen=True)
class CylinderSpec:
    """What an enterprise states about a cylinder when it registers it."""

    serial: str
    manufacturer: str
    manufactured_on: dt.date
    model: str
    capacity_kg: float
    tare_kg: float
    dual_phase: bool
    last_inspected_on: dt.date | None
    service_life_years: int | None
    code: str | None

    def to_cylinder(self, cylinder_id: str, code: str, owner_id: int, now: dt.datetime) -> Cylinder:
        """The registry row, with its empty chain head."""
        return Cylinder(
            id=cylinder_id,
            code=code,
            serial=self.serial,
            manufacturer=self.manufacturer,
            manufactured_on=self.manufactured_on,
            model=self.model,
            capacity_kg=self.capacity_kg,
            tare_kg=self.tare_kg,
            dual_phase=self.dual_phase,
            service_life_years=self.service_life_years,
            owner_id=owner_id,
            last_inspected_on=self.last_inspected_on,
            next_inspection_due=params.next_inspection_due(
                self.manufactured_on, self.last_inspected_on
            ),
            registered_at=now,
            head_seq=0,
            head_hash=bytes(32),
        )

    def registration_payload(self, code: str, owner_id: int) -> dict[str, Any]:
        """The registered event's payload: the registration data, hashed into the chain."""
        return {
            "code": code,
            "serial": self.serial,
            "manufacturer": self.manufacturer,
            "manufactured_on": self.manufactured_on.isoformat(),
            "model": self.model,
            "capacity_kg": self.capacity_kg,
            "tare_kg": self.tare_kg,
            "dual_phase": self.dual_phase,
            "owner": owner_id,
            "last_inspected_on": self.last_inspected_on and self.last_inspected_on.isoformat(),
            "service_life_years": self.service_life_years,
        }


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{key}' 必填，须为文本 / '{key}' is required and must be text", field=key)
    if CONTROL_CHARS.search(value):
        raise Invalid(
            f"'{key}' 含控制字符或非字符 / '{key}' contains control characters, Unicode "
            "noncharacters or broken text",
            field=key,
        )
    if len(value.strip()) > _TEXT_LIMITS[key]:
        raise Invalid(
            f"'{key}' 超过 {_TEXT_LIMITS[key]} 字 / '{key}' is longer than {_TEXT_LIMITS[key]} "
            "characters",
            field=key,
        )
    return value.strip()


def _date(data: Mapping[str, Any], key: str, *, required: bool) -> dt.date | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Invalid(
            f"'{key}' 须为日期 YYYY-MM-DD / '{key}' must be a date YYYY-MM-DD", field=key
        ) from None


def _kg(data: Mapping[str, Any], key: str, upper: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= upper:
        raise Invalid(
            f"'{key}' 须为 0 到 {upper} 之间的千克数 / '{key}' must be a number of kilograms "
            f"between 0 and {upper}",
            field=key,
        )
    return float(value)


def parse_cylinder_spec(data: Mapping[str, Any], today: dt.date) -> CylinderSpec:
    """Validate registration data; raises Invalid naming the first bad field."""
    made = _date(data, "manufactured_on", required=True)
    assert made is not None
    if made > today:
        raise Invalid(
            "'manufactured_on' 制造日期在今天之后 / 'manufactured_on' is in the future",
            field="manufactured_on",
        )
    inspected = _date(data, "last_inspected_on", required=False)
    if inspected is not None and not made <= inspected <= today:
        raise Invalid(
            "'last_inspected_on' 须在制造日期与今天之间 / 'last_inspected_on' must lie between "
            "manufacture and today",
            field="last_inspected_on",
        )
    dual = data.get("dual_phase", False)
    if not isinstance(dual, bool):
        raise Invalid(
            "'dual_phase' 须为是或否 / 'dual_phase' must be true or false", field="dual_phase"
        )
    life = data.get("service_life_years")
    if life is not None and (
        isinstance(life, bool) or not isinstance(life, int) or not 1 <= life <= 50
    ):
        raise Invalid(
            "'service_life_years' 须为 1–50 的整数年 / 'service_life_years' must be a whole number "
            "of years, 1–50",
            field="service_life_years",
        )
    code = data.get("code")
    if code is not None and (not isinstance(code, str) or not codes.is_valid_code(code)):
        raise Invalid(
            "'code' 须为 1–20 个字母 A–Z 或数字 / 'code' must be 1–20 characters A–Z and 0–9",
            field="code",
        )
    return CylinderSpec(
        serial=_text(data, "serial"),
        manufacturer=_text(data, "manufacturer"),
        manufactured_on=made,
        model=_text(data, "model"),
        capacity_kg=_kg(data, "capacity_kg", 100),
        tare_kg=_kg(data, "tare_kg", 200),
        dual_phase=dual,
        last_inspected_on=inspected,
        service_life_years=life,
        code=code,
    )
