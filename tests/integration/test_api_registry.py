"""Registry management through the API: who may do what, to whose records, with what input.

The role table drives one request per demo token against a record of enterprise A: the
roles allowed get their success status, enterprise B's staff (for whom A's records do not
exist) get 404, every other role 403. Each request meets a fresh target record.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from app.runtime import runtime
from ledger import registry
from ledger.errors import Conflict
from ledger.events import ZERO_HASH, EventFields, signing_message
from ledger.keys import device_key_id
from ledger.model import SigningKey, Vehicle
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer, cylinder_body

API = "/api/v1"
WHO = (
    "admin",
    "regulator",
    "inspector",
    "enterprise_a",
    "enterprise_b",
    "station_a",
    "station_b",
    "driver_a",
)
OVERSIGHT = {"admin", "regulator", "inspector"}
STAFF_A = {"enterprise_a", "station_a", "driver_a"}
STAFF_B = {"enterprise_b", "station_b"}
_serial = count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial):05d}{os.urandom(2).hex()}"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Api:
    """The test client speaking as one demo token or another."""

    def __init__(self, client: Any, demo: dict[str, Any]) -> None:
        self.client, self.demo = client, demo

    def __call__(self, who: str | None, method: str, path: str, body: Any = None) -> Any:
        headers = bearer(self.demo["tokens"][who]) if who else {}
        return self.client.open(API + path, method=method, json=body, headers=headers)

    def ok(self, who: str, method: str, path: str, body: Any = None) -> Any:
        resp = self(who, method, path, body)
        assert resp.status_code < 300, (method, path, resp.get_json(silent=True))
        return resp.get_json(silent=True)  # None for a 204

    def id_of(self, who: str) -> int:
        return int(self.ok(who, "GET", "/actors/me")["id"])

    def customer(self, who: str = "enterprise_a", **fields: Any) -> dict[str, Any]:
        body = {"name": "老火锅", "kind": "restaurant", "address": "观音桥", "basement": False}
        return dict(self.ok(who, "POST", "/customers", {**body, **fields}))

    def actor(self, role: str = "driver", who: str = "enterprise_a", **fields: Any) -> Any:
        return self.ok(who, "POST", "/actors", {"name": unique("员工"), "role": role, **fields})

    def licence(self, enterprise: int, **fields: Any) -> dict[str, Any]:
        body = {
            "kind": "gas_business",
            "number": unique("渝燃经"),
            "valid_from": "2025-01-01",
            "valid_until": "2030-12-31",
            **fields,
        }
        return dict(self.ok("regulator", "POST", f"/enterprises/{enterprise}/licences", body))

    def vehicle_a(self) -> int:
        rows = self.ok("enterprise_a", "GET", "/vehicles")["vehicles"]
        return int(next(v["id"] for v in rows if v["plate"] == self.demo["vehicles"]["a"]))


@pytest.fixture
def api(client: Any, demo: dict[str, Any]) -> Api:
    return Api(client, demo)


@dataclass
class Case:
    """One endpoint: the roles that succeed, with what status, and who sees nothing there."""

    method: str
    path: str  # formatted with the values the setup returns
    status: int
    roles: Collection[str]
    hidden: Collection[str] = ()
    body: Callable[[Api], Any] | None = None
    setup: Callable[[Api], dict[str, Any]] | None = None

    def expected(self, who: str) -> int:
        if who in self.roles:
            return self.status
        return 404 if who in self.hidden else 403


def _with(**make: Callable[[Api], Any]) -> Callable[[Api], dict[str, Any]]:
    """A setup: the demo's ids plus a fresh record of enterprise A for each name."""
    ids = {"ent_a": ("enterprises", "a"), "station_a": ("stations", "a")}
    return lambda api: {
        **{k: api.demo[group][key] for k, (group, key) in ids.items()},
        **{k: f(api) for k, f in make.items()},
    }


def _suspended(api: Api) -> int:
    licence = api.licence(api.demo["enterprises"]["a"])
    api.ok("regulator", "POST", f"/licences/{licence['id']}/suspend")
    return int(licence["id"])


def fixed(doc: dict[str, Any]) -> Callable[[Api], dict[str, Any]]:
    return lambda api: doc


