"""The event catalogue, payload validation and the canonical bytes that get hashed.

The exact bytes are pinned in ledger/FORMAT.md: change nothing here without
changing that document, because outside verifiers recompute these hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

ZERO_HASH = bytes(32)
SIGNATURE_CONTEXT = b"cylinder-event:v1:"


class PayloadError(ValueError):
    """A payload that does not fit its event type's schema."""


# GS1 CBV business step for each event type (used by the EPCIS export).
EVENT_TYPES: dict[str, str] = {
    "registered": "commissioning",
    "filled": "filling",
    "fill_blocked": "inspecting",
    "delivery_blocked": "inspecting",
    "dispatched": "shipping",
    "delivered": "receiving",
    "returned": "returning",
    "inspected": "inspecting",
    "relabelled": "relabelling",
    "ownership_transferred": "transferring",
    "reported": "inspecting",
    "held": "holding",
    "released": "releasing",
    "scrapped": "destroying",
}


def rfc3339(ts: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-23T06:00:00.000000Z."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime")
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp with an offset; naive times are refused."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise PayloadError(f"时间格式不对 / not an RFC 3339 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        raise PayloadError(f"时间缺少时区 / timestamp without a UTC offset: {text!r}")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise PayloadError(f"时间超出范围 / timestamp out of range: {text!r}") from exc


def canonical(obj: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme bytes."""
    return rfc8785.dumps(obj)


@dataclass(frozen=True)
class EventFields:
    """Exactly the hashed fields of an event (FORMAT.md §Event hash)."""

    id: str
    cylinder: str
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor: int
    station: int | None
    site: int | None
    payload: Mapping[str, Any]
    prev_hash: bytes
    key_id: str
    # The payload's canonical JSON when already known (the stored text), saving a
    # canonicalisation per event on the append and audit paths.
    payload_json: str | None = None

    def claim(self) -> dict[str, Any]:
        """What the actor attests and signs: the fields known before the server chains it."""
        return {
            "id": self.id,
            "cylinder": self.cylinder,
            "type": self.type,
            "occurred_at": rfc3339(self.occurred_at),
            "actor": self.actor,
            "station": self.station,
            "site": self.site,
            "payload": dict(self.payload),
        }

    def hashed(self) -> dict[str, Any]:
        """The claim plus the server's fields: what the event hash covers."""
        doc = self.claim()
        doc["recorded_at"] = rfc3339(self.recorded_at)
        doc["prev_hash"] = self.prev_hash.hex()
        doc["key_id"] = self.key_id
        return doc


def _scalar(value: str | int | None) -> str:
    # For text, integers and null, json.dumps is byte-for-byte RFC 8785 (JCS escapes the
    # same characters, with lowercase hex, and leaves non-ASCII text as it is).
    return json.dumps(value, ensure_ascii=False)


def _members(fields: EventFields, *, hashed: bool) -> bytes:
    """JCS of the claim or hashed document, assembled around the canonical payload."""
    payload = fields.payload_json
    if payload is None:
        payload = canonical(dict(fields.payload)).decode()
    members = {
        "actor": _scalar(fields.actor),
        "cylinder": _scalar(fields.cylinder),
        "id": _scalar(fields.id),
        "occurred_at": _scalar(rfc3339(fields.occurred_at)),
        "payload": payload,
        "site": _scalar(fields.site),
        "station": _scalar(fields.station),
        "type": _scalar(fields.type),
    }
    if hashed:
        members.update(
            key_id=_scalar(fields.key_id),
            prev_hash=_scalar(fields.prev_hash.hex()),
            recorded_at=_scalar(rfc3339(fields.recorded_at)),
        )
    # Every key is ASCII, so sorting by code point is JCS's UTF-16 order.
    body = ",".join(f'"{key}":{members[key]}' for key in sorted(members))
    return ("{" + body + "}").encode()


def event_hash(fields: EventFields) -> bytes:
    """SHA-256 of the canonical bytes of the hashed fields."""
    return hashlib.sha256(_members(fields, hashed=True)).digest()


def signing_message(fields: EventFields) -> bytes:
    """The bytes an actor signs: a context string and the canonical claim."""
    return SIGNATURE_CONTEXT + _members(fields, hashed=False)


def hashed_bytes(fields: EventFields) -> bytes:
    """The canonical bytes the event hash is taken of (equal to JCS of ``hashed()``)."""
    return _members(fields, hashed=True)


def payload_text(payload: Mapping[str, Any]) -> str:
    """The payload as stored: its canonical JSON, so the hash never depends on a driver."""
    return canonical(dict(payload)).decode()


def load_payload(text: str) -> dict[str, Any]:
    """The stored payload as a dict; ValueError unless it is exactly a canonical JSON object.

    Comparing with the canonical form catches an edit that keeps the JSON value
    (1e-7 written 1E-7), which re-hashing the parsed value alone would miss.
    """
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the stored payload is not a JSON object")
    if canonical(value).decode() != text:
        raise ValueError("the stored payload is not in its canonical form (it was edited)")
    return value
