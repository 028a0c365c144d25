"""Key files and key ids.

Server keys are kept as C2SP signed-note private key strings
(``PRIVATE+KEY+name+hex8+base64(0x01‖seed)``), one per file, created on first
use with mode 0600. Device keys (stations, phones) are raw Ed25519 public keys
registered in ``signing_keys`` under ``device_key_id``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.note import Signer, generate_signer_key, signer_from_key

SERVER_KEY_FILE = "server.key"  # checkpoints and server-signed events
REGISTRY_KEY_FILE = "registry.key"  # signatures in printed QR codes


def load_or_create_signer(path: Path, name: str) -> Signer:
    """Read a signer key file, creating it (0600) with a fresh key when absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_signer_key(name) + "\n")
    signer = signer_from_key(path.read_text().strip())
    if signer.name != name:
        raise ValueError(f"{path} holds a key named {signer.name!r}, expected {name!r}")
    return signer


def public_bytes(signer: Signer) -> bytes:
    """The raw 32-byte Ed25519 public key of a signer."""
    from cryptography.hazmat.primitives import serialization

    return signer.private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def device_key_id(public_key: bytes) -> str:
    """Key id of an event-signing key: hex of the first 8 bytes of SHA-256(pub)."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key).digest()[:8].hex()


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when signature is a valid Ed25519 signature of message under public_key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
