"""Checkpoints kept outside the database (``ledger audit --witness FILE``).

The database holds the tree and its checkpoints, so someone with the database alone can
roll the log back (delete the last events, their leaves and the checkpoints above them) or
rewrite it, and the audit of that database alone still passes. A checkpoint kept elsewhere
(the server's ``<KEYS_DIR>/last-checkpoint``, ``ledger.checkpoint_memory``, or notes a
regulator saved) is a promise every later log holds: each note in the file must verify
with the audit's verifier keys, and the rebuilt tree at its size must have its root, so
the log must be at least that size (``ledger.audit_tree``).

The file holds one or more signed notes, one after another; a blank line may separate them
(a note's own blank line stands before its signature lines, which begin with ``— ``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.checkpoint import CheckpointError, Verifiers, open_checkpoint
from ledger.note import NoteError

SIG_PREFIX = "— "  # a signed note's signature lines (C2SP signed-note)


class WitnessError(ValueError):
    """A witness file that cannot be read or holds a note that does not verify; one line
    naming the file (and the note)."""


@dataclass(frozen=True)
class Witnessed:
    """A verified checkpoint of the witness file: what the log must contain."""

    source: str  # how problems name it: "witness <file> note <n>"
    size: int
    root: bytes


def split_notes(text: str) -> list[str]:
    """The signed notes of ``text``, in order, each as it was signed (CRLF read as LF)."""
    notes: list[str] = []
    body: list[str] = []
    sigs: list[str] = []
    phase = "body"  # body lines, the blank line after them, then signature lines

    def close() -> None:
        if body or sigs:
            tail = "\n" + "".join(f"{s}\n" for s in sigs) if sigs else ""
            notes.append("".join(f"{b}\n" for b in body) + tail)
        body.clear()
        sigs.clear()

    for line in text.replace("\r\n", "\n").split("\n"):
        if phase == "body":
            if line:
                body.append(line)
            elif body:
                phase = "gap"
        elif line.startswith(SIG_PREFIX):
            sigs.append(line)
            phase = "sigs"
        elif not line:
            if phase == "sigs":
                close()
                phase = "body"
        else:  # a new note begins (the last one had no signature: it will not verify)
            close()
            body.append(line)
            phase = "body"
    close()
    return notes


def load_witnesses(path: Path, verifier: Verifiers, origin: str | None) -> list[Witnessed]:
    """Every note of the file, verified with ``verifier`` (and of ``origin`` if given);
    raises WitnessError naming the file and the note."""
    bad = f"见证检查点文件有误 bad witness file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessError(_line(f"{bad}: cannot read: {exc}")) from None
    notes = split_notes(text)
    if not notes:
        raise WitnessError(f"{bad}: it holds no checkpoint note")
    witnessed = []
    for number, note in enumerate(notes, start=1):
        try:
            body = open_checkpoint(note, verifier, origin)
        except (CheckpointError, NoteError) as exc:
            raise WitnessError(_line(f"{bad}: note {number}: {exc}")) from None
        witnessed.append(Witnessed(f"witness {path} note {number}", body.size, body.root))
    return witnessed


def _line(message: str) -> str:
    return " ".join(message.split("\n"))