def in_a(**doc: Any) -> Callable[[Api], dict[str, Any]]:
    """A body naming enterprise A (as the admin must; others may name their own)."""
    return lambda api: {**{k: v() if callable(v) else v for k, v in doc.items()},
                        "enterprise_id": api.demo["enterprises"]["a"]}  # fmt: skip


def licence_body(api: Api) -> dict[str, Any]:
    return {"kind": "gas_business", "number": unique("渝燃经"),
            "valid_from": "2025-01-01", "valid_until": "2030-01-01"}  # fmt: skip


CUSTOMER = {"name": "老火锅", "kind": "restaurant", "address": "观音桥", "basement": False}
REGULATORS = {"admin", "regulator"}
A_ADMINS = {"admin", "enterprise_a"}
SEES_A = OVERSIGHT | STAFF_A
B = {"enterprise_b"}
LICENCE = _with(lic=lambda api: api.licence(api.demo["enterprises"]["a"])["id"])
DRIVER = _with(actor=lambda api: api.actor()["id"])
FILE = _with(customer=lambda api: api.customer()["id"])
VEHICLE = _with(vehicle=Api.vehicle_a)

# fmt: off
CASES = {
    # name: Case(method, path, success status, roles that succeed, roles A's record is hidden from)
    "create enterprise": Case("POST", "/enterprises", 201, REGULATORS,
                              body=lambda a: {"name": unique("燃气")}),
    "list enterprises": Case("GET", "/enterprises", 200, WHO),
    "read enterprise": Case("GET", "/enterprises/{ent_a}", 200, SEES_A, STAFF_B),
    "blacklist": Case("POST", "/enterprises/{ent_a}/blacklist", 200, REGULATORS,
                      body=fixed({"reason": "无证经营"})),
    "unblacklist": Case("DELETE", "/enterprises/{ent_a}/blacklist", 204, REGULATORS),
    "issue licence": Case("POST", "/enterprises/{ent_a}/licences", 201, REGULATORS,
                          body=licence_body),
    "list licences": Case("GET", "/enterprises/{ent_a}/licences", 200, SEES_A, STAFF_B),
    "revoke licence": Case("POST", "/licences/{lic}/revoke", 200, REGULATORS,
                           body=fixed({"reason": "伪造资料"}), setup=LICENCE),
    "suspend licence": Case("POST", "/licences/{lic}/suspend", 200, REGULATORS, setup=LICENCE),
    "reinstate licence": Case("POST", "/licences/{lic}/reinstate", 200, REGULATORS,
                              setup=_with(lic=_suspended)),
    "expire licence": Case("POST", "/licences/{lic}/expire", 200, REGULATORS, setup=LICENCE),
    "create station": Case("POST", "/stations", 201, A_ADMINS,
                           body=in_a(name=lambda: unique("充装站"))),
    "list stations": Case("GET", "/stations", 200, WHO),
    "read station": Case("GET", "/stations/{station_a}", 200, SEES_A, STAFF_B),
    "correct station": Case("PATCH", "/stations/{station_a}", 200, A_ADMINS, B,
                            body=fixed({"address": "重庆市江北区"})),
    "create actor": Case("POST", "/actors", 201, A_ADMINS, body=in_a(name="李师傅", role="driver")),
    "list actors": Case("GET", "/actors", 200, REGULATORS | {"enterprise_a", "enterprise_b"}),
    "read actor": Case("GET", "/actors/{actor}", 200, REGULATORS | {"enterprise_a"}, B,
                       setup=DRIVER),
    "rotate token": Case("POST", "/actors/{actor}/token", 200, A_ADMINS, B, setup=DRIVER),
    "revoke actor": Case("POST", "/actors/{actor}/revoke", 200, A_ADMINS, B, setup=DRIVER),
    "replace key": Case("PUT", "/actors/{actor}/key", 200, A_ADMINS, B,
                        body=lambda a: {"public_key": new_key()}, setup=DRIVER),
    "who am i": Case("GET", "/actors/me", 200, WHO),
    "create vehicle": Case("POST", "/vehicles", 201, A_ADMINS,
                           body=in_a(plate=lambda: f"渝A{next(_serial) % 100000:05d}")),
    "list vehicles": Case("GET", "/vehicles", 200, WHO),
    "read vehicle": Case("GET", "/vehicles/{vehicle}", 200, SEES_A, STAFF_B, setup=VEHICLE),
    "bind vehicle": Case("PATCH", "/vehicles/{vehicle}", 200, A_ADMINS, B,
                         body=fixed({"permit_valid_until": "2028-01-01"}), setup=VEHICLE),
    "open customer file": Case("POST", "/customers", 201, {"enterprise_a", "enterprise_b",
                               "driver_a"}, body=fixed(CUSTOMER)),
    "list customers": Case("GET", "/customers", 200,
                           REGULATORS | {"enterprise_a", "enterprise_b", "driver_a"}),
    "read customer": Case("GET", "/customers/{customer}", 200,
                          REGULATORS | {"enterprise_a", "driver_a"}, B, setup=FILE),
    "correct customer": Case("PATCH", "/customers/{customer}", 200, {"enterprise_a", "driver_a"},
                             B, body=fixed({"phone": "023-67881234"}), setup=FILE),
    "erase customer": Case("DELETE", "/customers/{customer}", 204, A_ADMINS, B, setup=FILE),
}
# fmt: on


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_role_gets_its_answer(api: Api, name: str) -> None:
    case = CASES[name]
    for who in WHO:
        path = case.path.format(**(case.setup or _with())(api))
        resp = api(who, case.method, path, case.body(api) if case.body else None)
        assert resp.status_code == case.expected(who), (name, who, resp.get_json())
        if resp.status_code >= 400:
            assert resp.headers["Content-Type"] == "application/problem+json"
        assert api(None, case.method, path).status_code == 401


