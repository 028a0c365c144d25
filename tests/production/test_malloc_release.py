"""A worker gives the memory a label freed back to the system once the label is sent
(app/malloc_release.py): malloc keeps freed blocks between live ones, out of the system's
reach, until it is asked to return them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import malloc_release
from tests import flows
from tests.conftest import bearer

ROOT = Path(__file__).resolve().parents[2]

# ~100 MB in 4 KB blocks (malloc's, not Python's small-object allocator), every 50th kept:
# freed, the rest lies between live blocks. RSS in MB before and after the release.
FRAGMENTED = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("m", "app/malloc_release.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
blocks = [bytearray(4000) for _ in range(25_000)]
kept = blocks[::50]
del blocks
before = rss()
released = module.release_free_memory()
print(released, before, rss())
"""


def test_freed_memory_between_live_blocks_goes_back_to_the_system() -> None:
    if "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""):
        pytest.skip("malloc_trim is glibc's")
    done = subprocess.run(
        [sys.executable, "-c", FRAGMENTED], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    released, before, after = done.stdout.split()
    assert released == "True"
    assert float(before) - float(after) > 60  # of the ~98 MB freed


def test_each_label_answer_releases_memory_once_it_is_sent(
    client: Any, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = flows.register(client, demo)
    released: list[bool] = []
    monkeypatch.setattr(malloc_release, "release_free_memory", lambda: released.append(True))
    owner = bearer(demo["tokens"]["enterprise_a"])
    for done, path in enumerate(
        (f"/api/v1/cylinders/{code}/label.png", f"/api/v1/cylinders/{code}/label.svg")
    ):
        with client.get(path, headers=owner) as answer:
            assert answer.status_code == 200 and answer.data
            assert len(released) == done  # not while the answer is still open
        assert len(released) == done + 1
    with client.post("/api/v1/labels/sheet", json={"codes": [code]}, headers=owner) as answer:
        assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
    assert len(released) == 3
    checked = flows.check(client, demo, code)  # a fill check allocates little: no release
    assert checked.status_code == 200 and len(released) == 3
