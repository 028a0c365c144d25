"""Record ids: UUID version 7 (RFC 9562), time-ordered.

Ids that grow with time land at the right edge of every index that holds them
(events, log_leaves), instead of at random pages: appends and integration stay
fast as the tables grow to millions of rows.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A fresh UUIDv7: 48 bits of Unix milliseconds, version, variant, 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
