"""Registry management: enterprises, licences, the blacklist and stations.

Each view calls one use case of ``ledger.registry_admin``, which decides who may do what;
staff, vehicles and customers are in ``app.api.registry_staff``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app

from app.api import api
from app.api.registry_schemas import (
    BlacklistIn,
    EnterpriseFileOut,
    EnterpriseIn,
    EnterpriseListOut,
    EnterpriseOut,
    LicenceIn,
    LicenceListOut,
    LicenceOut,
    PageQuery,
    RevokeIn,
    ScopeQuery,
    StationIn,
    StationListOut,
    StationOut,
    StationPatch,
)
from app.auth import auth, current_actor
from app.idempotency import transaction
from app.runtime import runtime
from ledger import registry_admin as admin
from ledger.model import Licence
from ledger.registry import licence_valid
from ledger.registry_paging import Page, page

R = TypeVar("R")
WRITE_ERRORS = [401, 403, 404, 409, 422]
READ_ERRORS = [401, 403, 404]
LIST_ERRORS = [401, 403, 422]


def call(use_case: Callable[..., R], *args: Any, write: bool = True, **kwargs: Any) -> R:
    """Run one use case for the authenticated actor in one transaction."""
    actor = current_actor()
    assert actor is not None  # every registry view requires a token
    with transaction(runtime().engine, write=write) as session:
        return use_case(session, actor, *args, **kwargs)


def listing(list_use_case: Callable[..., list[Any]], query: dict[str, Any]) -> Page[Any]:
    """One page of a registry list, as the query asks (``after_id``, ``limit``, filters)."""
    return call(page, list_use_case, write=False, **query)


def today() -> dt.date:
    """The jurisdiction's date (LEDGER_TIMEZONE)."""
    return runtime().today()


def licence_doc(row: tuple[Licence, bool]) -> dict[str, Any]:
    """A licence with whether it is valid today."""
    licence, valid = row
    return {**licence.model_dump(), "valid_today": valid}


# --- enterprises and the blacklist -------------------------------------------------------


@api.post("/enterprises")
@api.auth_required(auth)
@api.input(EnterpriseIn, arg_name="body")
@api.output(EnterpriseOut, status_code=201)
@api.doc(summary="Register an enterprise (regulator, admin)", responses=WRITE_ERRORS)
def create_enterprise(body: dict[str, Any]) -> Any:
    return call(admin.create_enterprise, body)


@api.get("/enterprises")
@api.auth_required(auth)
@api.input(PageQuery, location="query", arg_name="query")
@api.output(EnterpriseListOut)
@api.doc(
    summary="Enterprises by id, a page at a time: all for oversight roles, "
    "one's own for enterprise staff",
    responses=LIST_ERRORS,
)
def list_enterprises(query: dict[str, Any]) -> Any:
    found = listing(admin.list_enterprises, query)
    return {"enterprises": found.rows, "next_after_id": found.next_after_id}


@api.post("/enterprises/<int:enterprise_id>/blacklist")
@api.auth_required(auth)
@api.input(BlacklistIn, arg_name="body")
@api.output(EnterpriseOut)
@api.doc(summary="Blacklist an enterprise (regulator, admin)", responses=WRITE_ERRORS)
def blacklist(enterprise_id: int, body: dict[str, Any]) -> Any:
    return call(admin.blacklist, enterprise_id, body["reason"])


@api.delete("/enterprises/<int:enterprise_id>/blacklist")
@api.auth_required(auth)
@api.output({}, status_code=204)
@api.doc(summary="Take an enterprise off the blacklist (regulator, admin)", responses=WRITE_ERRORS)
def unblacklist(enterprise_id: int) -> Any:
    call(admin.blacklist, enterprise_id, None)
    return ""


# --- licences ---------------------------------------------------------------------------


@api.post("/enterprises/<int:enterprise_id>/licences")
@api.auth_required(auth)
@api.input(LicenceIn, arg_name="body")
@api.output(LicenceOut, status_code=201)
@api.doc(summary="Record a licence (regulator, admin)", responses=WRITE_ERRORS)
def issue_licence(enterprise_id: int, body: dict[str, Any]) -> Any:
    licence = call(admin.issue_licence, enterprise_id, body)
    return licence_doc((licence, licence_valid(licence, today())))


