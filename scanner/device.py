"""The station's own Ed25519 device key, and signing of the events it attests.

The key is a raw 32-byte seed in a file created on first run with mode 0600; its
public half is registered once with ``POST /actors/me/key``. Events are signed as
ledger/FORMAT.md §3 says: Ed25519 over ``b"cylinder-event:v1:" ‖ JCS(claim)``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.events import ZERO_HASH, EventFields, signing_message
from ledger.keys import device_key_id


@dataclass(frozen=True)
class DeviceKey:
    """A station's signing key."""

    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private.public_key().public_bytes_raw()

    @property
    def key_id(self) -> str:
        """The key id the ledger gives this key (FORMAT.md §3)."""
        return device_key_id(self.public_bytes)

    def public_b64(self) -> str:
        """The public key as base64, the form ``POST /actors/me/key`` takes."""
        return base64.b64encode(self.public_bytes).decode()

    def sign_claim(
        self,
        *,
        event_id: str,
        cylinder: str,
        type: str,
        occurred_at: dt.datetime,
        actor: int,
        station: int | None,
        payload: Mapping[str, Any],
    ) -> str:
        """Base64 signature over an event's claim (FORMAT.md §3)."""
        fields = EventFields(
            id=event_id, cylinder=cylinder, type=type, occurred_at=occurred_at,
            recorded_at=occurred_at,  # not part of the claim
            actor=actor, station=station, site=None, payload=payload,
            prev_hash=ZERO_HASH, key_id=self.key_id,  # not part of the claim
        )  # fmt: skip
        return base64.b64encode(self.private.sign(signing_message(fields))).decode()


def load_or_create(path: Path) -> DeviceKey:
    """Read the device key file, creating it (mode 0600) with a fresh key when absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(seed) + b"\n")
    raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    if len(raw) != 32:
        raise ValueError(f"{path} does not hold a 32-byte Ed25519 seed")
    return DeviceKey(Ed25519PrivateKey.from_private_bytes(raw))
