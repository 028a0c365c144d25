"""Request schemas: types and shapes here; ranges and business meaning in ledger/."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Float, Integer, String
from apiflask.validators import Length, OneOf, Range, Regexp

from ledger.events import EVENT_TYPES

CODE = Regexp(r"^[A-Z0-9]{1,20}$", error="1–20 characters A–Z and 0–9")


class CylinderIn(Schema):
    serial = String(required=True, validate=Length(1, 64), metadata={"description": "钢印号"})
    manufacturer = String(required=True, validate=Length(1, 200))
    manufactured_on = Date(required=True)
    model = String(required=True, validate=Length(1, 32), metadata={"example": "YSP35.5"})
    capacity_kg = Float(required=True, validate=Range(0, 100, min_inclusive=False))
    tare_kg = Float(required=True, validate=Range(0, 200, min_inclusive=False))
    dual_phase = Boolean(load_default=False)
    last_inspected_on = Date(load_default=None, allow_none=True)
    service_life_years = Integer(load_default=None, allow_none=True, validate=Range(1, 50))
    code = String(load_default=None, allow_none=True, validate=CODE)


class EventIn(Schema):
    type = String(required=True, validate=OneOf(sorted(set(EVENT_TYPES) - {"registered"})))
    occurred_at = DateTime(load_default=None, allow_none=True, metadata={"format": "date-time"})
    payload = Dict(load_default=dict)
    id = String(
        load_default=None,
        allow_none=True,
        validate=Regexp(
            r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            error="a lowercase UUID",
        ),
    )
    signature = String(
        load_default=None,
        allow_none=True,
        validate=Length(1, 200),
        metadata={"description": "base64 Ed25519 signature of the claim by the actor's device key"},
    )


class FillCheckIn(Schema):
    station_id = Integer(required=True, validate=Range(1, 2**31 - 1))
    scan = String(
        required=True,
        validate=Length(1, 2048),
        metadata={"description": "the raw QR text (the §4 URL) or a bare code from a wedge"},
    )


class SyncQuery(Schema):
    since = DateTime(
        load_default=None,
        metadata={"description": "only cylinders changed after this time (RFC 3339)"},
    )


class InclusionQuery(Schema):
    index = Integer(required=True, validate=Range(min=0))
    size = Integer(required=True, validate=Range(min=1))


class ConsistencyQuery(Schema):
    old = Integer(required=True, validate=Range(min=0))
    new = Integer(required=True, validate=Range(min=0))
