"""Per-cylinder hash chains: building a linked, signed event and verifying a chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ledger.events import ZERO_HASH, EventFields, event_hash, load_payload, signing_message
from ledger.keys import verify_ed25519
from ledger.model import Event


class EventRow(NamedTuple):
    """An event's columns as a plain tuple, in the model's column order (cheap to build)."""

    id: str
    cylinder_id: str
    seq: int
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor_id: int
    station_id: int | None
    site_id: int | None
    payload: str
    prev_hash: bytes
    hash: bytes
    key_id: str
    signature: bytes


assert EventRow._fields == tuple(Event.model_fields), "EventRow must follow the Event columns"

StoredEvent = Event | EventRow  # an Event row, or its columns as a tuple (the audit)


def fields_of(event: StoredEvent) -> EventFields:
    """The hashed fields of a stored event."""
    return EventFields(
        id=event.id,
        cylinder=event.cylinder_id,
        type=event.type,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        actor=event.actor_id,
        station=event.station_id,
        site=event.site_id,
        payload=load_payload(event.payload),
        prev_hash=event.prev_hash,
        key_id=event.key_id,
        payload_json=event.payload,
    )


def seal(fields: EventFields, signature: bytes, *, seq: int, payload_text: str) -> Event:
    """The Event row for fields already signed: computes the hash, links nothing else."""
    return Event(
        id=fields.id,
        cylinder_id=fields.cylinder,
        seq=seq,
        type=fields.type,
        occurred_at=fields.occurred_at,
        recorded_at=fields.recorded_at,
        actor_id=fields.actor,
        station_id=fields.station,
        site_id=fields.site,
        payload=payload_text,
        prev_hash=fields.prev_hash,
        hash=event_hash(fields),
        key_id=fields.key_id,
        signature=signature,
    )


@dataclass(frozen=True)
class Defect:
    """What is wrong with one event."""

    event_id: str
    cylinder_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"event {self.event_id} (cylinder {self.cylinder_id}, #{self.seq}): {self.problem}"


def check_event(
    event: StoredEvent, expected_prev: bytes, expected_seq: int, keys: Mapping[str, bytes]
) -> str | None:
    """The first thing wrong with one event given its predecessor, or None."""
    if event.seq != expected_seq:
        return f"sequence number is {event.seq}, expected {expected_seq} (an event is missing)"
    if event.prev_hash != expected_prev:
        return (
            f"prev_hash {event.prev_hash.hex()[:16]}… does not match the previous event's "
            f"hash {expected_prev.hex()[:16]}… (an event was removed, reordered or changed)"
        )
    try:
        fields = fields_of(event)
        recomputed = event_hash(fields)
    except (ValueError, TypeError) as exc:
        return f"stored fields cannot be canonicalised: {exc}"
    if recomputed != event.hash:
        return (
            f"stored hash {event.hash.hex()[:16]}… differs from the recomputed "
            f"{recomputed.hex()[:16]}… (a hashed field was changed)"
        )
    public_key = keys.get(event.key_id)
    if public_key is None:
        return f"signing key {event.key_id} is unknown"
    if not verify_ed25519(public_key, signing_message(fields), event.signature):
        return f"signature by key {event.key_id} does not verify"
    return None


def verify_chain(events: Sequence[StoredEvent], keys: Mapping[str, bytes]) -> Defect | None:
    """The first defect in one cylinder's events (ordered by seq), or None when it verifies."""
    prev = ZERO_HASH
    for expected_seq, event in enumerate(events, start=1):
        problem = check_event(event, prev, expected_seq, keys)
        if problem:
            return Defect(event.id, event.cylinder_id, event.seq, problem)
        prev = event.hash
    return None


def event_document(event: StoredEvent, leaf_index: int | None) -> dict[str, Any]:
    """An event as the API shows it: the hashed fields plus hash, signature and leaf index."""
    import base64

    doc = fields_of(event).hashed()
    doc.update(
        hash=event.hash.hex(),
        signature=base64.b64encode(event.signature).decode(),
        leaf_index=leaf_index,
    )
    return doc


def recompute_hash(event: StoredEvent) -> bytes:
    """The hash a stored event should have, from its stored fields."""
    return event_hash(fields_of(event))
