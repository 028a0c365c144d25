"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

A signed note is UTF-8 text ending in a newline, a blank line, then one or
more signature lines ``"— <key name> <base64(key ID || signature)>\\n"`` where
"—" is U+2014 EM DASH. The key ID is ``SHA-256(name || 0x0A || 0x01 || pub)[:4]``
and the signature is Ed25519 (RFC 8032) over the note text, which includes its
final newline but not the separating blank line. Keys are written as in Go's
golang.org/x/mod/sumdb/note:

* verifier key: ``<name>+<hex8 key ID>+<base64(0x01 || 32-byte public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>``

Parsing is at least as strict as Go's implementation: key names must be
non-empty without Unicode spaces, "+" or control characters; the note must be
valid UTF-8 without ASCII control characters other than newline; at most 100
signature lines; only algorithm byte 0x01 (Ed25519). We are stricter in three
places: base64 must be canonical (the exact encoding ``base64.b64encode`` would
produce), the hex key ID must be 8 lowercase digits, and a duplicate signature
line from a known key is verified rather than skipped (the spec says a known
key's signature MUST be verified).

``split_note`` parses without verifying; ``open_note`` verifies and reports
verified (name, key ID) pairs plus signatures from unknown keys, which the spec
says must be ignored, not rejected.

Ed25519 acceptance is whatever ``cryptography``'s bundled OpenSSL does (checked
with cryptography 50.0.2 / OpenSSL 4.0.3), pinned by
tests/unit/test_ed25519_vectors.py against the C2SP/CCTV edge-case vectors:
the "ref10" cofactorless rule. Accepted: low-order and mixed-order A and R,
non-canonical encodings of A. Rejected: non-canonical R, signatures that only
verify under the cofactored equation (``low_order_residue``), and S >= L.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALG_ED25519 = 0x01
# Same bound as Go's note.Open: caps the work an attacker can make us do per note.
MAX_SIGNATURES = 100
SIG_PREFIX = "\u2014 "  # EM DASH + space starts every signature line
_HEX8 = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls except newline


class NoteError(ValueError):
    """A malformed or unverifiable note, key or signature."""


def check_key_name(name: str) -> None:
    """Refuse (NoteError) a name a key or a log origin cannot have (space and "+" are the
    field separators of signature lines and key strings)."""
    if not name:
        raise NoteError("key name is empty")
    if any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name):
        raise NoteError(f"key name {name!r} contains a space, '+' or control character")
    _check_utf8(name, "key name")


def _check_utf8(text: str, what: str) -> None:
    # A Python str may hold lone surrogates, which have no UTF-8 encoding.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8: {exc.reason}") from None


def _check_text(text: str, what: str) -> None:
    _check_utf8(text, what)
    bad = _CONTROL.search(text)
    if bad:
        raise NoteError(f"{what} contains control character {bad[0]!r} at offset {bad.start()}")


def _b64decode(s: str, what: str) -> bytes:
    # Canonical only: otherwise one signature has several spellings, and
    # tooling comparing note bytes would disagree about "the same" note.
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def key_id(name: str, public_key_bytes: bytes) -> bytes:
    """Return the 4-byte C2SP key ID of an Ed25519 public key under `name`."""
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key_bytes
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key that signs note texts."""

    name: str
    key_id: bytes
    private: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.key_id) != 4:
            raise NoteError("key ID must be 4 bytes")

    def sign(self, msg: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature of `msg`."""
        return self.private.sign(msg)


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures."""

    # key_id is not recomputed here (the spec only RECOMMENDS the SHA-256
    # derivation); verifier_from_key does check it for key strings.

    name: str
    key_id: bytes
    public: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.key_id) != 4:
            raise NoteError("key ID must be 4 bytes")

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Return whether `sig` is a valid Ed25519 signature of `msg`; never raises."""
        if len(sig) != 64:
            return False
        try:
            self.public.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


