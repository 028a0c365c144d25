"""Batch issuing from a CSV: bad rows by line, good rows kept, nothing registered twice."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from labels import __main__ as labels_main
from labels import batch
from ledger.errors import Invalid
from ledger.model import Cylinder, Event
from tests.conftest import bearer, cylinder_body
from tests.labels.raster import decode_pdf

HEADER = (
    "serial,manufacturer,manufactured_on,model,capacity_kg,tare_kg,dual_phase,last_inspected_on"
)
TODAY = dt.date(2026, 11, 23)


def good(serial: str, dual: str = "false") -> str:
    return f"{serial},浙江金盾压力容器有限公司,2022-05-01,YSP35.5,14.5,16.8,{dual},2024-05-01"


def test_rows_are_parsed_into_registration_bodies_with_their_lines():
    text = "\ufeff" + "\n".join([HEADER, good("S1"), "", good("S2", "是")]) + "\n"
    rows, errors = batch.read_csv(text, TODAY)
    assert errors == []
    assert [r.line for r in rows] == [2, 4]
    assert rows[1].body == {
        "serial": "S2",
        "manufacturer": "浙江金盾压力容器有限公司",
        "model": "YSP35.5",
        "manufactured_on": "2022-05-01",
        "capacity_kg": 14.5,
        "tare_kg": 16.8,
        "dual_phase": True,
        "last_inspected_on": "2024-05-01",
    }


def test_each_bad_row_is_reported_by_line_with_its_reason_and_good_rows_are_kept():
    lines = [
        HEADER,
        good("S1"),
        "S2,浙江金盾,2022-05-01,YSP35.5,heavy,16.8,false,",
        "S3,浙江金盾,2099-01-01,YSP35.5,14.5,16.8,false,",
        good("S4"),
        "S5,浙江金盾,2022-05-01,YSP35.5,14.5,16.8,maybe,",
        "S6,浙江金盾,2022-05-01,YSP35.5,14.5,16.8,false,,extra",
        good("S1"),
        ",浙江金盾,2022-05-01,YSP35.5,14.5,16.8,false,",
    ]
    rows, errors = batch.read_csv("\n".join(lines), TODAY)
    assert [r.body["serial"] for r in rows] == ["S1", "S4"]
    reasons = {e.line: e.reason for e in errors}
    assert sorted(reasons) == [3, 4, 6, 7, 8, 9]
    assert "capacity_kg" in reasons[3] and "'heavy'" in reasons[3]
    assert "manufactured_on" in reasons[4]
    assert "dual_phase" in reasons[6]
    assert "9 cells" in reasons[7]
    assert "already on line 2" in reasons[8]
    assert "serial" in reasons[9]
    assert str(errors[0]).startswith("第 3 行 / line 3:")


@pytest.mark.parametrize(
    ("header", "named"),
    [
        (HEADER.replace(",tare_kg", ""), "missing column(s): tare_kg"),
        (HEADER + ",colour", "unknown column(s): colour"),
    ],
)
def test_a_bad_header_is_refused_naming_the_columns(header, named):
    with pytest.raises(Invalid) as err:
        batch.read_csv(header + "\n", TODAY)
    assert named in err.value.detail


def test_the_idempotency_key_follows_the_enterprise_and_the_rows_content_only():
    body = {"manufacturer": "浙江金盾", "serial": "S1", "model": "YSP35.5"}
    key = batch.idempotency_key(7, body)
    assert key == batch.idempotency_key(7, dict(reversed(body.items())))  # any file, any order
    assert key != batch.idempotency_key(8, body)  # another enterprise
    assert key != batch.idempotency_key(7, {**body, "serial": "S2"})
    fixed = batch.idempotency_key(7, {**body, "model": "YSP15"})  # a row fixed after a refusal
    assert fixed != key and fixed.split("-")[2] == key.split("-")[2]  # same cylinder part
    assert len(key) <= 255


# --- against the service: the flask command (database) and python -m labels (HTTP) ---


def line_of(output: str, line: int) -> str:
    """The report line about one CSV line."""
    (found,) = [x for x in output.splitlines() if f"/ line {line}:" in x]
    return found


def _csv(tmp_path: Path, taken_code: str) -> tuple[Path, list[str]]:
    tag = uuid.uuid4().hex[:6].upper()
    serials = [f"B{tag}{i}" for i in range(5)]
    lines = [
        HEADER + ",code",
        good(serials[0]) + ",",
        good(serials[1]) + ",",
        f"{serials[2]},浙江金盾,2022-05-01,YSP35.5,-1,16.8,false,,",  # refused here
        good(serials[3]) + f",{taken_code}",  # refused by the ledger: the code is taken
        good(serials[4]) + ",",
    ]
    path = tmp_path / f"batch-{tag}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, serials


def _registered(app: Any, serials: list[str]) -> dict[str, int]:
    from app.runtime import runtime
    from ledger.store import transaction

    with app.app_context(), transaction(runtime().engine, write=False) as session:
        rows = session.execute(
            select(col(Cylinder.serial), func.count(col(Event.id)))
            .join(Event, col(Event.cylinder_id) == col(Cylinder.id))
            .where(col(Cylinder.serial).in_(serials))
            .group_by(col(Cylinder.serial))
        ).all()
    return {serial: events for serial, events in rows}


def _taken(client: Any, demo: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/cylinders", json=cylinder_body(), headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert resp.status_code == 201
    doc: dict[str, Any] = resp.get_json()
    return doc


def _check_issued(app: Any, client: Any, demo: dict[str, Any], serials: list[str], pdf: Path):
    assert _registered(app, serials) == {serials[0]: 1, serials[1]: 1, serials[4]: 1}
    (page,) = decode_pdf(pdf.read_bytes())
    assert len(page) == 3
    for text in page:  # each label is one of the good rows' signed URLs
        code = text.split("/c/")[1].split("?")[0]
        doc = client.get(
            f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["enterprise_a"])
        ).get_json()
        assert doc["qr"] == text and doc["serial"] in (serials[0], serials[1], serials[4])


def test_flask_labels_issue_registers_good_rows_reports_bad_lines_and_reruns_safely(
    app, client, demo, tmp_path
):
    taken = _taken(client, demo)
    path, serials = _csv(tmp_path, taken["code"])
    out = tmp_path / "sheet.pdf"
    runner = app.test_cli_runner()
    args = [
        "labels",
        "issue",
        str(path),
        "--token",
        demo["tokens"]["enterprise_a"],
        "--out",
        str(out),
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "issued 3 codes" in result.output
    assert "line 4: 'capacity_kg'" in result.output
    assert taken["code"] in line_of(result.output, 5)  # the ledger refused it: the code is taken
    _check_issued(app, client, demo, serials, out)
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "3 already registered by an earlier run" in again.output
    assert _registered(app, serials) == {serials[0]: 1, serials[1]: 1, serials[4]: 1}


def test_flask_labels_issue_refuses_a_token_that_may_not_register(app, demo, tmp_path):
    path, serials = _csv(tmp_path, "UNUSED")
    result = app.test_cli_runner().invoke(
        args=["labels", "issue", str(path), "--token", demo["tokens"]["driver_a"]]
    )
    assert result.exit_code == 1
    assert "only an enterprise administrator registers" in result.output
    assert _registered(app, serials) == {}


def test_python_m_labels_issues_over_http_with_idempotency_keys(
    app, client, demo, tmp_path, capsys
):
    taken = _taken(client, demo)
    path, serials = _csv(tmp_path, taken["code"])
    out = tmp_path / "http.pdf"
    argv = ["issue", str(path), "--server", "http://ledger.local", "--out", str(out)]
    argv += ["--token", demo["tokens"]["enterprise_a"]]
    assert labels_main.main(argv, httpx.WSGITransport(app=app)) == 1
    err = capsys.readouterr().err
    assert "issued 3 codes" in err and "line 4:" in err
    assert "HTTP 409" in line_of(err, 5) and taken["code"] in line_of(err, 5)
    _check_issued(app, client, demo, serials, out)
    assert labels_main.main(argv, httpx.WSGITransport(app=app)) == 1
    assert "3 already registered by an earlier run" in capsys.readouterr().err
    assert _registered(app, serials) == {serials[0]: 1, serials[1]: 1, serials[4]: 1}


def test_python_m_labels_stops_on_a_refused_token(app, tmp_path, capsys):
    path, _ = _csv(tmp_path, "UNUSED")
    argv = ["issue", str(path), "--server", "http://ledger.local", "--token", "wrong"]
    assert labels_main.main(argv, httpx.WSGITransport(app=app)) == 2
    assert "the server refused the token" in capsys.readouterr().err


def test_flask_labels_issue_names_an_unknown_token_and_registers_nothing(app, tmp_path):
    path, serials = _csv(tmp_path, "UNUSED")
    result = app.test_cli_runner().invoke(args=["labels", "issue", str(path), "--token", "nope"])
    assert result.exit_code == 1 and "unknown or revoked token" in result.output
    assert _registered(app, serials) == {}


def test_flask_labels_issue_refuses_a_file_with_a_bad_header_before_registering(
    app, demo, tmp_path
):
    path = tmp_path / "bad.csv"
    path.write_text("serial,manufacturer\nX1,浙江金盾\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(
        args=["labels", "issue", str(path), "--token", demo["tokens"]["enterprise_a"]]
    )
    assert result.exit_code == 2  # a file error, as python -m labels answers it (docs/labels.md)
    assert "line 1" in result.output and "missing column(s): manufactured_on" in result.output


def test_a_long_batchs_sheet_is_cut_into_numbered_files_of_whole_pages(
    app, client, demo, tmp_path, monkeypatch
):
    from labels import console

    monkeypatch.setattr(console, "PAGES_PER_FILE", 1)  # one page of 1×2 labels a file
    path, serials = _csv(tmp_path, _taken(client, demo)["code"])
    out = tmp_path / "sheet.pdf"
    layout = "custom:columns=1,rows=2,width_mm=70,height_mm=37"
    args = ["labels", "issue", str(path), "--token", demo["tokens"]["enterprise_a"]]
    result = app.test_cli_runner().invoke(args=[*args, "--out", str(out), "--layout", layout])
    assert result.exit_code == 1, result.output  # two bad rows, as in the tests above
    first, second = tmp_path / "sheet-001-of-002.pdf", tmp_path / "sheet-002-of-002.pdf"
    assert f"label sheet: {first}（2 张 / 2 labels）" in result.output
    assert f"label sheet: {second}（1 张 / 1 labels）" in result.output
    assert not out.exists()
    pages = [decode_pdf(first.read_bytes()), decode_pdf(second.read_bytes())]
    assert [[len(page) for page in doc] for doc in pages] == [[2], [1]]
    codes = [text.split("/c/")[1].split("?")[0] for doc in pages for text in doc[0]]
    token = bearer(demo["tokens"]["enterprise_a"])
    found = [
        client.get(f"/api/v1/cylinders/{c}", headers=token).get_json()["serial"] for c in codes
    ]
    assert sorted(found) == sorted([serials[0], serials[1], serials[4]])  # each label once


def test_a_part_that_cannot_be_written_is_refused_before_any_row_is_registered(
    app, client, demo, tmp_path, monkeypatch
):
    from labels import console

    monkeypatch.setattr(console, "PAGES_PER_FILE", 1)
    path, serials = _csv(tmp_path, _taken(client, demo)["code"])
    (tmp_path / "sheet-002-of-002.pdf").mkdir()  # 4 rows read, 2 files planned
    layout = "custom:columns=1,rows=2,width_mm=70,height_mm=37"
    args = ["labels", "issue", str(path), "--token", demo["tokens"]["enterprise_a"]]
    out = str(tmp_path / "sheet.pdf")
    result = app.test_cli_runner().invoke(args=[*args, "--out", out, "--layout", layout])
    assert result.exit_code != 0 and "sheet-002-of-002.pdf" in result.output
    assert "is a folder" in result.output
    assert _registered(app, serials) == {}


def test_a_part_that_fails_midway_leaves_whole_files_and_says_which_are_missing(
    app, client, demo, tmp_path, monkeypatch
):
    from labels import console, sheet

    monkeypatch.setattr(console, "PAGES_PER_FILE", 1)
    render, calls = sheet.render_sheet, []

    def disk_full_on_the_second(*args: Any) -> bytes:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return render(*args)

    monkeypatch.setattr(sheet, "render_sheet", disk_full_on_the_second)
    path, serials = _csv(tmp_path, _taken(client, demo)["code"])
    layout = "custom:columns=1,rows=2,width_mm=70,height_mm=37"
    args = ["labels", "issue", str(path), "--token", demo["tokens"]["enterprise_a"]]
    out = str(tmp_path / "sheet")  # no .pdf: the parts get it
    result = app.test_cli_runner().invoke(args=[*args, "--out", out, "--layout", layout])
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output
    assert "1 file(s) not written: sheet-002-of-002.pdf" in result.output
    assert "run the batch again to print them" in result.output
    assert sorted(p.name for p in tmp_path.glob("sheet*")) == ["sheet-001-of-002.pdf"]
    assert [len(page) for page in decode_pdf((tmp_path / "sheet-001-of-002.pdf").read_bytes())] == [
        2
    ]
    assert _registered(app, serials) == {serials[0]: 1, serials[1]: 1, serials[4]: 1}


def test_the_files_of_a_sheet_are_named_by_part_and_total():
    from labels.console import PAGES_PER_FILE, sheet_files
    from labels.sheet_layouts import LAYOUTS

    per_file = PAGES_PER_FILE * 24
    out = Path("/x/labels.pdf")
    assert sheet_files(out, per_file, LAYOUTS["3x8"]) == [(out, range(per_file))]
    odd = sheet_files(Path("/x/sheet.pdf.bak"), per_file + 1, LAYOUTS["3x8"])
    assert [p.name for p, _ in odd] == [
        "sheet.pdf.bak-001-of-002.pdf",
        "sheet.pdf.bak-002-of-002.pdf",
    ]
    parts = sheet_files(out, 2 * per_file + 1, LAYOUTS["3x8"])
    assert [p.name for p, _ in parts] == [
        "labels-001-of-003.pdf", "labels-002-of-003.pdf", "labels-003-of-003.pdf",
    ]  # fmt: skip
    assert [(r.start, r.stop) for _, r in parts] == [
        (0, per_file), (per_file, 2 * per_file), (2 * per_file, 2 * per_file + 1),
    ]  # fmt: skip
