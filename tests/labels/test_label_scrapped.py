"""A rerun batch never reprints a scrapped or condemned cylinder: its row is an error by line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bearer
from tests.labels.test_label_batch import _registered, line_of
from tests.labels.test_label_rerun import _batch, _codes_on, _flask, _http

LOOKUP = "/api/v1/labels/registered"
MAKER = "浙江金盾压力容器有限公司"


def _looked_up(client: Any, token: str, serial: str) -> Any:
    resp = client.get(
        LOOKUP, query_string={"manufacturer": MAKER, "serial": serial}, headers=bearer(token)
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["cylinder"]


def _event(
    client: Any, demo: dict[str, Any], code: str, kind: str, payload: dict[str, Any]
) -> None:
    resp = client.post(
        f"/api/v1/cylinders/{code}/events",
        json={"type": kind, "payload": payload},
        headers=bearer(demo["tokens"]["inspector"]),
    )
    assert resp.status_code == 201, resp.get_json()


def _run(
    app: Any, path: Path, token: str, out: Path, path_taken: str, capsys: Any
) -> tuple[int, str]:
    if path_taken == "flask":
        result = _flask(app, path, token, out)
        return result.exit_code, result.output
    return _http(app, path, token, out), capsys.readouterr().err


def test_the_lookup_answers_the_cylinders_status_and_null_when_none(client, demo, tmp_path, app):
    token = demo["tokens"]["enterprise_a"]
    path, (serial,) = _batch(tmp_path, 1)
    assert _looked_up(client, token, serial) is None
    status, output = _run(app, path, token, tmp_path / "s.pdf", "flask", None)
    assert status == 0, output
    found = _looked_up(client, token, serial)
    assert found["status"] == "empty" and found["code"] in _codes_on(tmp_path / "s.pdf")
    _event(client, demo, found["code"], "scrapped", {"reason": "鼓包"})
    assert _looked_up(client, token, serial)["status"] == "scrapped"


@pytest.mark.parametrize("path_taken", ["flask", "http"])
def test_a_rerun_reports_scrapped_and_condemned_cylinders_by_line_and_prints_no_label(
    app, client, demo, tmp_path, capsys, path_taken
):
    token = demo["tokens"]["enterprise_a"]
    path, serials = _batch(tmp_path, 3)  # lines 2, 3, 4
    status, output = _run(app, path, token, tmp_path / "first.pdf", path_taken, capsys)
    assert status == 0, output
    live, condemned, scrapped = (_looked_up(client, token, s)["code"] for s in serials)
    _event(client, demo, condemned, "inspected", {"result": "fail"})
    _event(client, demo, scrapped, "scrapped", {"reason": "鼓包"})

    out = tmp_path / "again.pdf"
    status, output = _run(app, path, token, out, path_taken, capsys)
    assert status == 1, output
    assert line_of(output, 3).startswith("  第 3 行 / line 3: ")
    assert f"该钢印号的气瓶检验判废（{condemned}），不再制签" in line_of(output, 3)
    assert f"the cylinder with this serial was condemned ({condemned}): no label" in (
        line_of(output, 3)
    )
    assert f"该钢印号的气瓶已报废（{scrapped}），不再制签" in line_of(output, 4)
    assert f"the cylinder with this serial was scrapped ({scrapped}): no label" in line_of(
        output, 4
    )
    assert "issued 1 codes" in output and "2 rows not registered" in output
    assert _codes_on(out) == [live]  # only the live cylinder is reprinted
    # Nothing registered again: the live cylinder has its registration, the others one more event.
    assert _registered(app, serials) == dict(zip(serials, (1, 2, 2), strict=True))