# --- what each operation does ----------------------------------------------------------


def test_a_new_actors_token_is_shown_once_and_never_listed(api: Api, client: Any) -> None:
    body = {
        "name": "充装枪2号",
        "role": "filling_operator",
        "station_id": api.demo["stations"]["a"],
    }
    resp = api("enterprise_a", "POST", "/actors", body)
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    created = resp.get_json()
    assert created["token"] and created["station_id"] == api.demo["stations"]["a"]
    me = client.get(f"{API}/actors/me", headers=bearer(created["token"])).get_json()
    assert me == {
        "id": created["id"],
        "name": created["name"],
        "role": "filling_operator",
        "enterprise_id": api.demo["enterprises"]["a"],
        "station_id": api.demo["stations"]["a"],
        "key_id": None,
    }
    for who in ("admin", "enterprise_a"):
        listing = api(who, "GET", "/actors").get_data(as_text=True)
        assert created["token"] not in listing and "token" not in listing
    assert "token" not in api.ok("admin", "GET", f"/actors/{created['id']}")


def test_a_rotated_token_replaces_the_old_one_at_once(api: Api, client: Any) -> None:
    created = api.actor()
    resp = api("enterprise_a", "POST", f"/actors/{created['id']}/token")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    rotated = resp.get_json()
    assert rotated["token"] != created["token"]
    assert client.get(f"{API}/actors/me", headers=bearer(created["token"])).status_code == 401
    assert client.get(f"{API}/actors/me", headers=bearer(rotated["token"])).status_code == 200


def test_a_revoked_actor_is_locked_out_for_good(api: Api, client: Any) -> None:
    created = api.actor(public_key=new_key())
    revoked = api.ok("enterprise_a", "POST", f"/actors/{created['id']}/revoke")
    assert revoked["active"] is False and revoked["revoked_at"]
    assert client.get(f"{API}/actors/me", headers=bearer(created["token"])).status_code == 401
    again = api("enterprise_a", "POST", f"/actors/{created['id']}/revoke")
    assert again.status_code == 200 and again.get_json()["revoked_at"] == revoked["revoked_at"]
    for method, path, body in (
        ("POST", f"/actors/{created['id']}/token", None),
        ("PUT", f"/actors/{created['id']}/key", {"public_key": new_key()}),
    ):
        assert api("enterprise_a", method, path, body).status_code == 409


def test_nobody_revokes_themselves(api: Api) -> None:
    for who in ("admin", "enterprise_a"):
        resp = api(who, "POST", f"/actors/{api.id_of(who)}/revoke")
        assert resp.status_code == 403, who
        assert api(who, "GET", "/actors/me").status_code == 200


