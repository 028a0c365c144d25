"""Fill checks through the API: every reason code, the record of every block, and fills."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from ledger.model import Enterprise, Event, Licence
from ledger.model_rules import FillCheck
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer

SCAN_ONLY = {"UNKNOWN_CODE", "FORGED_CODE"}


@contextmanager
def database(app: Any) -> Iterator[Session]:
    """A session on the app's database (for what the registry API does elsewhere)."""
    with transaction(app.extensions["ledger"].engine) as session:
        yield session


def blocked_events(app: Any) -> int:
    with database(app) as s:
        return int(s.execute(select(func.count()).where(Event.type == "fill_blocked")).scalar())


def scrapped(client: Any, demo: Any, app: Any) -> str:
    code = flows.register(client, demo)
    assert flows.event(client, demo, code, "inspector", "scrapped", {}).status_code == 201
    return code


def reported(kind: str) -> Callable[[Any, Any, Any], str]:
    def setup(client: Any, demo: Any, app: Any) -> str:
        code = flows.register(client, demo)
        resp = flows.event(client, demo, code, "enterprise_a", "reported", {"kind": kind})
        assert resp.status_code == 201, resp.get_json()
        return code

    return setup


def held(client: Any, demo: Any, app: Any) -> str:
    code = flows.register(client, demo)
    assert (
        flows.event(client, demo, code, "regulator", "held", {"reason": "涉案"}).status_code == 201
    )
    return code


def station_unlicensed(client: Any, demo: Any, app: Any) -> str:
    with database(app) as s:
        s.execute(
            update(Licence)
            .where(Licence.station_id == demo["stations"]["a"])  # type: ignore[arg-type]
            .values(status="revoked")
        )
    return flows.register(client, demo)


def owner_blacklisted(client: Any, demo: Any, app: Any) -> str:
    code = flows.register(client, demo)
    with database(app) as s:
        s.execute(
            update(Enterprise)
            .where(Enterprise.id == demo["enterprises"]["a"])  # type: ignore[arg-type]
            .values(blacklisted=True)
        )
    return code


def clone(client: Any, demo: Any, app: Any) -> str:
    """Filled at the enterprise's other station this morning; then scanned at station a."""
    code = flows.register(client, demo)
    more = demo["more"]
    a2 = {
        **demo,
        "stations": {**demo["stations"], "a2": more["stations"]["a2"]},
        "tokens": {**demo["tokens"], "station_a2": more["tokens"]["station_a2"]},
    }
    assert flows.fill(client, a2, code, station="a2").status_code == 201
    return code


def already_filled(client: Any, demo: Any, app: Any) -> str:
    """Filled at station a, and scanned there again."""
    code = flows.register(client, demo)
    assert flows.fill(client, demo, code).status_code == 201
    return code


def refurbished_by_serial(client: Any, demo: Any, app: Any) -> str:
    flows.register(client, demo, serial="CQ-REUSED-01")
    return flows.register(client, demo, serial="CQ-REUSED-01")  # the same maker's serial again


def retired(client: Any, demo: Any, app: Any) -> str:
    code = flows.register(client, demo)
    resp = flows.event(
        client, demo, code, "enterprise_a", "relabelled", {"new_code": "RELABEL" + code[:6]}
    )
    assert resp.status_code == 201, resp.get_json()
    return code


