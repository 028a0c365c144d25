"""ledger.whole_files: a file replaced whole or not at all, even when the disk fills."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger.whole_files import write_whole

ROOT = Path(__file__).resolve().parents[2]

# In a child whose files may not grow past 1,000 bytes (EFBIG, as on a full disk).
WRITE_PAST_LIMIT = """
import resource, signal, sys
from pathlib import Path
from ledger.whole_files import write_whole
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    write_whole(Path(sys.argv[1]), "new " * 1000)
except OSError as exc:
    print(exc.errno)
"""


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "last_audit.json"
    write_whole(path, "first")
    write_whole(path, "二 second")
    assert path.read_text(encoding="utf-8") == "二 second"
    assert [p.name for p in path.parent.iterdir()] == ["last_audit.json"]


def test_a_write_the_disk_refuses_keeps_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "last_audit.json"
    path.write_text('{"ok": true}')
    done = subprocess.run(
        [sys.executable, "-c", WRITE_PAST_LIMIT, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "27", done.stderr  # EFBIG: the write was refused
    assert path.read_text() == '{"ok": true}'  # not emptied, not half-written
    assert [p.name for p in tmp_path.iterdir()] == ["last_audit.json"]  # no partial left