def test_a_device_registers_its_key_once_and_an_admin_replaces_it(
    api: Api, client: Any, app: Any
) -> None:
    created = api.actor()
    own = bearer(created["token"])
    first = new_key()
    resp = client.post(f"{API}/actors/me/key", json={"public_key": first}, headers=own)
    assert resp.status_code == 201
    first_id = device_key_id(base64.b64decode(first))
    assert resp.get_json()["key_id"] == first_id
    resp = client.post(f"{API}/actors/me/key", json={"public_key": first}, headers=own)
    assert resp.status_code == 200 and resp.get_json()["key_id"] == first_id  # a retry
    resp = client.post(f"{API}/actors/me/key", json={"public_key": new_key()}, headers=own)
    assert resp.status_code == 409
    second = new_key()
    replaced = api.ok("enterprise_a", "PUT", f"/actors/{created['id']}/key", {"public_key": second})
    assert replaced["key_id"] == device_key_id(base64.b64decode(second))
    keys = signing_keys(app, created["id"])
    assert set(keys) == {first_id, replaced["key_id"]}  # the old key still verifies old events
    assert keys[first_id] is not None and keys[replaced["key_id"]] is None  # revoked_at
    # A key, once registered, is never given to anyone else.
    other = api.actor()
    resp = api("enterprise_a", "PUT", f"/actors/{other['id']}/key", {"public_key": first})
    assert resp.status_code == 409


def signing_keys(app: Any, actor_id: int) -> dict[str, Any]:
    with app.app_context(), transaction(runtime().engine, write=False) as session:
        rows = session.execute(select(SigningKey).where(SigningKey.actor_id == actor_id)).scalars()
        return {k.key_id: k.revoked_at for k in rows}


def test_staff_are_created_only_in_their_own_enterprise_and_roles(api: Api) -> None:
    ent_a, ent_b = api.demo["enterprises"]["a"], api.demo["enterprises"]["b"]
    station_b = api.demo["stations"]["b"]
    refused = [
        ("enterprise_a", {"role": "regulator"}, 403),
        ("enterprise_a", {"role": "admin"}, 403),
        ("enterprise_a", {"role": "driver", "enterprise_id": ent_b}, 403),
        ("enterprise_a", {"role": "filling_operator"}, 422),  # names no station
        ("enterprise_a", {"role": "filling_operator", "station_id": station_b}, 422),
        ("enterprise_a", {"role": "driver", "station_id": api.demo["stations"]["a"]}, 422),
        ("admin", {"role": "driver"}, 422),  # which enterprise?
        ("admin", {"role": "inspector", "enterprise_id": ent_a}, 422),
        ("admin", {"role": "public"}, 422),
        ("admin", {"role": "driver", "enterprise_id": 2**31 - 1}, 404),
    ]
    for who, fields, status in refused:
        resp = api(who, "POST", "/actors", {"name": "某人", **fields})
        assert resp.status_code == status, (who, fields, resp.get_json())
    inspector = api.actor("inspector", who="admin")
    assert inspector["enterprise_id"] is None and inspector["role"] == "inspector"
    operator_b = api.actor(
        "filling_operator", who="admin", enterprise_id=ent_b, station_id=station_b
    )
    assert operator_b["enterprise_id"] == ent_b


def test_enterprise_staff_see_only_their_own_records(api: Api) -> None:
    ent_a, ent_b = api.demo["enterprises"]["a"], api.demo["enterprises"]["b"]
    api.customer("enterprise_a")
    api.customer("enterprise_b", name="山城小面")
    api.ok("enterprise_b", "POST", "/vehicles", {"plate": "渝B·C00001"})
    for path, key in (
        ("/enterprises", "enterprises"),
        ("/stations", "stations"),
        ("/vehicles", "vehicles"),
        ("/actors", "actors"),
        ("/customers", "customers"),
    ):
        own = api.ok("enterprise_b", "GET", path)[key]
        assert own and {r.get("enterprise_id", r["id"]) for r in own} == {ent_b}, path
        everything = api.ok("admin", "GET", path)[key]
        assert {ent_a, ent_b} <= {r.get("enterprise_id", r.get("id")) for r in everything}, path
    # The oversight roles may narrow a list to one enterprise; enterprise staff cannot widen it.
    narrowed = api.ok("regulator", "GET", f"/stations?enterprise_id={ent_b}")["stations"]
    assert {s["enterprise_id"] for s in narrowed} == {ent_b}
    widened = api.ok("enterprise_b", "GET", f"/stations?enterprise_id={ent_a}")["stations"]
    assert {s["enterprise_id"] for s in widened} == {ent_b}


