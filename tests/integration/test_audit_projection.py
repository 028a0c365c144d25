"""The audit compares the state projection with the fold of each cylinder's events.

A differing row is derived data gone wrong, not a broken ledger: the report keeps the two
apart, names every such cylinder and says how to repair it (rebuild-states).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import delete, update

import ledger.audit
from ledger.audit import audit
from ledger.model_rules import CylinderStateRow
from ledger.note import verifier_from_key, verifier_key_for
from ledger.params import Jurisdiction
from tests.flows import register

REPAIR = "flask --app wsgi ledger rebuild-states"


def _edit(app: Any, cylinder_id: str, **values: Any) -> None:
    """Change a projection row as an insider (or a bug) would; no trigger guards it."""
    with app.extensions["ledger"].engine.begin() as conn:
        table = CylinderStateRow.__table__  # type: ignore[attr-defined]
        conn.execute(update(table).where(table.c.cylinder_id == cylinder_id).values(**values))


def _ids(client: Any, demo: dict[str, Any], codes: list[str]) -> list[str]:
    token = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    return [client.get(f"/api/v1/cylinders/{c}", headers=token).get_json()["id"] for c in codes]


def test_every_projection_row_that_differs_from_the_fold_is_reported_and_rebuilt(
    app: Any, client: Any, demo: dict[str, Any], runner: Any
) -> None:
    codes = [register(client, demo) for _ in range(3)]
    first, second, third = _ids(client, demo, codes)
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0
    _edit(app, first, status="full")
    _edit(app, second, next_inspection_due=dt.date(2099, 1, 1))
    with app.extensions["ledger"].engine.begin() as conn:
        table = CylinderStateRow.__table__  # type: ignore[attr-defined]
        conn.execute(delete(table).where(table.c.cylinder_id == third))

    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    out = result.output
    assert out.startswith("OK 账本完整:")  # the evidence is intact …
    assert "FAILED" not in out and "PROJECTION 状态投影不一致: 3 cylinder(s)" in out
    assert REPAIR in out
    lines = [line for line in out.splitlines() if line.startswith("  projection:")]
    assert len(lines) == 3
    by_code = {code: next(line for line in lines if code in line) for code in codes}
    assert "status: stored 'full', folded 'empty'" in by_code[codes[0]]
    assert "next_inspection_due: stored datetime.date(2099, 1, 1)" in by_code[codes[1]]
    assert "no projection row" in by_code[codes[2]]

    assert runner.invoke(args=["ledger", "rebuild-states"]).exit_code == 0
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 0, result.output


def test_an_edited_state_document_is_named_by_its_key(
    app: Any, client: Any, demo: dict[str, Any], runner: Any
) -> None:
    code = register(client, demo)
    (cylinder_id,) = _ids(client, demo, [code])
    with app.extensions["ledger"].engine.connect() as conn:
        table = CylinderStateRow.__table__  # type: ignore[attr-defined]
        text = conn.execute(table.select().where(table.c.cylinder_id == cylinder_id)).one().state
    _edit(app, cylinder_id, state=json.dumps({**json.loads(text), "held": "none"}))
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    assert f"cylinder {code} ({cylinder_id})" in result.output
    assert "state.held: stored 'none', folded None" in result.output


def _report(app: Any, params: Jurisdiction | None) -> Any:
    rt = app.extensions["ledger"]
    verifier = verifier_from_key(verifier_key_for(rt.authority.server))
    return audit(rt.engine, verifier, rt.authority.origin, workers=1, params=params)


@pytest.mark.parametrize("chunk", [1, 3, 2000])
def test_the_fold_streams_across_chunks_without_a_false_finding(
    app: Any, client: Any, demo: dict[str, Any], chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = [register(client, demo) for _ in range(3)]
    token = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    for code in codes[:2]:  # cylinders of several events, split across chunk boundaries
        for _ in range(3):
            body = {"type": "reported", "payload": {"kind": "label_damaged"}}
            resp = client.post(f"/api/v1/cylinders/{code}/events", json=body, headers=token)
            assert resp.status_code == 201
    monkeypatch.setattr(ledger.audit, "CHUNK", chunk)
    report = _report(app, app.extensions["ledger"].params)
    assert report.ok and report.projection_checked and report.projection == []
    (victim,) = _ids(client, demo, codes[:1])
    _edit(app, victim, seq=99)
    report = _report(app, app.extensions["ledger"].params)
    assert report.ledger_ok and not report.ok
    assert len(report.projection) == 1 and "seq: stored 99, folded 4" in report.projection[0]
    assert report.first() == report.projection[0]


def test_without_the_jurisdiction_the_projection_is_left_unchecked(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    (victim,) = _ids(client, demo, [register(client, demo)])
    _edit(app, victim, status="full")
    report = _report(app, None)
    assert report.ok and not report.projection_checked