CASES: dict[str, Callable[[Any, Any, Any], str]] = {
    "UNKNOWN_CODE": lambda c, d, a: "NOSUCHCODE1",
    "FORGED_CODE": lambda c, d, a: f"https://ledger.test/c/{flows.register(c, d)}?s=" + "A" * 86,
    "SCRAPPED": scrapped,
    "PAST_SERVICE_LIFE": lambda c, d, a: flows.register(
        c, d, manufactured_on="2010-01-01", last_inspected_on="2025-01-01"
    ),
    "INSPECTION_OVERDUE": lambda c, d, a: flows.register(c, d, manufactured_on="2022-05-01"),
    "REFURBISHED": reported("refurbished"),
    "NOT_OWNED": lambda c, d, a: flows.register(c, d, who="enterprise_b"),
    "STATION_NOT_LICENSED": station_unlicensed,
    "OWNER_NOT_LICENSED": owner_blacklisted,
    "HELD": held,
    "SUSPECTED_CLONE": clone,
    "ALREADY_FILLED": already_filled,
    "LABEL_DAMAGED": reported("label_damaged"),
    "CODE_RETIRED": retired,
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_illegal_cylinder_is_blocked_and_the_attempt_recorded(app, client, demo, code):
    scan = CASES[code](client, demo, app)
    before = blocked_events(app)
    resp = flows.check(client, demo, scan)
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    assert doc["allowed"] is False
    assert code in [r["code"] for r in doc["reasons"]]
    assert all(r["message_zh"] and r["message_en"] for r in doc["reasons"])
    expected = 0 if code in SCAN_ONLY - {"FORGED_CODE"} else 1
    assert blocked_events(app) == before + expected  # exactly one fill_blocked event per block
    with database(app) as s:
        row = s.get(FillCheck, doc["check_id"])
        assert row is not None and row.allowed is False
    if doc["cylinder"] is not None:
        code_now = doc["cylinder"]["code"]
        events = flows.history(client, demo, code_now)
        assert events[-1]["type"] == "fill_blocked"
        assert code in events[-1]["payload"]["reasons"]


def test_an_allowed_check_answers_with_the_cylinder_and_records_no_event(app, client, demo):
    code = flows.register(client, demo)
    before = blocked_events(app)
    doc = flows.check(client, demo, code).get_json()
    assert doc["allowed"] is True and doc["reasons"] == [] and doc["check_id"]
    assert doc["cylinder"]["code"] == code and doc["cylinder"]["status"] == "empty"
    assert blocked_events(app) == before
    assert [e["type"] for e in flows.history(client, demo, code)] == ["registered"]


def test_a_signed_qr_url_from_the_label_is_accepted_as_the_scan(client, demo):
    code = flows.register(client, demo)
    qr = client.get(f"/api/v1/cylinders/{code}").get_json()["qr"]
    assert flows.check(client, demo, qr).get_json()["allowed"] is True
    assert flows.check(client, demo, f"  {code.lower()}\n").get_json()["allowed"] is True


@pytest.mark.parametrize("scan", ["", "hello world", "https://evil.example/x?y=1", "A" * 30])
def test_garbage_from_the_scanner_is_a_422_and_records_nothing(app, client, demo, scan):
    before = blocked_events(app)
    resp = flows.check(client, demo, scan)
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert blocked_events(app) == before


def test_a_retried_check_with_its_idempotency_key_records_the_block_once(app, client, demo):
    code = flows.register(client, demo, manufactured_on="2022-05-01")
    before = blocked_events(app)
    first = flows.check(client, demo, code, **{"Idempotency-Key": "scan-7"}).get_json()
    again = flows.check(client, demo, code, **{"Idempotency-Key": "scan-7"}).get_json()
    assert first["check_id"] == again["check_id"] and first["reasons"] == again["reasons"]
    assert blocked_events(app) == before + 1


@pytest.mark.parametrize("owner", ["enterprise_a", "enterprise_b"])  # allowed; NOT_OWNED
def test_a_retried_check_answers_exactly_what_the_first_answered(client, demo, owner):
    code = flows.register(client, demo, who=owner)
    first = flows.check(client, demo, code, **{"Idempotency-Key": f"again-{owner}"})
    again = flows.check(client, demo, code, **{"Idempotency-Key": f"again-{owner}"})
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()  # the cylinder's header included
    cylinder = first.get_json()["cylinder"]
    assert cylinder["code"] == code and cylinder["owner"]["name"]
    assert ("head_hash" in cylinder) is (owner == "enterprise_a")  # its own: the full view


@pytest.mark.parametrize(
    ("who", "station", "status"),
    [("driver_a", "a", 403), ("enterprise_a", "a", 403), ("station_b", "a", 403),
     ("station_a", "b", 403), ("regulator", "a", 403)],
)  # fmt: skip
def test_only_a_station_checks_and_only_at_its_own_nozzle(client, demo, who, station, status):
    code = flows.register(client, demo)
    resp = client.post(
        "/api/v1/fill-checks",
        json={"station_id": demo["stations"][station], "scan": code},
        headers=bearer(demo["tokens"][who]),
    )
    assert resp.status_code == status, resp.get_json()


def test_an_unknown_station_is_404_and_a_missing_token_401(client, demo):
    resp = client.post(
        "/api/v1/fill-checks",
        json={"station_id": 99999, "scan": "ABC"},
        headers=bearer(demo["tokens"]["station_a"]),
    )
    assert resp.status_code == 404
    assert (
        client.post("/api/v1/fill-checks", json={"station_id": 1, "scan": "A"}).status_code == 401
    )


# --- recording the fill ----------------------------------------------------------------


def fill_payload(demo: Any, net: float = 15.0, **extra: Any) -> dict[str, Any]:
    return {"station_id": demo["stations"]["a"], "gross_kg": round(16.8 + net, 2),
            "tare_kg": 16.8, "net_kg": net, **extra}  # fmt: skip


def test_a_fill_without_an_allowing_check_is_refused(client, demo):
    code = flows.register(client, demo)
    resp = flows.event(client, demo, code, "station_a", "filled", fill_payload(demo))
    assert resp.status_code == 409
    assert [r["code"] for r in resp.get_json()["reasons"]] == ["NO_ALLOWING_CHECK"]
    assert len(flows.history(client, demo, code)) == 1


def test_an_allowing_check_older_than_ten_minutes_does_not_count(app, client, demo):
    code = flows.register(client, demo)
    check_id = flows.check(client, demo, code).get_json()["check_id"]
    with database(app) as s:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)
        s.execute(update(FillCheck).where(FillCheck.id == check_id).values(checked_at=old))  # type: ignore[arg-type]
    assert (
        flows.event(client, demo, code, "station_a", "filled", fill_payload(demo)).status_code
        == 409
    )


