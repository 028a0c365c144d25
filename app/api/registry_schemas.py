"""Registry request and response schemas: types and shapes; meaning is checked in ledger/.

Optional request fields have no defaults, so a PATCH changes exactly the fields it names.
Lists nest an ``…Item`` subclass, never a schema also answered on its own: the spec is built
shortest path first, and apispec warns when it meets a nested schema again as a response.
"""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from ledger.model import CustomerKind, LicenceKind, LicenceStatus, Role
from ledger.registry import MAX_ID
from ledger.registry_paging import DEFAULT_LIMIT, MAX_LIMIT

ID = Range(1, MAX_ID)
ROLES = sorted(set(Role) - {Role.PUBLIC})


def _id(description: str = "") -> Integer:
    return Integer(strict=True, allow_none=True, validate=ID, metadata={"description": description})


def _text(limit: int, *, required: bool = False, example: str = "") -> String:
    meta = {"example": example} if example else {}
    if required:
        return String(required=True, validate=Length(1, limit), metadata=meta)
    return String(allow_none=True, validate=Length(0, limit), metadata=meta)


def _next_after_id() -> Integer:
    return Integer(
        allow_none=True,
        metadata={"description": "下一页的 after_id，没有更多时为 null / the next page's after_id"},
    )


class PageQuery(Schema):
    """A page of a list, by ascending id (query strings are text: not strict)."""

    after_id = Integer(
        validate=Range(0, MAX_ID),
        metadata={"description": "下一页：上一页的 next_after_id / the previous next_after_id"},
    )
    limit = Integer(
        load_default=DEFAULT_LIMIT,
        validate=Range(1, MAX_LIMIT),
        metadata={"description": "每页条数 / items per page"},
    )


class ScopeQuery(PageQuery):
    enterprise_id = Integer(
        validate=ID, metadata={"description": "only this enterprise's records (oversight roles)"}
    )


# --- enterprises and licences -----------------------------------------------------------


class EnterpriseIn(Schema):
    name = _text(200, required=True, example="重庆渝安燃气有限公司")
    credit_code = String(
        allow_none=True, validate=Length(18, 18), metadata={"description": "统一社会信用代码"}
    )
    gs1_prefix = String(allow_none=True, validate=Length(6, 12))


class BlacklistIn(Schema):
    reason = _text(500, required=True, example="无证经营 / trading without a licence")


class LicenceIn(Schema):
    kind = String(required=True, validate=OneOf(list(LicenceKind)))
    number = _text(64, required=True, example="TS4250A01-2028")
    valid_from = Date(required=True)
    valid_until = Date(required=True)
    station_id = _id("the licensed station (a cylinder_filling licence needs one)")


class RevokeIn(Schema):
    reason = _text(500, required=True)


class LicenceOut(Schema):
    id = Integer()
    enterprise_id = Integer()
    station_id = Integer(allow_none=True)
    kind = String(metadata={"enum": list(LicenceKind)})
    number = String()
    valid_from = Date()
    valid_until = Date()
    status = String(metadata={"enum": list(LicenceStatus)})
    valid_today = Boolean(metadata={"description": "in force and within its dates today"})


class LicenceItem(LicenceOut):
    """LicenceOut, as an element of a list."""


class LicenceListOut(Schema):
    licences = List(Nested(LicenceItem))


class EnterpriseOut(Schema):
    id = Integer()
    name = String()
    credit_code = String(allow_none=True)
    gs1_prefix = String(allow_none=True)
    blacklisted = Boolean()
    blacklist_reason = String(allow_none=True)
    created_at = DateTime()


class EnterpriseFileOut(EnterpriseOut):
    licences = List(Nested(LicenceItem))


class EnterpriseItem(EnterpriseOut):
    """EnterpriseOut, as an element of a list."""


class EnterpriseListOut(Schema):
    enterprises = List(Nested(EnterpriseItem))
    next_after_id = _next_after_id()


# --- stations ---------------------------------------------------------------------------


class StationPatch(Schema):
    name = _text(200)
    address = _text(500, example="重庆市渝北区")
    latitude = Float(allow_none=True, validate=Range(-90, 90))
    longitude = Float(allow_none=True, validate=Range(-180, 180))


