"""EPCIS 2.0 JSON-LD export of a cylinder's events (GS1 CBV business steps). Pure.

Identifiers: a cylinder of an enterprise with a GS1 company prefix is the GRAI
``urn:epc:id:grai:<prefix>.<asset type>.<serial>``, with the serial its printed code
and the asset type its rated fill in kg, zero-padded so that prefix and asset type make
12 digits. Without a prefix (or with a code GRAI cannot carry) it is
``urn:cylinder-ledger:cylinder:<cylinder id>``, stable across relabelling. Locations
are ``urn:cylinder-ledger:station:<id>``; the chain's hash travels as ``cl:hash``.

Business steps: a GS1 CBV 2.0 bizStep where one fits (its bare name, which the EPCIS
context expands); else a full URI in the ledger's own vocabulary,
``https://<origin host>/voc/bizstep/<step>``. The ledger's own event names
(``ledger.events.EVENT_TYPES``) are part of the hashed format and stay as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ledger.chain import StoredEvent
from ledger.events import load_payload, rfc3339
from ledger.model import Cylinder

CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
NAMESPACE = "https://cylinder-ledger.example/epcis#"
GRAI_SERIAL_MAX = 16
DEFAULT_HOST = "cylinder-ledger.example"
# Each event type's CBV 2.0 bizStep (https://ref.gs1.org/cbv/BizStep-...).
CBV_STEPS = {
    "registered": "commissioning",
    "fill_blocked": "inspecting",
    "delivery_blocked": "inspecting",
    "dispatched": "shipping",
    "delivered": "receiving",
    "returned": "collecting",  # CBV: collecting returnable assets
    "inspected": "inspecting",
    "relabelled": "encoding",  # CBV: writing a new identifier to a label
    "reported": "inspecting",
    "held": "holding",
    "scrapped": "destroying",
}
# No CBV step fits these: our own vocabulary, as full URIs.
OWN_STEPS = {
    "filled": "filling",
    "ownership_transferred": "transferring",
    "released": "releasing",
}
_ACTIONS = {"registered": "ADD", "scrapped": "DELETE"}
_DISPOSITIONS = {
    "registered": "active",
    "filled": "active",
    "dispatched": "in_transit",
    "delivered": "in_progress",
    "returned": "returned",
    "held": "non_sellable_other",
    "released": "active",
    "scrapped": "destroyed",
    "fill_blocked": "non_sellable_other",
    "delivery_blocked": "non_sellable_other",
}


def identifier(cylinder: Cylinder, gs1_prefix: str | None) -> str:
    """The cylinder's EPC URI: a GRAI when its owner has a GS1 prefix, else our own URN."""
    prefix_ok = bool(gs1_prefix and gs1_prefix.isdigit() and 6 <= len(gs1_prefix) <= 11)
    if gs1_prefix and prefix_ok and len(cylinder.code) <= GRAI_SERIAL_MAX:
        digits = 12 - len(gs1_prefix)
        asset = str(round(cylinder.capacity_kg)).zfill(digits)[-digits:]
        return f"urn:epc:id:grai:{gs1_prefix}.{asset}.{cylinder.code}"
    return f"urn:cylinder-ledger:cylinder:{cylinder.id}"


def biz_step(event_type: str, origin: str = DEFAULT_HOST) -> str:
    """The EPCIS bizStep of an event type: a CBV 2.0 step, else our own vocabulary's URI."""
    if event_type in CBV_STEPS:
        return CBV_STEPS[event_type]
    host = origin.split("/", 1)[0] or DEFAULT_HOST
    return f"https://{host}/voc/bizstep/{OWN_STEPS[event_type]}"


def object_event(event: StoredEvent, epc: str, origin: str = DEFAULT_HOST) -> dict[str, Any]:
    """One ledger event as an EPCIS ObjectEvent (``origin``: the ledger's, for our URIs)."""
    doc: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{event.id}",
        "eventTime": rfc3339(event.occurred_at),
        "recordTime": rfc3339(event.recorded_at),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [epc],
        "action": _ACTIONS.get(event.type, "OBSERVE"),
        "bizStep": biz_step(event.type, origin),
        "cl:eventType": event.type,
        "cl:hash": event.hash.hex(),
        "cl:payload": load_payload(event.payload),
    }
    if event.type in _DISPOSITIONS:
        doc["disposition"] = _DISPOSITIONS[event.type]
    if event.station_id is not None:
        location = {"id": f"urn:cylinder-ledger:station:{event.station_id}"}
        doc["readPoint"] = location
        doc["bizLocation"] = location
    return doc


def document(
    cylinder: Cylinder,
    events: Iterable[StoredEvent],
    gs1_prefix: str | None,
    created: dt.datetime,
    origin: str = DEFAULT_HOST,
) -> dict[str, Any]:
    """An EPCISDocument of a cylinder's events, in chain order."""
    epc = identifier(cylinder, gs1_prefix)
    return {
        "@context": [CONTEXT, {"cl": NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created),
        "epcisBody": {"eventList": [object_event(e, epc, origin) for e in events]},
    }
