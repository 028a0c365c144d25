"""The server's signing identity: its keys, the key ids they sign under, and the keys of record."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import inspect, select
from sqlmodel import Session, col

from ledger import codes
from ledger.keys import REGISTRY_KEY_FILE, SERVER_KEY_FILE, device_key_id, public_bytes
from ledger.model import Checkpoint, Cylinder, SigningKey
from ledger.note import Signer

_QR_CACHE_SIZE = 100_000  # ~20 MB at most


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

    @cached_property
    def _qr_urls(self) -> dict[str, str]:
        return {}

    def qr(self, code: str) -> str:
        """The signed QR URL of a code (Ed25519 signatures are deterministic: each code is
        signed once per process, not on every answer that shows it)."""
        url = self._qr_urls.get(code)
        if url is None:
            if len(self._qr_urls) >= _QR_CACHE_SIZE:
                self._qr_urls.clear()
            url = self._qr_urls[code] = codes.qr_url(self.base_url, code, self.registry)
        return url


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


def key_files_in_use(session: Session) -> list[str]:
    """The key files whose signatures the ledger already holds, so a new key in their place
    would not verify them: the server key's once a checkpoint is signed, the registry key's
    once a cylinder is registered (its printed QR code carries the registry's signature).
    Neither for a database not migrated yet."""
    if not inspect(session.connection()).has_table(Checkpoint.__tablename__):
        return []
    used = (
        (SERVER_KEY_FILE, select(col(Checkpoint.id)).limit(1)),
        (REGISTRY_KEY_FILE, select(col(Cylinder.id)).limit(1)),
    )
    return [name for name, query in used if session.execute(query).first() is not None]