def test_one_allowing_check_opens_one_fill(client, demo):
    code = flows.register(client, demo)
    assert flows.check(client, demo, code).get_json()["allowed"] is True
    first = flows.event(client, demo, code, "station_a", "filled", fill_payload(demo))
    assert first.status_code == 201
    assert flows.event(client, demo, code, "station_a", "returned", {}).status_code == 201
    again = flows.event(client, demo, code, "station_a", "filled", fill_payload(demo))
    assert again.status_code == 409  # within the 10 minutes, but the check was used
    assert [r["code"] for r in again.get_json()["reasons"]] == ["NO_ALLOWING_CHECK"]


def test_a_blocked_check_never_allows_a_fill(client, demo):
    code = flows.register(client, demo, manufactured_on="2022-05-01")
    assert flows.check(client, demo, code).get_json()["allowed"] is False
    resp = flows.event(client, demo, code, "station_a", "filled", fill_payload(demo))
    assert resp.status_code == 409


def test_a_fill_records_the_scale_readings_and_warns_of_short_or_over_weight(client, demo):
    code = flows.register(client, demo)
    resp = flows.fill(client, demo, code, net=14.0)
    assert resp.status_code == 201
    doc = resp.get_json()
    assert doc["payload"] == fill_payload(demo, net=14.0)
    assert [w["code"] for w in doc["warnings"]] == ["SHORT_WEIGHT"]
    state = client.get(f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["regulator"]))
    assert state.get_json()["short_weight"] is True
    over = flows.register(client, demo)
    assert [w["code"] for w in flows.fill(client, demo, over, net=15.8).get_json()["warnings"]] == [
        "OVERFILLED"
    ]


@pytest.mark.parametrize(
    "readings",
    [{"gross_kg": 31.8, "tare_kg": 16.8, "net_kg": 12.0}, {"gross_kg": 10.0, "net_kg": 15.0}],
)
def test_scale_readings_that_do_not_add_up_are_a_422(client, demo, readings):
    code = flows.register(client, demo)
    flows.check(client, demo, code)
    payload = {"station_id": demo["stations"]["a"], **readings}
    resp = flows.event(client, demo, code, "station_a", "filled", payload)
    assert resp.status_code == 422, resp.get_json()


def test_the_station_sync_holds_its_cylinders_the_deny_list_and_the_keys(client, demo):
    mine = flows.register(client, demo)
    theirs = flows.register(client, demo, who="enterprise_b")
    assert flows.event(client, demo, theirs, "inspector", "scrapped", {}).status_code == 201
    resp = client.get(
        f"/api/v1/stations/{demo['stations']['a']}/sync",
        headers=bearer(demo["tokens"]["station_a"]),
    )
    assert resp.status_code == 200
    doc = resp.get_json()
    assert mine in {c["code"] for c in doc["cylinders"]}
    assert theirs not in {c["code"] for c in doc["cylinders"]} and theirs in doc["deny"]
    assert doc["station"]["id"] == demo["stations"]["a"] and doc["registry_key"]
    assert doc["jurisdiction"]["inspection_interval_years"] == 4
    other = client.get(
        f"/api/v1/stations/{demo['stations']['a']}/sync",
        headers=bearer(demo["tokens"]["station_b"]),
    )
    assert other.status_code == 403
    later = client.get(
        f"/api/v1/stations/{demo['stations']['a']}/sync?since=2999-01-01T00:00:00",
        headers=bearer(demo["tokens"]["station_a"]),
    )
    assert later.status_code == 200 and later.get_json()["cylinders"] == []