def test_an_enterprise_file_shows_whether_each_licence_is_valid_today(api: Api) -> None:
    ent_a = api.demo["enterprises"]["a"]
    licence = api.licence(ent_a)
    lid = licence["id"]
    assert licence["valid_today"] is True

    def valid() -> bool:
        doc = api.ok("enterprise_a", "GET", f"/enterprises/{ent_a}")
        return bool(next(x for x in doc["licences"] if x["id"] == lid)["valid_today"])

    assert valid()
    assert api.ok("regulator", "POST", f"/licences/{lid}/suspend")["status"] == "suspended"
    assert not valid()
    assert api.ok("regulator", "POST", f"/licences/{lid}/reinstate")["status"] == "valid"
    assert valid()
    expired = api.ok("regulator", "POST", f"/licences/{lid}/expire")
    assert expired["valid_today"] is False and expired["status"] == "valid"
    assert not valid()
    revoked = api.ok("admin", "POST", f"/licences/{lid}/revoke", {"reason": "伪造资料"})
    assert revoked["status"] == "revoked"
    for action in ("reinstate", "suspend"):
        assert api("regulator", "POST", f"/licences/{lid}/{action}").status_code == 409


def test_a_filling_licence_names_a_station_of_that_enterprise(api: Api) -> None:
    ent_a, station_a = api.demo["enterprises"]["a"], api.demo["stations"]["a"]
    filling = {"kind": "cylinder_filling"}
    for fields in (filling, {**filling, "station_id": api.demo["stations"]["b"]}):
        body = {"number": unique("TS"), "valid_from": "2025-01-01", "valid_until": "2029-01-01"}
        resp = api("regulator", "POST", f"/enterprises/{ent_a}/licences", {**body, **fields})
        assert resp.status_code == 422 and resp.get_json()["field"] == "station_id"
    made = api.licence(ent_a, kind="cylinder_filling", station_id=station_a)
    assert made["station_id"] == station_a and made["kind"] == "cylinder_filling"
    resp = api(
        "regulator",
        "POST",
        f"/enterprises/{ent_a}/licences",
        {
            "kind": "gas_business",
            "number": made["number"],
            "valid_from": "2025-01-01",
            "valid_until": "2029-01-01",
            "station_id": station_a,
        },
    )
    assert resp.status_code == 422  # a gas business licence belongs to the enterprise


def test_the_blacklist_keeps_its_reason_until_lifted(api: Api) -> None:
    ent_b = api.demo["enterprises"]["b"]
    listed = api.ok(
        "regulator", "POST", f"/enterprises/{ent_b}/blacklist", {"reason": "掺混二甲醚"}
    )
    assert listed["blacklisted"] is True and listed["blacklist_reason"] == "掺混二甲醚"
    doc = api.ok("enterprise_b", "GET", f"/enterprises/{ent_b}")
    assert doc["blacklisted"] is True
    assert api("regulator", "DELETE", f"/enterprises/{ent_b}/blacklist").status_code == 204
    doc = api.ok("enterprise_b", "GET", f"/enterprises/{ent_b}")
    assert doc["blacklisted"] is False and doc["blacklist_reason"] is None


def test_a_vehicle_is_bound_only_to_a_driver_of_its_enterprise(api: Api) -> None:
    vehicle = api.vehicle_a()
    driver = api.actor()
    bound = api.ok("enterprise_a", "PATCH", f"/vehicles/{vehicle}", {"driver_id": driver["id"]})
    assert bound["driver_id"] == driver["id"]
    operator_a = api.id_of("station_a")
    driver_b = api.actor(who="enterprise_b")["id"]
    for wrong in (operator_a, driver_b, 2**31 - 1):
        resp = api("enterprise_a", "PATCH", f"/vehicles/{vehicle}", {"driver_id": wrong})
        assert resp.status_code == 422 and resp.get_json()["field"] == "driver_id", wrong
    unbound = api.ok("enterprise_a", "PATCH", f"/vehicles/{vehicle}", {"driver_id": None})
    assert unbound["driver_id"] is None and unbound["permit_number"]  # the permit is untouched


