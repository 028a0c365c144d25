"""The authorization matrix: every API endpoint, who may call it on enterprise A's records.

Each row names an endpoint, how to build its path and a valid body from fresh records of
enterprise A (so a call by one role never spoils the next), and the roles allowed. Every
other role (the public, the other enterprise's staff, roles without the duty) is refused.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import bearer, cylinder_body

ROLES = (
    "admin", "regulator", "enterprise_a", "enterprise_b", "station_a", "station_b",
    "driver_a", "inspector", None,
)  # fmt: skip
AUTHENTICATED = frozenset(r for r in ROLES if r is not None)
EVERYONE = frozenset(ROLES)
OVERSIGHT = frozenset({"admin", "regulator"})
READERS = OVERSIGHT | {"inspector"}  # oversight roles read every enterprise's records
A_STAFF = frozenset({"enterprise_a", "station_a", "driver_a"})
A_ADMINS = frozenset({"admin", "enterprise_a"})
HOOK = "https://oa.a.example/hooks/cylinders"


class Ctx:
    """Fresh records of enterprise A, made through the API as the roles that may."""

    def __init__(self, client: Any, demo: dict[str, Any]) -> None:
        self.client, self.demo = client, demo
        self.a = demo["enterprises"]["a"]
        self.station = demo["stations"]["a"]

    def post(self, who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST as a demo actor; the 2xx body."""
        resp = self.client.post(f"/api/v1{path}", json=body, headers=self.token(who))
        assert resp.status_code < 300, (path, resp.get_json())
        doc: dict[str, Any] = resp.get_json()
        return doc

    def token(self, who: str | None) -> dict[str, str]:
        """The Authorization header of a demo role (none for the public)."""
        return bearer(self.demo["tokens"][who]) if who else {}

    def code(self) -> str:
        """A fresh cylinder of A."""
        body = cylinder_body(manufactured_on="2024-03-01")
        return str(self.post("enterprise_a", "/cylinders", body)["code"])

    def customer(self) -> int:
        """A fresh customer file of A."""
        body = {"name": "老火锅", "kind": "restaurant", "address": "渝北区1号", "basement": False}
        return int(self.post("enterprise_a", "/customers", body)["id"])

    def driver(self) -> int:
        """A fresh driver of A."""
        return int(self.post("enterprise_a", "/actors", {"name": "司机", "role": "driver"})["id"])

    def vehicle(self) -> int:
        """A fresh vehicle of A."""
        plate = "渝A·" + uuid.uuid4().hex[:5].upper()
        return int(self.post("enterprise_a", "/vehicles", {"plate": plate})["id"])

    def webhook(self) -> str:
        """A's webhook, set afresh by its administrator; its path."""
        path = f"/enterprises/{self.a}/webhook"
        resp = self.client.put(
            f"/api/v1{path}", json={"url": HOOK}, headers=self.token("enterprise_a")
        )
        assert resp.status_code == 200, resp.get_json()
        return path

    def licence(self) -> int:
        """A fresh licence of A."""
        n = uuid.uuid4().hex[:8]
        body = {"kind": "gas_business", "number": f"L{n}", "valid_from": "2025-01-01",
                "valid_until": "2030-01-01"}  # fmt: skip
        return int(self.post("regulator", f"/enterprises/{self.a}/licences", body)["id"])


def key() -> str:
    """A random Ed25519-sized public key, base64."""
    return base64.b64encode(os.urandom(32)).decode()


Build = Callable[[Ctx], tuple[str, dict[str, Any] | None]]


@dataclass(frozen=True)
class Row:
    """One endpoint: method, a builder of (path, body) and the roles allowed."""

    method: str
    build: Build
    allowed: frozenset[str | None]

    def call(self, ctx: Ctx, who: str | None) -> Any:
        """Make the request as ``who``."""
        path, body = self.build(ctx)
        return ctx.client.open(
            f"/api/v1{path}", method=self.method, json=body, headers=ctx.token(who)
        )


def _event(c: Ctx) -> tuple[str, dict[str, Any]]:
    return f"/cylinders/{c.code()}/events", {"type": "held", "payload": {"reason": "抽查"}}


def _check(c: Ctx) -> tuple[str, dict[str, Any]]:
    return "/fill-checks", {"station_id": c.station, "scan": c.code()}


