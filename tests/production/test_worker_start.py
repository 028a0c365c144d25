"""A web worker, once its app is loaded, leaves what it made so far out of the garbage
collector's full passes (gunicorn.conf.py's ``post_worker_init``), collecting first."""

from __future__ import annotations

import gc
import logging
import os
import runpy
import subprocess
import sys
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Cycle:
    me: Any = None


def _post_worker_init(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # The settings module sets these when unset: set here, so the test process keeps its own.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    monkeypatch.setenv("INTEGRATE_AFTER_WRITE", "0")
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]


def _generation_of(obj: object) -> int | None:
    """The collector's generation holding ``obj``, or None when it is frozen."""
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(g))), None)


def test_a_started_worker_collects_its_garbage_then_freezes_what_lives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hook = _post_worker_init(monkeypatch, tmp_path)
    worker = SimpleNamespace(
        wsgi=SimpleNamespace(extensions={"ledger": SimpleNamespace(authority=object())}),
        log=logging.getLogger("test-worker"),
    )
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic pass may collect the garbage below before the hook does
    try:
        garbage = _Cycle()
        garbage.me = garbage
        dead = weakref.ref(garbage)
        del garbage
        kept = _Cycle()
        kept.me = kept
        assert dead() is not None and _generation_of(kept) is not None
        hook(worker)
        assert dead() is None  # collected before the freeze, not kept for good
        assert gc.is_tracked(kept) and _generation_of(kept) is None  # frozen
        assert gc.get_freeze_count() > 0
        made_after = _Cycle()
        assert _generation_of(made_after) is not None  # what comes later is collected as ever
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


# Drawing libraries a web worker loads only when it first draws a label (labels.png,
# labels.sheet): ~20 MB of each worker's memory, ~0.1 s of each start. fontTools only
# when an SVG label draws glyph outlines (labels.truetype.svg_path).
DRAWING = ("fontTools", "numpy", "PIL", "reportlab")


def test_a_worker_loads_the_drawing_libraries_only_when_it_draws(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEDGER_INSTANCE": str(tmp_path / "instance"),
        "LEDGER_KEYS_DIR": str(tmp_path / "keys"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    }
    script = (
        "import sys, wsgi\n"
        "assert 'app.api.labels' in sys.modules  # the label views are, not their libraries\n"
        f"print(*sorted(m for m in {DRAWING!r} if m in sys.modules))\n"
        "from labels import png, sheet\n"
        f"print(*sorted(m for m in {DRAWING!r} if m in sys.modules))\n"
        "from labels import fonts\n"
        "assert fonts.face('cjk').outline('气', 3, 0, 0)\n"
        f"print(*sorted(m for m in {DRAWING!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    at_start, after_drawing, after_outline = done.stdout.splitlines()
    assert at_start == ""
    assert after_drawing == "PIL reportlab"  # what drawing needs; numpy never
    assert after_outline == "PIL fontTools reportlab"
