"""The server's signing identity: its keys, the key ids they sign under, and the keys of record."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import codes
from ledger.keys import device_key_id, public_bytes
from ledger.model import SigningKey
from ledger.note import Signer


@dataclass(frozen=True)
class Authority:
    """The server's keys and public identity."""

    server: Signer  # signs checkpoints and events of actors without a device key
    registry: Signer  # signs the codes printed in QR labels
    base_url: str
    origin: str

    @cached_property
    def server_key_id(self) -> str:
        """Event key id of the server key."""
        return device_key_id(public_bytes(self.server))

    def qr(self, code: str) -> str:
        """The signed QR URL of a code."""
        return codes.qr_url(self.base_url, code, self.registry)


def ensure_server_key(session: Session, authority: Authority) -> None:
    """Register the server's public key so server-signed events verify."""
    if session.get(SigningKey, authority.server_key_id) is None:
        session.add(
            SigningKey(key_id=authority.server_key_id, public_key=public_bytes(authority.server))
        )
        session.flush()


def signing_keys(session: Session) -> dict[str, bytes]:
    """Every registered event-signing key by id."""
    return {
        k: v for k, v in session.execute(select(col(SigningKey.key_id), col(SigningKey.public_key)))
    }