def _licence(c: Ctx) -> tuple[str, dict[str, Any]]:
    return (f"/enterprises/{c.a}/licences",
            {"kind": "cylinder_filling", "number": f"F{uuid.uuid4().hex[:8]}",
             "station_id": c.station, "valid_from": "2025-01-01",
             "valid_until": "2030-01-01"})  # fmt: skip


def _cust(c: Ctx) -> dict[str, Any]:
    return {"name": "川菜馆", "kind": "restaurant", "address": "江北区2号", "basement": False}


MATRIX: dict[str, Row] = {
    "POST /cylinders": Row("POST", lambda c: ("/cylinders", cylinder_body()),
                           frozenset({"enterprise_a", "enterprise_b"})),
    "GET /cylinders/{code}": Row("GET", lambda c: (f"/cylinders/{c.code()}", None), EVERYONE),
    "GET /cylinders/{code}/events": Row(
        "GET", lambda c: (f"/cylinders/{c.code()}/events", None), READERS | A_STAFF),
    "POST /cylinders/{code}/events (held)": Row("POST", _event, frozenset({"regulator"})),
    "POST /fill-checks": Row("POST", _check, frozenset({"station_a"})),
    "GET /stations/{id}/sync": Row(
        "GET", lambda c: (f"/stations/{c.station}/sync", None), frozenset({"station_a"})),
    # Labels are printed by the owner enterprise's administrator (DESIGN §8: owner / enterprise).
    "GET /cylinders/{code}/label.png": Row(
        "GET", lambda c: (f"/cylinders/{c.code()}/label.png", None), frozenset({"enterprise_a"})),
    "GET /cylinders/{code}/label.svg": Row(
        "GET", lambda c: (f"/cylinders/{c.code()}/label.svg", None), frozenset({"enterprise_a"})),
    "POST /labels/sheet": Row(
        "POST", lambda c: ("/labels/sheet", {"codes": [c.code()]}), frozenset({"enterprise_a"})),
    "GET /labels/registered": Row(
        "GET", lambda c: ("/labels/registered?manufacturer=M&serial=S", None),
        frozenset({"enterprise_a", "enterprise_b"})),  # each admin looks among its own only
    "POST /enterprises": Row(
        "POST", lambda c: ("/enterprises", {"name": f"新公司{uuid.uuid4().hex[:6]}"}), OVERSIGHT),
    "GET /enterprises": Row("GET", lambda c: ("/enterprises", None), AUTHENTICATED),
    "GET /enterprises/{id}": Row(
        "GET", lambda c: (f"/enterprises/{c.a}", None), READERS | A_STAFF),
    "POST /enterprises/{id}/blacklist": Row(
        "POST", lambda c: (f"/enterprises/{c.a}/blacklist", {"reason": "测试"}), OVERSIGHT),
    "DELETE /enterprises/{id}/blacklist": Row(
        "DELETE", lambda c: (f"/enterprises/{c.a}/blacklist", None), OVERSIGHT),
    "PUT /enterprises/{id}/webhook": Row(
        "PUT", lambda c: (f"/enterprises/{c.a}/webhook", {"url": HOOK}),
        frozenset({"enterprise_a"})),
    "GET /enterprises/{id}/webhook": Row(
        "GET", lambda c: (c.webhook(), None), OVERSIGHT | {"enterprise_a"}),
    "DELETE /enterprises/{id}/webhook": Row(
        "DELETE", lambda c: (c.webhook(), None), frozenset({"enterprise_a"})),
    "POST /enterprises/{id}/licences": Row("POST", _licence, OVERSIGHT),
    "GET /enterprises/{id}/licences": Row(
        "GET", lambda c: (f"/enterprises/{c.a}/licences", None), READERS | A_STAFF),
    "POST /licences/{id}/revoke": Row(
        "POST", lambda c: (f"/licences/{c.licence()}/revoke", {"reason": "测试"}), OVERSIGHT),
    "POST /licences/{id}/suspend": Row(
        "POST", lambda c: (f"/licences/{c.licence()}/suspend", {"reason": "测试"}), OVERSIGHT),
    "POST /licences/{id}/reinstate": Row(
        "POST", lambda c: (f"/licences/{c.licence()}/reinstate", None), OVERSIGHT),
    "POST /licences/{id}/expire": Row(
        "POST", lambda c: (f"/licences/{c.licence()}/expire", None), OVERSIGHT),
    "POST /stations": Row(
        "POST", lambda c: ("/stations", {"name": "新站", "enterprise_id": c.a}),
        A_ADMINS),
    "GET /stations": Row("GET", lambda c: ("/stations", None), AUTHENTICATED),
    "GET /stations/{id}": Row(
        "GET", lambda c: (f"/stations/{c.station}", None), READERS | A_STAFF),
    "PATCH /stations/{id}": Row(
        "PATCH", lambda c: (f"/stations/{c.station}", {"address": "渝北区3号"}),
        A_ADMINS),
    "POST /actors": Row(
        "POST", lambda c: ("/actors", {"name": "司机", "role": "driver", "enterprise_id": c.a}),
        A_ADMINS),
    "GET /actors/{id}": Row(
        "GET", lambda c: (f"/actors/{c.driver()}", None), OVERSIGHT | {"enterprise_a"}),
    "GET /actors": Row(
        "GET", lambda c: ("/actors", None), OVERSIGHT | {"enterprise_a", "enterprise_b"}),
    "GET /actors/me": Row("GET", lambda c: ("/actors/me", None), AUTHENTICATED),
    "POST /actors/me/key": Row(
        "POST", lambda c: ("/actors/me/key", {"public_key": key()}), AUTHENTICATED),
    "POST /actors/{id}/token": Row(
        "POST", lambda c: (f"/actors/{c.driver()}/token", None), A_ADMINS),
    "POST /actors/{id}/revoke": Row(
        "POST", lambda c: (f"/actors/{c.driver()}/revoke", None), A_ADMINS),
    "PUT /actors/{id}/key": Row(
        "PUT", lambda c: (f"/actors/{c.driver()}/key", {"public_key": key()}),
        A_ADMINS),
    "POST /vehicles": Row(
        "POST", lambda c: ("/vehicles", {"plate": "渝A·" + uuid.uuid4().hex[:5].upper(),
                                         "enterprise_id": c.a}),
        A_ADMINS),
    "GET /vehicles": Row("GET", lambda c: ("/vehicles", None), AUTHENTICATED),
    "GET /vehicles/{id}": Row(
        "GET", lambda c: (f"/vehicles/{c.vehicle()}", None), READERS | A_STAFF),
    "PATCH /vehicles/{id}": Row(
        "PATCH", lambda c: (f"/vehicles/{c.vehicle()}", {"permit_number": "渝交运危1"}),
        A_ADMINS),
    "POST /customers": Row(
        "POST", lambda c: ("/customers", _cust(c)),
        frozenset({"enterprise_a", "enterprise_b", "driver_a"})),
    "GET /customers": Row(
        "GET", lambda c: ("/customers", None),
        OVERSIGHT | {"enterprise_a", "enterprise_b", "driver_a"}),
    "GET /customers/{id}": Row(
        "GET", lambda c: (f"/customers/{c.customer()}", None),
        OVERSIGHT | {"enterprise_a", "driver_a"}),
    "PATCH /customers/{id}": Row(
        "PATCH", lambda c: (f"/customers/{c.customer()}", {"phone": "023-6788 1234"}),
        frozenset({"enterprise_a", "driver_a"})),
    "DELETE /customers/{id}": Row(
        "DELETE", lambda c: (f"/customers/{c.customer()}", None),
        A_ADMINS),
    # Owners' notifications: the enterprise admin reads its own, the regulators every one.
    "GET /notifications": Row(
        "GET", lambda c: (f"/notifications?enterprise_id={c.a}", None),
        OVERSIGHT | {"enterprise_a"}),
    "GET /ledger/checkpoint": Row("GET", lambda c: ("/ledger/checkpoint", None), EVERYONE),
    "GET /ledger/key": Row("GET", lambda c: ("/ledger/key", None), EVERYONE),
    "GET /ledger/registry-key": Row("GET", lambda c: ("/ledger/registry-key", None), EVERYONE),
    "GET /ledger/proofs/inclusion": Row(
        "GET", lambda c: ("/ledger/proofs/inclusion?index=0&size=1", None), EVERYONE),
    "GET /ledger/proofs/consistency": Row(
        "GET", lambda c: ("/ledger/proofs/consistency?old=1&new=1", None), EVERYONE),
    "GET /ledger/leaves/{index}": Row("GET", lambda c: ("/ledger/leaves/0", None), OVERSIGHT),
}  # fmt: skip
