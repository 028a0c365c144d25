"""Cylinder codes and the signed QR payload (DESIGN §4, a contract).

A code is 1–20 characters of A–Z and 0–9, unique forever. Codes issued here
are 11 random Crockford base-32 symbols (no I, L, O, U: nothing to misread)
plus an ISO 7064 MOD 37,36 check character, so a code typed by hand with one
wrong or two swapped characters is caught before it reaches the server.
The QR holds ``{base}/c/{code}?s={sig}``, sig = base64url (no padding) of the
registry key's Ed25519 signature over ``b"cylinder-code:v1:" + code``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.keys import verify_ed25519
from ledger.note import Signer

CODE_RE = re.compile(r"^[A-Z0-9]{1,20}\Z")  # \Z: not "$", which allows a final newline
CONTEXT = b"cylinder-code:v1:"
_RANDOM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ISO7064_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RANDOM_LENGTH = 11
MAX_SCAN_LENGTH = 2048
_PRINTED_GROUPS = re.compile(r"^(?:[A-Z0-9]{4} )+[A-Z0-9]{1,4}\Z")


class ScanError(ValueError):
    """A scan that is neither a cylinder URL nor a bare code."""


@dataclass(frozen=True)
class Scan:
    """A parsed scan: the code and, when the QR carried one, its signature."""

    code: str
    signature: bytes | None


def check_char(body: str) -> str:
    """ISO 7064 MOD 37,36 check character for an alphanumeric string."""
    m = 36
    p = m
    for ch in body:
        s = (p % (m + 1)) + _ISO7064_ALPHABET.index(ch)
        s = s % m or m
        p = s * 2
    return _ISO7064_ALPHABET[(m + 1 - p % (m + 1)) % m]


def has_valid_check_char(code: str) -> bool:
    """True when the last character of an issued code matches the rest."""
    return len(code) >= 2 and CODE_RE.match(code) is not None and check_char(code[:-1]) == code[-1]


def new_code() -> str:
    """A fresh random code with its check character (55 random bits)."""
    body = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return body + check_char(body)


def is_valid_code(code: str) -> bool:
    """True for 1–20 characters of A–Z and 0–9."""
    return CODE_RE.match(code) is not None


def sign_code(code: str, registry: Signer) -> bytes:
    """The registry's signature over a code."""
    return registry.sign(CONTEXT + code.encode())


def qr_url(base_url: str, code: str, registry: Signer) -> str:
    """The URL a label's QR encodes."""
    sig = base64.urlsafe_b64encode(sign_code(code, registry)).rstrip(b"=").decode()
    return f"{base_url.rstrip('/')}/c/{code}?s={sig}"


def verify_code(code: str, signature: bytes, registry_public_key: bytes) -> bool:
    """True when signature is the registry's signature over code (works offline)."""
    return verify_ed25519(registry_public_key, CONTEXT + code.encode(), signature)


def _b64url(text: str) -> bytes:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ScanError("the code's signature is not base64url") from exc
    return raw


def normalise(text: str) -> str:
    """A code as typed or read: trimmed, and upper-cased only when it is ASCII, since
    str.upper() maps some other letters onto code characters (ſ → S, ı → I) and would
    accept a code never printed."""
    text = text.strip()
    return text.upper() if text.isascii() else text


def parse_scan(text: str) -> Scan:
    """Parse what a camera or a keyboard-wedge scanner read: a §4 URL or a bare code."""
    if not isinstance(text, str) or len(text) > MAX_SCAN_LENGTH:
        raise ScanError("scan too long or not text")
    text = text.strip()
    if "://" not in text:
        code = normalise(text)
        if _PRINTED_GROUPS.match(code):  # typed as printed on the label, in groups of four
            code = code.replace(" ", "")
        if not is_valid_code(code):
            raise ScanError(f"not a cylinder code: {text[:40]!r}")
        return Scan(code, None)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. "http://[/c/…": an unbalanced IPv6 bracket (found by hypothesis)
        raise ScanError("not a cylinder URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ScanError("not a cylinder URL")
    match = re.fullmatch(r"(?:.*/)?c/([^/]+)/?", unquote(parts.path))
    if not match or not is_valid_code(match.group(1)):
        raise ScanError("not a cylinder URL")
    sig_values = parse_qs(parts.query, keep_blank_values=True).get("s")
    if not sig_values:
        return Scan(match.group(1), None)
    if len(sig_values) > 1:
        raise ScanError("a cylinder URL carries one signature")
    return Scan(match.group(1), _b64url(sig_values[0]))
