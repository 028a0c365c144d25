"""Both command lines (``flask labels issue`` and ``python -m labels issue``) refuse bad
input with one readable line and exit status 2, before any cylinder is registered:
a layout with NaN or infinities, a malformed CSV, a missing or unreadable font, an --out
path that cannot be written."""

from __future__ import annotations

import os
import traceback
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from labels import __main__ as labels_main
from tests.labels import test_label_input_review as review
from tests.labels.test_label_batch import HEADER, _registered, good

font_dir = review.font_dir  # the fixture: a font folder without the CJK face

HOW = ["flask", "http"]


def _batch(tmp_path: Path, rows: int = 2) -> tuple[Path, list[str]]:
    tag = uuid.uuid4().hex[:6].upper()
    serials = [f"V{tag}{i}" for i in range(rows)]
    path = tmp_path / f"batch-{tag}.csv"
    path.write_text("\n".join([HEADER, *map(good, serials)]) + "\n", encoding="utf-8")
    return path, serials


def _run(
    app: Any, demo: dict[str, Any], capsys: Any, how: str, csv: Path, *extra: str
) -> tuple[int | None, str]:
    """Exit status and what the operator saw; (None, the traceback) when it raised."""
    token = demo["tokens"]["enterprise_a"]
    if how == "flask":
        result = app.test_cli_runner().invoke(
            args=["labels", "issue", str(csv), *extra, "--token", token]
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            return None, "".join(traceback.format_exception(result.exception))
        return result.exit_code, result.output
    argv = ["issue", str(csv), "--server", "http://ledger.local", "--token", token, *extra]
    try:
        status = labels_main.main(argv, httpx.WSGITransport(app=app))
    except Exception as exc:  # a traceback for the operator
        return None, "".join(traceback.format_exception(exc))
    return status, capsys.readouterr().err


def _refused(status: int | None, output: str, *words: str) -> None:
    assert status == 2, output
    assert "Traceback" not in output
    for word in words:
        assert word in output, output
    problems = [line for line in output.splitlines() if "rror" in line]
    assert len(problems) == 1, output  # one readable line


# --- 1. a layout with NaN or infinities -----------------------------------------------


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_a_layout_that_is_not_finite_is_refused_before_any_row(
    app, demo, tmp_path, capsys, how, value
):
    path, serials = _batch(tmp_path)
    layout = f"custom:columns=1,rows=2,width_mm={value},height_mm=50"
    status, output = _run(
        app, demo, capsys, how, path, "--out", str(tmp_path / "s.pdf"), "--layout", layout
    )
    assert status == 2 and "Traceback" not in output, output
    assert "layout.width_mm" in output and "finite" in output
    assert _registered(app, serials) == {}


@pytest.mark.parametrize("how", HOW)
def test_a_nan_margin_is_refused_before_any_row(app, demo, tmp_path, capsys, how):
    path, serials = _batch(tmp_path)
    layout = "custom:columns=1,rows=2,width_mm=90,height_mm=50,top_mm=nan"
    status, output = _run(app, demo, capsys, how, path, "--layout", layout)
    assert status == 2 and "layout.top_mm" in output and "finite" in output, output
    assert _registered(app, serials) == {}


# --- 2. a malformed CSV -----------------------------------------------------------------


def _bad_csv(tmp_path: Path, kind: str, serials: list[str]) -> Path:
    path = tmp_path / f"{kind}.csv"
    rows = "\n".join(map(good, serials))
    if kind == "nul":
        path.write_text(f"{HEADER}\n{rows}\nX\x001,a\n", encoding="utf-8")
    elif kind == "long-field":
        path.write_text(f'{HEADER}\n{rows}\n"{"x" * 200_000}"\n', encoding="utf-8")
    elif kind == "undecodable":
        path.write_bytes(f"{HEADER}\n{rows}\n".encode() + b"\xff\xfe\x80,x\n")
    elif kind == "utf-16":
        path.write_bytes(f"{HEADER}\n{rows}\n".encode("utf-16-le"))
    elif kind == "header-only":
        path.write_text(HEADER + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("nul", "NUL"),
        ("long-field", "line 4"),
        ("undecodable", "UTF-8"),
        ("utf-16", "UTF-8"),
        ("header-only", "no rows"),
    ],
)
def test_a_malformed_csv_is_one_readable_line_exit_2_and_nothing_registered(
    app, demo, tmp_path, capsys, how, kind, named
):
    serials = [f"W{uuid.uuid4().hex[:6].upper()}{i}" for i in range(2)]
    path = _bad_csv(tmp_path, kind, serials)
    out = tmp_path / "sheet.pdf"
    status, output = _run(app, demo, capsys, how, path, "--out", str(out))
    _refused(status, output, named)
    assert "\x00" not in output and _registered(app, serials) == {} and not out.exists()


