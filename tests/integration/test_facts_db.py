"""The rules' registry views read in as few statements as the nozzle's path needs: an
enterprise with its licences in one query, whatever licences it holds (none, several, of
several kinds), and a vehicle by plate; the same views as reading each table alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger import facts_db, registry
from ledger.facts import EnterpriseView, LicenceView, VehicleView
from ledger.model import Vehicle
from ledger.store import transaction
from tests.sql_sent import statements_sent

DAY = dt.date(2026, 11, 23)
YEAR = dt.timedelta(days=365)


def _registry(engine: Any) -> dict[str, int]:
    with transaction(engine) as s:
        none = registry.add_enterprise(s, "无证燃气公司")
        some = registry.add_enterprise(s, "渝北燃气有限公司")
        station = registry.add_station(s, some, "人和充装站")
        registry.add_licence(s, some, "gas_business", "渝燃经001", DAY - YEAR, DAY + YEAR)
        registry.add_licence(s, some, "gas_business", "渝燃经000", DAY - 3 * YEAR, DAY - YEAR)
        registry.add_licence(
            s, some, "cylinder_filling", "渝充002", DAY - YEAR, DAY + YEAR, station=station
        )
        s.add(Vehicle(enterprise_id=some.id, plate="渝A·D12345", permit_number="渝危运9",
                      permit_valid_until=DAY + YEAR, driver_id=None))  # fmt: skip
        assert none.id is not None and some.id is not None
        return {"none": none.id, "some": some.id}


def _selects(sent: list[str]) -> list[str]:
    return [q for q in sent if q.lstrip().upper().startswith("SELECT")]  # not SQLite's BEGIN


def test_an_enterprise_and_its_licences_come_in_one_statement(engine: Any) -> None:
    ids = _registry(engine)
    with transaction(engine, write=False) as s, statements_sent(engine) as sent:
        licensed = facts_db.enterprise(s, ids["some"])
        unlicensed = facts_db.enterprise(s, ids["none"])
        missing = facts_db.enterprise(s, 999_999)
    assert len(_selects(sent)) == 3  # one each
    assert missing is None
    assert unlicensed == EnterpriseView(ids["none"], "无证燃气公司", False, ())
    assert licensed is not None and licensed.name == "渝北燃气有限公司"
    assert sorted(lic.number for lic in licensed.licences) == ["渝燃经000", "渝燃经001"]
    assert licensed.licensed_on(DAY) and not licensed.licensed_on(DAY + 2 * YEAR)
    assert not unlicensed.licensed_on(DAY)


def test_the_one_statement_reads_what_the_two_read(engine: Any) -> None:
    ids = _registry(engine)
    with transaction(engine, write=False) as s:
        for enterprise_id in ids.values():
            known = facts_db.licences(s, [enterprise_id])
            one = facts_db.enterprise(s, enterprise_id)
            two = facts_db.enterprise(s, enterprise_id, known)
            assert one is not None and two is not None
            assert (one.id, one.name, one.blacklisted) == (two.id, two.name, two.blacklisted)
            assert sorted(one.licences, key=repr) == sorted(two.licences, key=repr)
            assert all(isinstance(lic, LicenceView) for lic in one.licences)


def test_a_vehicle_by_plate(engine: Any) -> None:
    ids = _registry(engine)
    with transaction(engine, write=False) as s, statements_sent(engine) as sent:
        found = facts_db.vehicle(s, "渝A·D12345")
        unknown = facts_db.vehicle(s, "渝A·00000")
    assert len(_selects(sent)) == 2 and unknown is None
    assert found == VehicleView("渝A·D12345", ids["some"], "渝危运9", DAY + YEAR, None)
    assert found.permitted_on(DAY) and not found.permitted_on(DAY + 2 * YEAR)