class StationIn(StationPatch):
    name = _text(200, required=True, example="渝安充装站")
    enterprise_id = _id("the admin names the enterprise; an enterprise admin's is its own")


class StationOut(Schema):
    id = Integer()
    enterprise_id = Integer()
    name = String()
    address = String()
    latitude = Float(allow_none=True)
    longitude = Float(allow_none=True)


class StationItem(StationOut):
    """StationOut, as an element of a list."""


class StationListOut(Schema):
    stations = List(Nested(StationItem))
    next_after_id = _next_after_id()


# --- actors -----------------------------------------------------------------------------


class KeyIn(Schema):
    public_key = String(
        required=True,
        validate=Length(40, 64),
        metadata={"description": "base64 of the raw 32-byte Ed25519 public key"},
    )


class ActorIn(Schema):
    name = _text(200, required=True, example="李师傅")
    role = String(required=True, validate=OneOf(ROLES))
    station_id = _id("a filling operator's station")
    public_key = String(allow_none=True, validate=Length(40, 64))
    enterprise_id = _id("the admin names the enterprise of enterprise staff")


class MeOut(Schema):
    id = Integer()
    name = String()
    role = String(metadata={"enum": ROLES})
    enterprise_id = Integer(allow_none=True)
    station_id = Integer(allow_none=True)
    key_id = String(allow_none=True, metadata={"description": "the device key's id, if any"})


class ActorOut(MeOut):
    kind = String(metadata={"enum": ["person", "device"]})
    active = Boolean()
    created_at = DateTime()
    revoked_at = DateTime(allow_none=True)


class ActorTokenOut(ActorOut):
    token = String(metadata={"description": "the bearer token: shown this once, never again"})


class ActorItem(ActorOut):
    """ActorOut, as an element of a list."""


class ActorListOut(Schema):
    actors = List(Nested(ActorItem))
    next_after_id = _next_after_id()


# --- vehicles ---------------------------------------------------------------------------


class VehiclePatch(Schema):
    permit_number = _text(64, example="渝交运危500112000001")
    permit_valid_until = Date(allow_none=True)
    driver_id = _id("the bound driver (人车对应); null unbinds")


class VehicleIn(VehiclePatch):
    plate = _text(16, required=True, example="渝A·D12345")
    enterprise_id = _id("the admin names the enterprise")


class VehicleOut(Schema):
    id = Integer()
    enterprise_id = Integer()
    plate = String()
    permit_number = String(allow_none=True)
    permit_valid_until = Date(allow_none=True)
    driver_id = Integer(allow_none=True)


class VehicleItem(VehicleOut):
    """VehicleOut, as an element of a list."""


class VehicleListOut(Schema):
    vehicles = List(Nested(VehicleItem))
    next_after_id = _next_after_id()


# --- customer files ---------------------------------------------------------------------


class CustomerPatch(Schema):
    name = String(validate=Length(1, 200))
    kind = String(validate=OneOf(list(CustomerKind)))
    address = String(validate=Length(1, 500))
    basement = Boolean(metadata={"description": "a basement or semi-basement site"})
    phone = _text(32, example="023-6788 1234")


class CustomerIn(CustomerPatch):
    name = String(required=True, validate=Length(1, 200), metadata={"example": "老火锅(观音桥店)"})
    kind = String(required=True, validate=OneOf(list(CustomerKind)))
    address = String(required=True, validate=Length(1, 500))
    basement = Boolean(required=True)


class CustomerOut(Schema):
    id = Integer()
    enterprise_id = Integer()
    name = String()
    kind = String(metadata={"enum": list(CustomerKind)})
    address = String()
    phone = String(allow_none=True)
    basement = Boolean()
    created_at = DateTime()
    erased_at = DateTime(allow_none=True, metadata={"description": "PIPL erasure: data blanked"})


class CustomerItem(CustomerOut):
    """CustomerOut, as an element of a list."""


class CustomerListOut(Schema):
    customers = List(Nested(CustomerItem))
    next_after_id = _next_after_id()
