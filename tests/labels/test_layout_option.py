"""--layout on both command lines: a named layout or custom:name=value,… in millimetres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from labels import __main__ as labels_main
from labels import sheet_layouts
from ledger.errors import Invalid
from tests.labels.raster import decode_pdf
from tests.labels.test_label_rerun import _batch, _registered

SPEC = "custom:columns=1,rows=2,width_mm=90,height_mm=50,left_mm=60,top_mm=20,gap_y_mm=5"


def test_a_custom_spec_becomes_that_layout():
    assert sheet_layouts.parse_layout_option(SPEC) == sheet_layouts.SheetLayout(
        1, 2, 90, 50, 60, 20, 0, 5
    )
    assert sheet_layouts.parse_layout_option(" 2x7 ") == sheet_layouts.LAYOUTS["2x7"]


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("custom:columns=3,rows=8,width_mm=70", "layout.height_mm is required"),
        ("custom:cols=3,rows=8,width_mm=70,height_mm=37", "unknown layout field(s): cols"),
        ("custom:columns=3.5,rows=8,width_mm=70,height_mm=37", "columns must be a whole number"),
        ("custom:columns=3,rows=8,width_mm=wide,height_mm=37", "width_mm must be a number"),
        ("custom:columns=3,rows,width_mm=70,height_mm=37", "bad layout item 'rows': write"),
        ("custom:columns=3,rows=8 width_mm=70", "rows must be a whole number, not '8 width"),
        ("custom:columns=3,rows=8,width_mm=70,height_mm=37,rows=9", "rows is given twice"),
        ("custom:columns=3,rows=8,width_mm=70,height_mm=37,top_mm=-1", "top_mm cannot be neg"),
        ("custom:columns=3,rows=9,width_mm=70,height_mm=37", "A4 is 297 mm tall"),
        ("4x9", "unknown layout '4x9'"),
    ],
)
def test_a_bad_spec_is_refused_naming_what_is_wrong(spec, named):
    with pytest.raises(Invalid) as err:
        sheet_layouts.parse_layout_option(spec)
    assert named in err.value.detail


def test_the_help_of_both_commands_shows_the_syntax(app, capsys):
    with pytest.raises(SystemExit):
        labels_main.main(["issue", "--help"])
    assert "custom:columns=3,rows=8,width_mm=70,height_mm=37" in capsys.readouterr().out
    result = app.test_cli_runner().invoke(args=["labels", "issue", "--help"])
    assert "custom:columns=3,rows=8,width_mm=70,height_mm=37" in " ".join(result.output.split())


def _run(app: Any, demo: dict[str, Any], path: Path, out: Path, layout: str, how: str) -> Any:
    token = demo["tokens"]["enterprise_a"]
    if how == "flask":
        args = ["labels", "issue", str(path), "--token", token, "--out", str(out)]
        result = app.test_cli_runner().invoke(args=[*args, "--layout", layout])
        return result.exit_code, result.output
    argv = ["issue", str(path), "--server", "http://ledger.local", "--out", str(out)]
    argv += ["--token", token, "--layout", layout]
    return labels_main.main(argv, httpx.WSGITransport(app=app)), None


@pytest.mark.parametrize("how", ["flask", "http"])
def test_both_commands_print_on_a_custom_layout(app, demo, tmp_path, capsys, how):
    path, _ = _batch(tmp_path, 3)
    out = tmp_path / "custom.pdf"
    status, output = _run(app, demo, path, out, SPEC, how)
    assert status == 0, output or capsys.readouterr().err
    pages = decode_pdf(out.read_bytes())
    assert [len(p) for p in pages] == [2, 1]  # two labels a page


@pytest.mark.parametrize("how", ["flask", "http"])
def test_a_layout_too_small_for_a_label_is_refused_before_any_row(app, demo, tmp_path, capsys, how):
    path, serials = _batch(tmp_path, 2)
    tiny = "custom:columns=5,rows=10,width_mm=40,height_mm=25"
    status, output = _run(app, demo, path, tmp_path / "t.pdf", tiny, how)
    output = output or capsys.readouterr().err
    assert status == 2
    assert "the layout's labels are too small" in output and "QR modules" in output
    assert _registered(app, serials) == {}
