"""The page-form matrix: every state-changing page POST, who may send it, what it changes.

Each row builds its form from fresh records of enterprise A (made through the API, so one
caller's attempt never spoils the next), names the callers allowed, and, for callers that
reach the form but whose request the rules refuse (a station of B checking A's cylinder),
what the refusal itself records. Everything else is refused outright: 403 for a logged-in
person without the duty, a redirect to /login (401 JSON on the phone's API) for the public.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.runtime import runtime
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer
from tests.pages.conftest import field as hidden
from tests.security.matrix import ROLES

# The tables a page form may change; a refused form leaves every row of them as it was.
TABLES = ("enterprises", "licences", "stations", "actors", "vehicles", "customers",
          "cylinders", "events", "public_reports", "people")  # fmt: skip
OVERSIGHT = frozenset({"admin", "regulator"})
META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a form may change, plus the audit verdict file."""
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        rows = {
            t: sorted(tuple(map(repr, r)) for r in s.execute(text(f"SELECT * FROM {t}")))
            for t in TABLES
        }
    audit = Path(app.instance_path) / "last_audit.json"
    rows["last_audit.json"] = [(audit.read_text(),)] if audit.exists() else []
    return rows


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The names of the tables (or files) whose rows differ."""
    return {name for name in before if before[name] != after[name]}


def csrf(client: Any, code: str) -> str:
    """A valid CSRF token for the client's session (every page carries one in a meta tag)."""
    html = client.get(f"/c/{code}").get_data(as_text=True)
    found = META_CSRF.search(html)
    assert found, "no CSRF token on the public page"
    return found.group(1)


