"""The demo district: a year of history in which every illegal kind shows up, and the
demo.json contract (DESIGN §8). Seeded once on SQLite (about a minute)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger import projection
from ledger.model import Customer, Cylinder, Enterprise, Event
from ledger.store import transaction, upgrade
from tests.conftest import bearer

FILL_REASONS = [  # example key → the reason a fill check at its owner's station gives
    "SCRAPPED", "PAST_SERVICE_LIFE", "INSPECTION_OVERDUE", "REFURBISHED", "HELD",
    "SUSPECTED_CLONE", "LABEL_DAMAGED", "OWNER_NOT_LICENSED", "CODE_RETIRED",
]  # fmt: skip
ROAD_REASONS = ["OVERFILLED", "BASEMENT_SITE", "VEHICLE_NOT_PERMITTED", "DRIVER_NOT_BOUND"]


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from app import create_app

    tmp = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp / 'demo.sqlite3'}"
    upgrade(url)
    app = create_app({
        "TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
        "KEYS_DIR": str(tmp / "keys"), "PUBLIC_BASE_URL": "https://ledger.test",
        "LEDGER_ORIGIN": "ledger.test/log",
    })  # fmt: skip
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    yield app
    app.extensions["ledger"].engine.dispose()


@pytest.fixture(scope="module")
def doc(district: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((Path(district.instance_path) / "demo.json").read_text())
    return loaded


def test_demo_json_keeps_its_contract(doc):
    assert set(doc["tokens"]) == {
        "admin", "regulator", "enterprise_a", "enterprise_b", "station_a", "station_b",
        "driver_a", "inspector",
    }  # fmt: skip
    assert set(doc["enterprises"]) == {"a", "b"} and set(doc["stations"]) == {"a", "b"}
    assert doc["vehicles"] == {"a": "渝A·D12345"}


def test_the_district_has_three_enterprises_twenty_customers_and_300_cylinders(district):
    with transaction(district.extensions["ledger"].engine, write=False) as s:
        count = lambda model: s.execute(select(func.count()).select_from(model)).scalar()  # noqa: E731
        assert count(Enterprise) == 3 and count(Cylinder) == 300 and count(Customer) == 20
        kinds = set(s.execute(select(Customer.kind)).scalars())
        assert {"restaurant", "canteen", "household"} <= kinds
        assert s.execute(select(func.count()).where(Customer.basement)).scalar() == 1
        events = s.execute(select(func.count()).select_from(Event)).scalar()
        assert events > 300 * 10  # a year of fills, deliveries and returns


def _check(client: Any, doc: dict[str, Any], code: str) -> dict[str, Any]:
    state = client.get(f"/api/v1/cylinders/{code}")
    owner = state.get_json()["owner"]["id"] if state.status_code == 200 else None
    station = "b" if owner == doc["enterprises"]["b"] else "a"
    resp = client.post(
        "/api/v1/fill-checks",
        json={"station_id": doc["stations"][station], "scan": code},
        headers=bearer(doc["tokens"][f"station_{station}"]),
    )
    assert resp.status_code == 200, resp.get_json()
    result: dict[str, Any] = resp.get_json()
    return result


@pytest.mark.parametrize("reason", FILL_REASONS)
def test_every_illegal_kind_is_in_the_demo_and_blocked_at_the_nozzle(district, doc, reason):
    result = _check(district.test_client(), doc, doc["cylinders"][reason])
    assert reason in [r["code"] for r in result["reasons"]]


def test_the_legal_example_is_allowed_and_the_not_owned_one_is_not(district, doc):
    client = district.test_client()
    assert _check(client, doc, doc["cylinders"]["legal"])["allowed"] is True
    resp = client.post(
        "/api/v1/fill-checks",
        json={"station_id": doc["stations"]["a"], "scan": doc["cylinders"]["NOT_OWNED"]},
        headers=bearer(doc["tokens"]["station_a"]),
    )
    assert "NOT_OWNED" in [r["code"] for r in resp.get_json()["reasons"]]


@pytest.mark.parametrize("reason", [*ROAD_REASONS, "DUAL_PHASE"])
def test_refused_dispatches_and_deliveries_are_in_the_history(district, doc, reason):
    client = district.test_client()
    code = doc["cylinders"][reason]
    events = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(doc["tokens"]["regulator"])
    ).get_json()["events"]
    refused = [
        r for e in events if e["type"] == "delivery_blocked" for r in e["payload"]["reasons"]
    ]
    expected = "DUAL_PHASE_TO_RESTAURANT" if reason == "DUAL_PHASE" else reason
    assert expected in refused


def test_the_demo_ledger_audits_clean_and_its_projection_equals_the_fold(district):
    result = district.test_cli_runner().invoke(args=["ledger", "audit", "--workers", "1"])
    assert result.exit_code == 0, result.output
    rt = district.extensions["ledger"]
    with transaction(rt.engine) as s:
        ids = list(s.execute(select(Cylinder.id)).scalars())
        stored = {i: projection.load(s, i) for i in ids}
        assert all(stored[i] == projection.fold_from_events(s, i, rt.params) for i in ids)


def test_seeding_again_changes_nothing(district, doc):
    result = district.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0
    assert json.loads((Path(district.instance_path) / "demo.json").read_text()) == doc