def test_plates_are_stored_one_way_so_a_vehicle_registers_once(api: Api) -> None:
    made = api.ok(
        "enterprise_a", "POST", "/vehicles", {"plate": "渝b 12345", "permit_number": "P1"}
    )
    assert made["plate"] == "渝B·12345"
    for spelling in ("渝B12345", "渝B·12345", api.demo["vehicles"]["a"].replace("·", "")):
        assert api("enterprise_b", "POST", "/vehicles", {"plate": spelling}).status_code == 409


def test_a_customer_file_is_corrected_and_erased_but_its_id_remains(api: Api) -> None:
    made = api.customer("driver_a", phone="13800000000", basement=True)
    assert set(made) >= {"id"} and made["enterprise_id"] == api.demo["enterprises"]["a"]
    cid = made["id"]
    fixed = api.ok("driver_a", "PATCH", f"/customers/{cid}", {"address": "观音桥步行街 8 号"})
    assert fixed["address"] == "观音桥步行街 8 号" and fixed["phone"] == "13800000000"
    assert api("driver_a", "DELETE", f"/customers/{cid}").status_code == 403
    assert api("enterprise_a", "DELETE", f"/customers/{cid}").status_code == 204
    erased = api.ok("enterprise_a", "GET", f"/customers/{cid}")
    assert erased["erased_at"] and (erased["name"], erased["address"], erased["phone"]) == (
        "",
        "",
        None,
    )
    assert (erased["kind"], erased["basement"], erased["enterprise_id"]) == (
        "restaurant",
        True,
        made["enterprise_id"],
    )
    assert api("enterprise_a", "DELETE", f"/customers/{cid}").status_code == 204  # idempotent
    assert api("enterprise_a", "PATCH", f"/customers/{cid}", {"name": "又来"}).status_code == 409


# --- bad input: a clear 4xx naming the problem, and nothing recorded --------------------


def licence(**fields: Any) -> dict[str, Any]:
    return {"kind": "gas_business", "number": "1", "valid_from": "2025-01-01",
            "valid_until": "2026-01-01", **fields}  # fmt: skip


# fmt: off
BAD_INPUT = [
    # (who, method, path, body, status, a word the problem names)
    ("regulator", "POST", "/enterprises", {"name": ""}, 422, "name"),
    ("regulator", "POST", "/enterprises", {"name": "x" * 201}, 422, "name"),
    ("regulator", "POST", "/enterprises", {"name": "燃气\x00公司"}, 422, "name"),
    ("regulator", "POST", "/enterprises", {"name": "燃气", "boss": "x"}, 422, "boss"),
    ("regulator", "POST", "/enterprises", {"name": "燃气", "credit_code": "91500000ABCDEFGHIO"},
     422, "credit_code"),
    ("regulator", "POST", "/enterprises", {"name": "燃气", "gs1_prefix": "69A1234"},
     422, "gs1_prefix"),
    ("regulator", "POST", "/enterprises", {"name": "重庆渝安燃气有限公司"}, 409, "企业"),
    ("regulator", "POST", "/enterprises", ["not", "an", "object"], 422, ""),
    ("regulator", "POST", "/enterprises/{ent_a}/blacklist", {}, 422, "reason"),
    ("regulator", "POST", "/enterprises/{ent_a}/blacklist", {"reason": "a\x1bb"}, 422, "reason"),
    ("regulator", "POST", "/enterprises/{ent_a}/licences", licence(kind="fishing"), 422, "kind"),
    ("regulator", "POST", "/enterprises/{ent_a}/licences", licence(valid_from="2025-13-01"),
     422, "valid_from"),
    ("regulator", "POST", "/enterprises/{ent_a}/licences", licence(valid_from="2026-02-01"),
     422, "valid_until"),
    ("regulator", "POST", "/enterprises/{ent_a}/licences", licence(number="渝燃经字2024A001"),
     409, "licence number"),
    ("regulator", "POST", "/enterprises/99999999999/licences", licence(), 404, "enterprise"),
    ("regulator", "POST", "/licences/{lic}/revoke", {"reason": ""}, 422, "reason"),
    ("regulator", "POST", "/licences/2147483648/suspend", None, 404, "licence"),
    ("enterprise_a", "POST", "/stations", {"name": "站", "latitude": 91, "longitude": 106},
     422, "latitude"),
    ("enterprise_a", "POST", "/stations", {"name": "站", "latitude": 29.6}, 422, "latitude"),
    ("enterprise_a", "POST", "/stations", {"name": "站", "longitude": "东经"}, 422, "longitude"),
    ("enterprise_a", "PATCH", "/stations/{station_a}", {"name": None}, 422, "name"),
    ("enterprise_a", "PATCH", "/stations/{station_a}", {"enterprise_id": 2}, 422, "enterprise_id"),
    ("enterprise_a", "POST", "/actors", {"name": "李", "role": "wizard"}, 422, "role"),
    ("enterprise_a", "POST", "/actors", {"name": "李", "role": "driver", "public_key": "AAAA" * 11},
     422, "public_key"),
    ("enterprise_a", "POST", "/actors", {"name": "李", "role": "driver", "station_id": 2**31},
     422, "station_id"),
    ("enterprise_a", "POST", "/actors/me/key", {"public_key": "!" * 44}, 422, "public_key"),
    ("enterprise_a", "POST", "/actors/me/key", {}, 422, "public_key"),
    ("enterprise_a", "POST", "/vehicles", {"plate": "ABC123"}, 422, "plate"),
    ("enterprise_a", "POST", "/vehicles", {"plate": "渝A·D12345678"}, 422, "plate"),
    ("enterprise_a", "POST", "/vehicles", {"plate": "渝A·D1234", "permit_valid_until": "soon"},
     422, "permit_valid_until"),
    ("enterprise_a", "POST", "/vehicles", {"plate": "渝A·D12345"}, 409, "plate"),
    ("enterprise_a", "PATCH", "/vehicles/{vehicle}", {"plate": "渝A·D54321"}, 422, "plate"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "kind": "hotel"}, 422, "kind"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "basement": None}, 422, "basement"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "address": None}, 422, "address"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "phone": "call me"}, 422, "phone"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "name": "老火锅\n"}, 422, "name"),
    ("driver_a", "POST", "/customers", {**CUSTOMER, "enterprise_id": 2}, 422, "enterprise_id"),
]
# fmt: on


