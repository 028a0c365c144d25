"""Registry rules that need no database: who may act where, input checks, licence validity."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from ledger import registry_input as read
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.model import Actor, CustomerKind, Licence, LicenceKind, LicenceStatus, Role
from ledger.registry import MAX_ID, Policy, licence_valid
from ledger.registry_admin import ENTERPRISE_READ, ENTERPRISE_WRITE, STATION_WRITE
from ledger.registry_customers import CUSTOMER_ERASE, CUSTOMER_READ, CUSTOMER_WRITE
from ledger.registry_staff import ACTOR_READ, ACTOR_WRITE

TODAY = dt.date(2026, 11, 23)


def actor(role: Role, enterprise_id: int | None = None) -> Actor:
    return Actor(id=1, name="x", role=role, enterprise_id=enterprise_id)


def allows(policy: Policy, who: Actor, enterprise_id: int) -> str:
    """'ok', 'forbidden' (the role never may) or 'hidden' (another enterprise's record)."""
    try:
        policy.check_role(who)
        policy.check_record(who, enterprise_id)
    except Forbidden:
        return "forbidden"
    except NotFound:
        return "hidden"
    return "ok"


OWN_ADMIN = actor(Role.ENTERPRISE_ADMIN, 1)
OTHER_ADMIN = actor(Role.ENTERPRISE_ADMIN, 2)
DRIVER = actor(Role.DRIVER, 1)
OPERATOR = actor(Role.FILLING_OPERATOR, 1)


@pytest.mark.parametrize(
    ("policy", "who", "expected"),
    [
        (ENTERPRISE_WRITE, actor(Role.REGULATOR), "ok"),
        (ENTERPRISE_WRITE, OWN_ADMIN, "forbidden"),  # an enterprise never licenses itself
        (ENTERPRISE_READ, actor(Role.INSPECTOR), "ok"),
        (ENTERPRISE_READ, DRIVER, "ok"),
        (ENTERPRISE_READ, OTHER_ADMIN, "hidden"),
        (STATION_WRITE, OWN_ADMIN, "ok"),
        (STATION_WRITE, OTHER_ADMIN, "hidden"),
        (STATION_WRITE, actor(Role.REGULATOR), "forbidden"),
        (ACTOR_READ, actor(Role.REGULATOR), "ok"),
        (ACTOR_READ, OPERATOR, "forbidden"),
        (ACTOR_WRITE, actor(Role.ADMIN), "ok"),
        (ACTOR_WRITE, OTHER_ADMIN, "hidden"),
        (CUSTOMER_READ, DRIVER, "ok"),
        (CUSTOMER_READ, OPERATOR, "forbidden"),  # personal data only where it is needed
        (CUSTOMER_READ, actor(Role.INSPECTOR), "forbidden"),
        (CUSTOMER_WRITE, actor(Role.ADMIN), "forbidden"),
        (CUSTOMER_WRITE, actor(Role.DRIVER, 2), "hidden"),
        (CUSTOMER_ERASE, DRIVER, "forbidden"),
        (CUSTOMER_ERASE, actor(Role.ADMIN), "ok"),
    ],
)
def test_a_policy_tells_forbidden_roles_from_other_enterprises(
    policy: Policy, who: Actor, expected: str
) -> None:
    assert allows(policy, who, enterprise_id=1) == expected


def test_an_enterprise_admin_creates_only_for_its_own_enterprise() -> None:
    assert STATION_WRITE.enterprise_for_new(None, OWN_ADMIN, None) == 1  # type: ignore[arg-type]
    assert STATION_WRITE.enterprise_for_new(None, OWN_ADMIN, 1) == 1  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        STATION_WRITE.enterprise_for_new(None, OWN_ADMIN, 2)  # type: ignore[arg-type]
    with pytest.raises(Invalid):  # the admin belongs to no enterprise: it must name one
        STATION_WRITE.enterprise_for_new(None, actor(Role.ADMIN), None)  # type: ignore[arg-type]


def licence(status: LicenceStatus = LicenceStatus.VALID, until: dt.date = TODAY) -> Licence:
    return Licence(
        enterprise_id=1,
        kind=LicenceKind.GAS_BUSINESS,
        number="1",
        valid_from=dt.date(2024, 1, 1),
        valid_until=until,
        status=status,
    )


def test_a_licence_is_valid_through_its_last_day_and_only_while_in_force() -> None:
    assert licence_valid(licence(), TODAY)
    assert not licence_valid(licence(until=TODAY - dt.timedelta(days=1)), TODAY)
    assert not licence_valid(licence(), dt.date(2023, 12, 31))  # not yet in force
    assert not licence_valid(licence(LicenceStatus.SUSPENDED), TODAY)
    assert not licence_valid(licence(LicenceStatus.REVOKED), TODAY)


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("渝A·D12345", "渝A·D12345"),
        ("渝AD12345", "渝A·D12345"),
        ("渝a d12345", "渝A·D12345"),
        ("京B-12345", "京B·12345"),
        ("渝A·12345挂", "渝A·12345挂"),
        ("粤B·12345D", "粤B·12345D"),  # new-energy plates have six characters
    ],
)
def test_a_plate_is_stored_one_way(spelling: str, stored: str) -> None:
    assert read.plate({"plate": spelling}) == stored


