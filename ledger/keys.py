"""Key files and key ids.

Server keys are kept as C2SP signed-note private key strings
(``PRIVATE+KEY+name+hex8+base64(0x01‖seed)``), one per file, created on first
use with mode 0600. Device keys (stations, phones) are raw Ed25519 public keys
registered in ``signing_keys`` under ``device_key_id``.

A rotated checkpoint key lives on as a verifier in ``<keys>/retired/`` (docs/deploy.md §9):
``*.vkey``, its public verifier key ``name+hex8+base64`` (recommended: nothing secret is
kept), or ``*.key``, the old signer key file itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.note import (
    Signer,
    Verifier,
    generate_signer_key,
    signer_from_key,
    verifier_from_key,
    verifier_key_for,
)

SERVER_KEY_FILE = "server.key"  # checkpoints and server-signed events
REGISTRY_KEY_FILE = "registry.key"  # signatures in printed QR codes
RETIRED_DIR = "retired"  # verifiers of rotated checkpoint keys, inside the keys folder


class KeyFileError(ValueError):
    """A key file that cannot be read or does not hold the key expected; names the file."""


def load_or_create_signer(path: Path, name: str) -> Signer:
    """Read a signer key file, creating it (0600) with a fresh key when absent; KeyFileError
    names the file when it cannot be read or made (permissions, a folder in its place)."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_whole(path, generate_signer_key(name) + "\n")
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"密钥文件无法读取或创建 cannot read or create {path}: {exc}") from None
    try:
        signer = signer_from_key(text)
    except ValueError as exc:  # the message says what is wrong, never the key
        raise KeyFileError(f"密钥文件有误 bad key file {path}: {exc}") from None
    if signer.name != name:
        raise KeyFileError(
            f"密钥文件的名称不符 key file {path} holds a key named {signer.name!r}, expected "
            f"{name!r} (LEDGER_ORIGIN names the server key)"
        )
    return signer


def _create_whole(path: Path, text: str) -> None:
    """Write a new key file (0600) whole, unless another process created it first: keys are
    created on first use, so two workers may try at once; the first one's key is kept and
    nobody reads a half-written file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key: the one read
            os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_server_signer(path: Path, name: str) -> Signer:
    """Read the server key file, never creating it (the audit only reads); KeyFileError
    names the file when it is absent or does not hold one key named ``name``."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise KeyFileError(f"未找到服务器密钥 no server key at {path}; pass --key") from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"服务器密钥无法读取 cannot read the server key {path}: {exc}") from None
    try:
        signer = signer_from_key(text)
    except ValueError as exc:  # the message says what is wrong, never the key
        raise KeyFileError(f"服务器密钥文件有误 bad server key file {path}: {exc}") from None
    if signer.name != name:
        raise KeyFileError(
            f"服务器密钥文件有误 bad server key file {path}: it holds a key named "
            f"{signer.name!r}, expected {name!r}"
        )
    return signer


def retired_verifiers(folder: Path, name: str) -> list[Verifier]:
    """The verifiers of the retired checkpoint keys in ``folder`` (none if it is absent).

    Every ``*.vkey`` (a verifier key) and ``*.key`` (a signer key file, read, never
    created) counts; hidden files are skipped. Anything else, or a file that does not hold
    one key named ``name`` (the log's origin), raises KeyFileError naming the file.
    """
    if not folder.exists():
        return []
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise KeyFileError(f"退役密钥目录无法读取 cannot read {folder}: {exc}") from None
    return [_retired_verifier(path, name) for path in entries]


def _retired_verifier(path: Path, name: str) -> Verifier:
    bad = f"退役密钥文件有误 bad retired key file {path}"
    if path.suffix not in (".key", ".vkey"):
        raise KeyFileError(f"{bad}: expected *.vkey (a verifier key) or *.key (a signer key)")
    try:
        text = path.read_text().strip()
    except (OSError, ValueError) as exc:  # unreadable, a folder, not UTF-8
        raise KeyFileError(f"{bad}: {exc}") from None
    if path.suffix == ".vkey" and text.startswith("PRIVATE+"):
        raise KeyFileError(f"{bad}: it holds a private key; a .vkey holds name+hex8+base64")
    try:
        if path.suffix == ".key":
            verifier = verifier_from_key(verifier_key_for(signer_from_key(text)))
        else:
            verifier = verifier_from_key(text)
    except ValueError as exc:  # a NoteError: the message says what is wrong, not the key
        raise KeyFileError(f"{bad}: {exc}") from None
    if verifier.name != name:
        raise KeyFileError(f"{bad}: it holds a key named {verifier.name!r}, expected {name!r}")
    return verifier


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