class Ctx:
    """Fresh records of enterprise A for one form, made through the API."""

    def __init__(self, client: Any, api: Any, demo: dict[str, Any]) -> None:
        self.client, self.api, self.demo = client, api, demo
        self.a = demo["enterprises"]["a"]

    def post_api(self, who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the API as a demo actor; the 2xx body."""
        resp = self.api.post(f"/api/v1{path}", json=body, headers=bearer(self.demo["tokens"][who]))
        assert resp.status_code < 300, (path, resp.get_json())
        doc: dict[str, Any] = resp.get_json()
        return doc

    def code(self, who: str = "enterprise_a") -> str:
        """A fresh cylinder (of A unless ``who`` is B's admin)."""
        return flows.register(self.api, self.demo, who)

    def checked(self) -> str:
        """A fresh cylinder of A with an allowing fill check at station A."""
        code = self.code()
        resp = flows.check(self.api, self.demo, code, "a")
        assert resp.status_code == 200 and resp.get_json()["allowed"], resp.get_json()
        return code

    def filled(self, enterprise: str = "a") -> str:
        """A fresh cylinder of A (or B), filled at its own station: ready to dispatch."""
        code = self.code(f"enterprise_{enterprise}")
        resp = flows.fill(self.api, self.demo, code, station=enterprise)
        assert resp.status_code == 201, resp.get_json()
        return code

    def licence(self) -> int:
        """A fresh valid licence of A."""
        body = {"kind": "gas_business", "number": f"L{uuid.uuid4().hex[:8]}",
                "valid_from": "2025-01-01", "valid_until": "2030-01-01"}  # fmt: skip
        return int(self.post_api("regulator", f"/enterprises/{self.a}/licences", body)["id"])

    def report(self) -> int:
        """A fresh open public report on a cylinder of A (filed by the public)."""
        from ledger import public_reports

        code = self.code()
        with self.api.application.app_context(), transaction(runtime().engine) as s:
            token = uuid.uuid4().hex
            filed = public_reports.file_report(
                s, code, "leak", "", token, uuid.uuid4().hex, runtime().now()
            )
            return int(filed.report.id or 0)

    def once(self, page: str) -> str:
        """The one-time form token of a page (for callers who may open it), else a dummy."""
        resp = self.client.get(page)
        if resp.status_code != 200:
            return uuid.uuid4().hex
        return hidden(resp.get_data(as_text=True), "once")


Form = tuple[str, dict[str, Any]]  # path and form fields (or JSON body for the phone's API)


@dataclass(frozen=True)
class Row:
    """One page form: how to build it, who may send it, what a success changes.

    ``blocked``: callers who reach the form but whose request the rules refuse; the page
    answers with the refusal and changes only ``blocked_changes`` (a recorded block).
    """

    build: Callable[[Ctx], Form]
    allowed: frozenset[str | None]
    changes: frozenset[str]
    json: bool = False
    blocked: frozenset[str | None] = frozenset()
    blocked_changes: frozenset[str] = frozenset()
    statuses: tuple[int, ...] = (200, 302)
    extra: dict[str, Any] = field(default_factory=dict)


def _fill(c: Ctx) -> Form:
    return "/station/fill", {"code": c.checked(), "gross_kg": "31.8", "tare_kg": "16.8",
                             "token": uuid.uuid4().hex}  # fmt: skip


def _licence_form(c: Ctx) -> Form:
    return f"/regulator/enterprises/{c.a}/licences", {
        "once": c.once("/regulator/enterprises"), "kind": "gas_business",
        "number": f"P{uuid.uuid4().hex[:8]}", "valid_from": "2025-01-01",
        "valid_until": "2030-01-01",
    }  # fmt: skip


def _dispatch(c: Ctx, owner: str = "a") -> Form:
    return "/driver/api/events", {"type": "dispatched", "code": c.filled(owner),
                                  "payload": {"vehicle": c.demo["vehicles"]["a"]}}  # fmt: skip


STATION = frozenset({"station_a", "station_b"})
DRIVER = frozenset({"driver_a"})
PUBLIC_FORM = frozenset(ROLES)

PAGE_MATRIX: dict[str, Row] = {
    "POST /station/check": Row(
        lambda c: ("/station/check", {"scan": c.code(), "token": uuid.uuid4().hex}),
        frozenset({"station_a"}), frozenset(),
        blocked=frozenset({"station_b"}), blocked_changes=frozenset({"events", "cylinders"})),
    "POST /station/fill": Row(_fill, frozenset({"station_a"}), frozenset({"events", "cylinders"})),
    "POST /driver/customers": Row(
        lambda c: ("/driver/customers", {"once": c.once("/driver/"), "name": "面馆",
                                         "kind": "restaurant", "address": "南岸区1号"}),
        DRIVER, frozenset({"customers"})),
    "POST /driver/api/events (dispatch A's cylinder)": Row(
        _dispatch, DRIVER, frozenset({"events", "cylinders"}), json=True, statuses=(201,)),
    "POST /driver/api/events (dispatch B's cylinder)": Row(
        lambda c: _dispatch(c, "b"), frozenset(), frozenset(), json=True),
    "POST /regulator/audit": Row(lambda c: ("/regulator/audit", {}), OVERSIGHT,
                                 frozenset({"last_audit.json"})),
    "POST /regulator/enterprises": Row(
        lambda c: ("/regulator/enterprises", {"once": c.once("/regulator/enterprises"),
                                              "name": f"新公司{uuid.uuid4().hex[:6]}"}),
        OVERSIGHT, frozenset({"enterprises"})),
    "POST /regulator/enterprises/{id}/licences": Row(_licence_form, OVERSIGHT,
                                                     frozenset({"licences"})),
    "POST /regulator/licences/{id}": Row(
        lambda c: (f"/regulator/licences/{c.licence()}", {"action": "suspend"}), OVERSIGHT,
        frozenset({"licences"})),
    "POST /regulator/enterprises/{id}/blacklist": Row(
        lambda c: (f"/regulator/enterprises/{c.a}/blacklist", {"action": "add",
                                                               "reason": "抽查不合格"}),
        OVERSIGHT, frozenset({"enterprises"})),
    "POST /regulator/reports/{id}": Row(
        lambda c: (f"/regulator/reports/{c.report()}", {"action": "dismiss", "note": "已核实"}),
        OVERSIGHT, frozenset({"public_reports"})),
    "POST /c/{code}/report": Row(
        lambda c: (f"/c/{c.code()}/report", {"kind": "leak", "token": uuid.uuid4().hex}),
        PUBLIC_FORM, frozenset({"public_reports"})),
}  # fmt: skip