@pytest.mark.parametrize(
    "bad", ["", "ABC1234", "渝·D12345", "渝A·D123", "渝A·D1234567", "渝A\x00D12345"]
)
def test_what_is_not_a_plate_is_refused(bad: str) -> None:
    with pytest.raises(Invalid):
        read.plate({"plate": bad})


@pytest.mark.parametrize(
    ("reader", "data"),
    [
        (lambda d: read.text(d, "name", 5), {"name": "六个字符呀呀"}),
        (lambda d: read.text(d, "name", 50), {"name": "tab\there"}),
        (lambda d: read.text(d, "name", 50), {"name": "  "}),
        (lambda d: read.text(d, "name", 50), {"name": 7}),
        (lambda d: read.date(d, "on"), {"on": "2026-02-30"}),
        (lambda d: read.date(d, "on"), {"on": "23/11/2026"}),
        (lambda d: read.record_id(d, "id"), {"id": MAX_ID + 1}),
        (lambda d: read.record_id(d, "id"), {"id": 0}),
        (lambda d: read.record_id(d, "id"), {"id": True}),
        (lambda d: read.coordinate(d, "lat", 90), {"lat": 90.5}),
        (lambda d: read.coordinate(d, "lat", 90), {"lat": "29.5"}),
        (lambda d: read.choice(d, "kind", CustomerKind), {"kind": "hotel"}),
        (lambda d: read.flag(d, "basement"), {"basement": "yes"}),
        (lambda d: read.matching(d, "code", 18, read.CREDIT_CODE), {"code": "91500000MA5U7L3X1O"}),
        (lambda d: read.matching(d, "phone", 32, read.PHONE), {"phone": "call me"}),
        (lambda d: read.public_key(d), {"public_key": base64.b64encode(bytes(31)).decode()}),
        (lambda d: read.public_key(d), {"public_key": "not base64!"}),
        (lambda d: read.only(d, {"name"}), {"name": "x", "nmae": "typo"}),
    ],
)
def test_bad_input_is_refused_naming_its_field(reader: Any, data: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as refused:
        reader(data)
    assert set(data) & (
        {refused.value.extra.get("field")} | set(refused.value.extra.get("fields", []))
    )


def test_good_input_comes_back_clean() -> None:
    assert read.text({"name": "  渝安燃气 "}, "name", 10) == "渝安燃气"
    assert read.text({}, "address", 10, required=False) is None
    assert read.date({"on": "2026-11-23"}, "on") == TODAY
    assert read.coordinate({"lon": 106}, "lon", 180) == 106.0
    assert read.matching({"c": "91500000MA5U7L3X1R"}, "c", 18, read.CREDIT_CODE)
    key = bytes(range(32))
    assert read.public_key({"public_key": base64.urlsafe_b64encode(key).decode()}) == key
    assert read.public_key({"public_key": base64.b64encode(key).decode()}) == key
