"""Files replaced whole or not at all: a reader never sees a half-written file, and a full
disk leaves the old file as it was (what the last checkpoint and the audit's verdict need)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_whole(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically: written to a partial file of this
    process's own beside it, flushed to disk, then renamed over it. On any error the
    partial file is removed and ``path`` is unchanged; the OSError is raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
