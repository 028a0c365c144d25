"""Record ids: UUID version 7 (RFC 9562), time-ordered.

Ids that grow with time land at the right edge of every index that holds them
(events, log_leaves), instead of at random pages: appends and integration stay
fast as the tables grow to millions of rows.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Protocol

from ledger.errors import Invalid

_IDEMPOTENCY_NS = uuid.UUID("6f1c6f7e-2b0e-4e54-9a53-0d5f0c1e1a11")


def new_id() -> str:
    """A fresh UUIDv7: 48 bits of Unix milliseconds, version, variant, 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


class _HasId(Protocol):
    id: int | None


def idempotent_id(actor: _HasId, key: str | None) -> str | None:
    """A stable record id for an actor's Idempotency-Key, so a retry finds its first answer."""
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key must be 1–255 characters")
    return str(uuid.uuid5(_IDEMPOTENCY_NS, f"{actor.id}:{key}"))