def _snapshot(api: Api) -> list[Any]:
    paths = ["/enterprises", "/stations", "/vehicles", "/actors", "/customers"]
    paths += [f"/enterprises/{e}/licences" for e in api.demo["enterprises"].values()]
    return [api.ok("admin", "GET", p) for p in paths]


def test_bad_input_is_refused_with_its_reason_and_changes_nothing(api: Api) -> None:
    values = {**LICENCE(api), **VEHICLE(api)}
    before = _snapshot(api)
    for who, method, path, body, status, named in BAD_INPUT:
        resp = api(who, method, path.format(**values), body)
        problem = resp.get_json()
        assert resp.status_code == status, (path, body, problem)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert (
            problem["status"] == status and named in f"{problem['detail']} {problem.get('field')}"
        )
    assert _snapshot(api) == before


def test_a_malformed_body_is_a_problem_not_a_crash(api: Api, client: Any) -> None:
    headers = {**bearer(api.demo["tokens"]["regulator"]), "Content-Type": "application/json"}
    for data in ("{", "null", '"text"', "[]", "\xff"):
        resp = client.post(f"{API}/enterprises", data=data, headers=headers)
        assert resp.status_code in (400, 415, 422), data
        assert resp.headers["Content-Type"] == "application/problem+json"
    # JSON can spell a lone surrogate, which no database can store as UTF-8.
    resp = client.post(f"{API}/enterprises", data='{"name": "燃气\\ud800"}', headers=headers)
    assert resp.status_code == 422 and resp.get_json()["field"] == "name"