@api.get("/enterprises/<int:enterprise_id>/licences")
@api.auth_required(auth)
@api.output(LicenceListOut)
@api.doc(summary="An enterprise's licences", responses=READ_ERRORS)
def list_licences(enterprise_id: int) -> Any:
    rows = call(admin.list_licences, enterprise_id, today(), write=False)
    return {"licences": [licence_doc(r) for r in rows]}


def _change(licence_id: int, action: str) -> dict[str, Any]:
    return licence_doc(call(admin.change_licence, licence_id, action, today()))


@api.post("/licences/<int:licence_id>/revoke")
@api.auth_required(auth)
@api.input(RevokeIn, arg_name="body")
@api.output(LicenceOut)
@api.doc(summary="Revoke a licence for good (regulator, admin)", responses=WRITE_ERRORS)
def revoke_licence(licence_id: int, body: dict[str, Any]) -> Any:
    doc = _change(licence_id, "revoke")
    # No column holds the reason yet: it goes to the log with who revoked what.
    actor = current_actor()
    current_app.logger.info(
        "licence %s revoked by actor %s: %s", licence_id, actor and actor.id, body["reason"]
    )
    return doc


@api.post("/licences/<int:licence_id>/suspend")
@api.auth_required(auth)
@api.output(LicenceOut)
@api.doc(summary="Suspend a licence (regulator, admin)", responses=WRITE_ERRORS)
def suspend_licence(licence_id: int) -> Any:
    return _change(licence_id, "suspend")


@api.post("/licences/<int:licence_id>/reinstate")
@api.auth_required(auth)
@api.output(LicenceOut)
@api.doc(summary="Reinstate a suspended licence (regulator, admin)", responses=WRITE_ERRORS)
def reinstate_licence(licence_id: int) -> Any:
    return _change(licence_id, "reinstate")


@api.post("/licences/<int:licence_id>/expire")
@api.auth_required(auth)
@api.output(LicenceOut)
@api.doc(summary="End a licence: valid until yesterday (regulator, admin)", responses=WRITE_ERRORS)
def expire_licence(licence_id: int) -> Any:
    return _change(licence_id, "expire")


@api.get("/enterprises/<int:enterprise_id>")
@api.auth_required(auth)
@api.output(EnterpriseFileOut)
@api.doc(summary="An enterprise with its licences, each valid today or not", responses=READ_ERRORS)
def read_enterprise(enterprise_id: int) -> Any:
    found = call(admin.enterprise_file, enterprise_id, today(), write=False)
    return {**found.enterprise.model_dump(), "licences": [licence_doc(r) for r in found.licences]}


# --- stations ---------------------------------------------------------------------------


@api.post("/stations")
@api.auth_required(auth)
@api.input(StationIn, arg_name="body")
@api.output(StationOut, status_code=201)
@api.doc(
    summary="Add a filling station (enterprise admin; admin names the enterprise)",
    responses=WRITE_ERRORS,
)
def create_station(body: dict[str, Any]) -> Any:
    return call(admin.create_station, body)


@api.get("/stations")
@api.auth_required(auth)
@api.input(ScopeQuery, location="query", arg_name="query")
@api.output(StationListOut)
@api.doc(summary="Stations the caller may see, by id, a page at a time", responses=LIST_ERRORS)
def list_stations(query: dict[str, Any]) -> Any:
    found = listing(admin.list_stations, query)
    return {"stations": found.rows, "next_after_id": found.next_after_id}


@api.get("/stations/<int:station_id>")
@api.auth_required(auth)
@api.output(StationOut)
@api.doc(summary="A station", responses=READ_ERRORS)
def read_station(station_id: int) -> Any:
    return call(admin.find_station, station_id, write=False)


@api.patch("/stations/<int:station_id>")
@api.auth_required(auth)
@api.input(StationPatch, arg_name="body")
@api.output(StationOut)
@api.doc(summary="Correct a station (enterprise admin, admin)", responses=WRITE_ERRORS)
def update_station(station_id: int, body: dict[str, Any]) -> Any:
    return call(admin.update_station, station_id, body)
