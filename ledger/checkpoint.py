"""C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is a signed note (https://c2sp.org/signed-note, see ledger.note)
whose text is, line by line, each line ending in U+000A:

1. origin: non-empty identity of the log (e.g. ``example.com/log42``);
2. tree size: ASCII decimal, no sign and no leading zeros ("0" for an empty tree);
3. root hash: standard, padded base64 of the RFC 6962 Merkle root (32 bytes);
4. optional extension lines: opaque, each non-empty.

Parsing is strict so that a checkpoint has exactly one spelling: any other
bytes (leading zeros, "+5", non-canonical base64, CR, blank lines) are
rejected, as a witness or monitor comparing checkpoints byte for byte expects.
The tree size is bounded to an unsigned 64-bit integer, as in
transparency-dev/formats. ``Checkpoint`` itself accepts any non-empty root so
that non-SHA-256 test vectors can be formatted; ``parse_checkpoint_body``
requires 32 bytes unless called with ``root_size=None``. ``open_checkpoint``
raises only CheckpointError, wrapping the NoteError of a bad signature.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.note import NoteError, Signer, Verifier, open_note, sign_note

# RFC 6962 / SHA-256 roots; the default for parsing (see root_size below).
ROOT_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
# ASCII only on purpose: int() alone would also take "+5", " 5", "0_5" and "٥".
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A malformed checkpoint body or a checkpoint for the wrong log."""


def _check_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointError(f"{what} is empty")
    for c in line:
        # A newline would split the field; other controls are banned by signed-note.
        if ord(c) < 0x20:
            raise CheckpointError(f"{what} contains control character {c!r}")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(f"{what} is not valid UTF-8") from None


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement of a log: origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        # bool is an int subclass; True as a tree size is certainly a bug.
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size!r} is not in 0..2**64-1")
        # Any non-empty length is allowed here so other hash sizes can be
        # formatted; parse_checkpoint_body is where 32 bytes is enforced.
        if not self.root:
            raise CheckpointError("root hash is empty")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extensions must be a tuple of lines")
        for ext in self.extensions:
            _check_line(ext, "extension line")

    def body(self) -> str:
        """Return the note text: origin, size, base64 root, extensions, each + newline."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines)


def parse_checkpoint_body(text: str, *, root_size: int | None = ROOT_SIZE) -> Checkpoint:
    """Strictly parse a checkpoint note text; `root_size=None` accepts any root length."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint body has {len(lines)} lines, need at least 3")
    origin, size_line, root_line, *extensions = lines

    _check_line(size_line, "tree size")
    if not _DECIMAL.fullmatch(size_line):
        raise CheckpointError(f"tree size {size_line!r} is not a decimal without leading zeros")
    # Length cap first: int() of a huge digit string is slow (and capped by Python).
    if len(size_line) > len(str(MAX_TREE_SIZE)):
        raise CheckpointError(f"tree size {size_line[:30]!r}... exceeds 2**64-1")
    size = int(size_line)

    _check_line(root_line, "root hash")
    try:
        root = base64.b64decode(root_line, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"root hash {root_line!r} is not valid base64") from None
    # Reject alternative spellings (non-zero padding bits) of the same root.
    if base64.b64encode(root).decode("ascii") != root_line:
        raise CheckpointError(f"root hash {root_line!r} is not canonical base64")
    if root_size is not None and len(root) != root_size:
        raise CheckpointError(f"root hash is {len(root)} bytes, want {root_size}")

    # Constructor checks the origin and extension lines (non-empty, no controls).
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """Return `cp` as a signed note signed by `signer`."""
    return sign_note(cp.body(), signer)


Verifiers = Verifier | Sequence[Verifier]


def open_checkpoint(note: str, verifier: Verifiers, origin: str | None = None) -> Checkpoint:
    """Verify `note` with `verifier` (or any of several, e.g. across a key rotation), parse
    its body and check its origin if given."""
    verifiers = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    try:
        opened = open_note(note, verifiers)
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    cp = parse_checkpoint_body(opened.text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint origin {cp.origin!r}, expected {origin!r}")
    return cp