def test_every_registry_operation_is_in_the_openapi_document(client: Any) -> None:
    spec = client.get(f"{API}/openapi.json").get_json()
    expected = {
        "/enterprises": {"get", "post"},
        "/enterprises/{enterprise_id}": {"get"},
        "/enterprises/{enterprise_id}/blacklist": {"post", "delete"},
        "/enterprises/{enterprise_id}/licences": {"get", "post"},
        "/licences/{licence_id}/revoke": {"post"},
        "/licences/{licence_id}/suspend": {"post"},
        "/licences/{licence_id}/reinstate": {"post"},
        "/licences/{licence_id}/expire": {"post"},
        "/stations": {"get", "post"},
        "/stations/{station_id}": {"get", "patch"},
        "/actors": {"get", "post"},
        "/actors/me": {"get"},
        "/actors/me/key": {"post"},
        "/actors/{actor_id}/token": {"post"},
        "/actors/{actor_id}/revoke": {"post"},
        "/actors/{actor_id}/key": {"put"},
        "/vehicles": {"get", "post"},
        "/vehicles/{vehicle_id}": {"get", "patch"},
        "/customers": {"get", "post"},
        "/customers/{customer_id}": {"get", "patch", "delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][API + path]), path
    created = spec["paths"][f"{API}/customers"]["post"]
    assert "201" in created["responses"] and "requestBody" in created
    assert "token" in spec["components"]["schemas"]["ActorTokenOut"]["properties"]
    assert "token" not in spec["components"]["schemas"]["ActorOut"]["properties"]


def test_events_signed_with_a_replaced_device_key_still_verify(
    api: Api, client: Any, runner: Any
) -> None:
    device = Ed25519PrivateKey.generate()
    old_key = device.public_key().public_bytes_raw()
    driver = api.actor(public_key=base64.b64encode(old_key).decode())
    cylinder = api.ok("enterprise_a", "POST", "/cylinders", cylinder_body())
    occurred = dt.datetime.now(dt.UTC)
    claim = EventFields(
        id=str(uuid.uuid4()), cylinder=cylinder["id"], type="reported", occurred_at=occurred,
        recorded_at=occurred, actor=driver["id"], station=None, site=None,
        payload={"kind": "label_damaged"}, prev_hash=ZERO_HASH, key_id="",
    )  # fmt: skip
    body = {
        "id": claim.id,
        "type": claim.type,
        "occurred_at": occurred.isoformat(),
        "payload": dict(claim.payload),
        "signature": base64.b64encode(device.sign(signing_message(claim))).decode(),
    }
    resp = client.post(
        f"{API}/cylinders/{cylinder['code']}/events", json=body, headers=bearer(driver["token"])
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["key_id"] == device_key_id(old_key)
    api.ok("enterprise_a", "PUT", f"/actors/{driver['id']}/key", {"public_key": new_key()})
    history = api.ok("regulator", "GET", f"/cylinders/{cylinder['code']}/events")
    assert history["chain_valid"] is True
    assert history["events"][-1]["key_id"] == device_key_id(old_key)
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0


def test_licence_and_blacklist_changes_reach_the_nozzle_at_once(api: Api, client: Any) -> None:
    code = flows.register(client, api.demo)
    ent_a, station_a = api.demo["enterprises"]["a"], api.demo["stations"]["a"]
    licences = api.ok("regulator", "GET", f"/enterprises/{ent_a}/licences")["licences"]
    filling = next(x["id"] for x in licences if x["station_id"] == station_a)

    def reasons() -> list[str]:
        resp = flows.check(client, api.demo, code)
        assert resp.status_code == 200, resp.get_json()
        return [r["code"] for r in resp.get_json()["reasons"]]

    assert reasons() == []
    api.ok("regulator", "POST", f"/licences/{filling}/suspend")
    assert reasons() == ["STATION_NOT_LICENSED"]
    api.ok("regulator", "POST", f"/licences/{filling}/reinstate")
    assert reasons() == []
    api.ok("regulator", "POST", f"/enterprises/{ent_a}/blacklist", {"reason": "掺混二甲醚"})
    assert reasons() == ["OWNER_NOT_LICENSED"]
    api.ok("regulator", "DELETE", f"/enterprises/{ent_a}/blacklist")
    assert reasons() == []


def test_a_unique_key_taken_meanwhile_is_a_conflict_and_the_rest_still_commits(
    engine: Any,
) -> None:
    # The use cases check uniqueness first; this is the race a check cannot see.
    with transaction(engine) as session:
        enterprise = registry.add_enterprise(session, "重庆测试燃气有限公司")
        assert enterprise.id is not None
        session.add(Vehicle(enterprise_id=enterprise.id, plate="渝A·00001"))
        session.flush()
        with pytest.raises(Conflict), registry.unique(session, "taken"):
            session.add(Vehicle(enterprise_id=enterprise.id, plate="渝A·00001"))
        session.add(Vehicle(enterprise_id=enterprise.id, plate="渝A·00002"))
    with transaction(engine, write=False) as session:
        plates = session.execute(select(Vehicle.plate).order_by(Vehicle.plate)).scalars().all()
    assert plates == ["渝A·00001", "渝A·00002"]