# --- 3. a missing or unreadable CJK font ---------------------------------------------------


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("broken", ["missing", "garbage", "truncated"])
def test_a_broken_cjk_font_is_refused_before_any_row(
    app, demo, tmp_path, capsys, font_dir, how, broken
):
    path, serials = _batch(tmp_path)
    review.break_font(font_dir, broken)
    status, output = _run(app, demo, capsys, how, path, "--out", str(tmp_path / "s.pdf"))
    _refused(status, output, "标签字体缺失", "label font missing", "fonts-droid-fallback")
    assert _registered(app, serials) == {}


# --- 4. the --out path ----------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    "where", ["folder", "missing-parent", "parent-is-a-file", "the-csv", "a-link", "a-pipe"]
)
def test_an_out_path_that_cannot_be_written_is_refused_before_any_row(
    app, demo, tmp_path, capsys, how, where
):
    path, serials = _batch(tmp_path)
    (tmp_path / "plain.txt").write_text("x")
    out = {
        "folder": tmp_path,
        "missing-parent": tmp_path / "no" / "such" / "s.pdf",
        "parent-is-a-file": tmp_path / "plain.txt" / "s.pdf",
        "the-csv": path,
        "a-link": tmp_path / "link.pdf",  # a link was replaced by the sheet, not followed
        "a-pipe": tmp_path / "pipe.pdf",  # a pipe hung the check for good
    }[where]
    if where == "a-link":
        out.symlink_to(tmp_path / "plain.txt")
    if where == "a-pipe":
        os.mkfifo(out)
    status, output = _run(app, demo, capsys, how, path, "--out", str(out))
    _refused(status, output, "--out")
    assert _registered(app, serials) == {}
    assert path.read_text().startswith(HEADER)  # the CSV is never overwritten
    assert out.is_symlink() == (where == "a-link")  # left as it was
    assert (tmp_path / "plain.txt").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("how", HOW)
def test_an_out_folder_without_write_permission_is_refused_before_any_row(
    app, demo, tmp_path, capsys, how
):
    path, serials = _batch(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        status, output = _run(app, demo, capsys, how, path, "--out", str(locked / "s.pdf"))
    finally:
        locked.chmod(0o700)
    _refused(status, output, "--out")
    assert _registered(app, serials) == {}


@pytest.mark.parametrize("how", HOW)
def test_the_default_out_next_to_the_csv_is_checked_too(app, demo, tmp_path, capsys, how):
    path, serials = _batch(tmp_path)
    path.with_suffix(".pdf").mkdir()  # the default sheet path is taken by a folder
    status, output = _run(app, demo, capsys, how, path)
    _refused(status, output, "--out")
    assert _registered(app, serials) == {}


def test_a_server_that_is_no_address_is_refused_before_anything(tmp_path, capsys):
    path, _serials = _batch(tmp_path)
    for server in ("http://127.0.0.1:50OO", "ftp://ledger.local", "garbage"):
        with pytest.raises(SystemExit) as stop:
            labels_main.main(["issue", str(path), "--server", server, "--token", "t"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "argument --server: 须为 http:// 或 https:// 地址" in err and "Traceback" not in err