class Signature(NamedTuple):
    """One signature line: key name, 4-byte key ID and raw signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the signature line as it appears in a note, with newline."""
        b64 = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIG_PREFIX}{self.name} {b64}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: text, verified (name, key ID) pairs, unknown-key signatures."""

    text: str
    verified: list[tuple[str, bytes]]
    unverified: list[Signature]


def generate_signer_key(name: str) -> str:
    """Return a new random signer key string for `name`."""
    check_key_name(name)
    private = Ed25519PrivateKey.generate()
    kid = key_id(name, private.public_key().public_bytes_raw())
    seed = base64.b64encode(bytes([ALG_ED25519]) + private.private_bytes_raw()).decode("ascii")
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{seed}"


def _parse_key_fields(name: str, hex8: str, b64: str, what: str) -> tuple[bytes, bytes]:
    check_key_name(name)
    if not _HEX8.fullmatch(hex8):
        raise NoteError(f"{what} key ID {hex8!r} is not 8 lowercase hex digits")
    raw = _b64decode(b64, f"{what} key")
    if not raw:
        raise NoteError(f"{what} key is empty")
    if raw[0] != ALG_ED25519:
        raise NoteError(f"{what} key algorithm 0x{raw[0]:02x} is not Ed25519 (0x01)")
    if len(raw) != 33:
        raise NoteError(f"{what} key must be 32 bytes, got {len(raw) - 1}")
    return bytes.fromhex(hex8), raw[1:]


def signer_from_key(skey: str) -> Signer:
    """Parse a ``PRIVATE+KEY+name+hex8+base64`` signer key."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("signer key must look like PRIVATE+KEY+<name>+<hex8>+<base64>")
    kid, seed = _parse_key_fields(parts[2], parts[3], parts[4], "signer")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    # Catches a key ID typed or copied wrong, which would make every note unverifiable.
    if key_id(parts[2], private.public_key().public_bytes_raw()) != kid:
        raise NoteError("signer key ID does not match name and key")
    return Signer(parts[2], kid, private)


def verifier_key_for(signer: Signer) -> str:
    """Return the ``name+hex8+base64`` verifier key matching `signer`."""
    pub = bytes([ALG_ED25519]) + signer.private.public_key().public_bytes_raw()
    return f"{signer.name}+{signer.key_id.hex()}+{base64.b64encode(pub).decode('ascii')}"


def verifier_from_key(vkey: str) -> Verifier:
    """Parse a ``name+hex8+base64`` verifier key."""
    # The base64 alphabet contains "+", so only the first two "+" are separators.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key must look like <name>+<hex8>+<base64>")
    kid, pub = _parse_key_fields(parts[0], parts[1], parts[2], "verifier")
    if key_id(parts[0], pub) != kid:
        raise NoteError("verifier key ID does not match name and key")
    return Verifier(parts[0], kid, Ed25519PublicKey.from_public_bytes(pub))


def sign_note(text: str, *signers: Signer) -> str:
    """Sign `text` (which must end in a newline) with each signer, in order."""
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    _check_text(text, "note text")
    if not signers:
        raise NoteError("at least one signer is required")
    if len(signers) > MAX_SIGNATURES:  # we would refuse to open the result
        raise NoteError(f"more than {MAX_SIGNATURES} signers")
    msg = text.encode("utf-8")
    lines = [Signature(s.name, s.key_id, s.sign(msg)).line() for s in signers]
    return text + "\n" + "".join(lines)


def _parse_sig_line(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise NoteError(f"signature line {line[:40]!r}... does not start with '— '")
    name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError(f"signature line {line[:40]!r}... has no space before the signature")
    check_key_name(name)
    raw = _b64decode(b64, f"signature from {name!r}")
    # Go's bound: a 4-byte key ID and at least one signature byte.
    if len(raw) < 5:
        raise NoteError(f"signature from {name!r} is too short")
    return Signature(name, raw[:4], raw[4:])


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split `note` into text and parsed signature lines WITHOUT verifying anything."""
    _check_text(note, "note")
    # The text ends at the *last* blank line: the text itself may contain blank lines.
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note must end with a signature line and newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_sig_line(line) for line in lines]


def open_note(note: str, verifiers: Sequence[Verifier]) -> Note:
    """Parse `note` and verify it; at least one of `verifiers` must have signed it."""
    text, sigs = split_note(note)
    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), []).append(v)

    msg = text.encode("utf-8")
    verified: list[tuple[str, bytes]] = []
    unverified: list[Signature] = []
    for sig in sigs:
        ref = (sig.name, sig.key_id)
        candidates = known.get(ref)
        if candidates is None:
            # Unknown keys MUST be ignored (key rotation, cosigners); keep them
            # so callers can pass them on, dropping exact duplicates as Go does.
            if sig not in unverified:
                unverified.append(sig)
            continue
        # Two different keys under one name+ID: we cannot know which one is meant.
        if len({v.public.public_bytes_raw() for v in candidates}) > 1:
            raise NoteError(f"ambiguous verifiers for {sig.name!r}+{sig.key_id.hex()}")
        # Verified even when repeated: the spec says a known key's signature MUST be checked.
        if not candidates[0].verify(msg, sig.signature):
            raise NoteError(f"invalid signature from {sig.name!r}+{sig.key_id.hex()}")
        if ref not in verified:
            verified.append(ref)
    if not verified:
        raise NoteError("note is not signed by any known verifier")
    return Note(text, verified, unverified)
